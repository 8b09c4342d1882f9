// Package records is the storage contract: the documents the pipeline writes
// and its tools (report, replay, the local runner, downstream systems) read.
//
//   - Sidecar: interaction.json, next to an interaction's recordings in the
//     recordings container, written last so that its presence means the
//     interaction is complete.
//   - FailureRecord (FailureName): in the state container while an
//     interaction's last delivery failed; ingest deletes it on success.
//   - A skip record (SkippedName): an interaction skipped for a reason.
//   - Run (RunName): the record of one discovery, backfill or local window.
//   - Audit (AuditName, AuditPageName): the daily audit's result and page.
//   - Result and InvocationFailure: the ReturnValue of an ingest invocation,
//     which the Functions host logs and the local host stand-in tallies.
//
// Where changes go: a new sidecar field, a new kind of record or a new field
// of one goes here (and is written by its step under functions/); a new VCC
// field goes to shared/vcc. The blob names of the recordings container
// (store.RecordingName, store.SidecarName) stay in shared/store: both
// backends validate every name against that layout and the fuzz targets that
// pin it live there; this package names only the state container's records.
//
// Nothing here imports a step: the steps under functions/ and the tools under
// shared/ both depend on this package, never on each other.
package records

import (
	"encoding/json"
	"fmt"
	"time"
)

// Sidecar is interaction.json, written last.
type Sidecar struct {
	InteractionID   string          `json:"interactionId"`
	Start           time.Time       `json:"start"`
	DurationMs      int64           `json:"durationMs,omitempty"`
	Medium          string          `json:"medium,omitempty"`
	Direction       string          `json:"direction"`
	DirectionSource string          `json:"directionSource"`
	ConnectFrom     string          `json:"connectFrom,omitempty"`
	ConnectTo       string          `json:"connectTo,omitempty"`
	Agents          []SidecarAgent  `json:"agents"`
	Recordings      []SidecarRecord `json:"recordings"`
	IngestedAt      time.Time       `json:"ingestedAt"`
	// StoredVia is the path that stored the interaction: "event" (a VCC
	// webhook) or "discover" (the timer; "backfill" and "replay" for those
	// tools). A later pass that finds it complete does not rewrite it.
	StoredVia string `json:"storedVia,omitempty"`
	// Tenant is the tenant (VCC account) the interaction belongs to, in a
	// deployment with a tenants document.
	Tenant string `json:"tenant,omitempty"`
}

// SidecarAgent is one handling agent.
type SidecarAgent struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	AgentCode string `json:"agentCode"`
	Resolved  bool   `json:"resolved"`
}

// SidecarRecord is one stored recording.
type SidecarRecord struct {
	ContentKey  string `json:"contentKey"`
	Type        string `json:"type"`
	ContentType string `json:"contentType"`
	Bytes       int64  `json:"bytes"`
	SHA256      string `json:"sha256"`
	Blob        string `json:"blob"`
}

// FailureRecord is kept in state under FailureName while an interaction's
// last delivery failed; ingest deletes it on success.
type FailureRecord struct {
	InteractionID string    `json:"interactionId"`
	MessageID     string    `json:"messageId"`
	Permanent     bool      `json:"permanent"`
	Reason        string    `json:"reason"`
	DeliveryCount int       `json:"deliveryCount"`
	At            time.Time `json:"at"`
}

// FailureName is where an interaction's failure record lives.
func FailureName(guid string) string { return "failures/" + guid + ".json" }

// SkippedName is where an interaction skipped for a reason is recorded.
func SkippedName(start time.Time, guid string) string {
	return "skipped/" + start.UTC().Format("2006/01/02") + "/" + guid + ".json"
}

// Run is the record of one discovery run, written to state and logged.
type Run struct {
	Source       string    `json:"source"`
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	PastDue      bool      `json:"pastDue,omitempty"`
	Chunks       int       `json:"chunks"`
	Found        int       `json:"interactionsFound"`
	Enqueued     int       `json:"messagesSent"`
	NoAudio      int       `json:"skippedNoAudio"`
	Sends        int       `json:"sends"`
	WithStats    int       `json:"withStatsDirection"`
	StartedAt    time.Time `json:"startedAt"`
	FinishedAt   time.Time `json:"finishedAt"`
	CheckpointAt time.Time `json:"checkpoint,omitzero"`
	StatsErrors  []string  `json:"statsErrors,omitempty"`
	// VCCCalls are the requests the run sent to VCC (its listings, retries
	// included): the report's calls per recording on each path.
	VCCCalls int64  `json:"vccCalls,omitempty"`
	Error    string `json:"error,omitempty"`
	// Tenant is the tenant a run was for; Tenants, in a discover tick of
	// several tenants, is each one's run (the figures above are their sums).
	Tenant  string `json:"tenant,omitempty"`
	Tenants []Run  `json:"tenants,omitempty"`
}

// RunName is where a run record lives: runs/<source>/<yyyy/mm/dd/hhmmss.ns>.json.
func RunName(source string, startedAt time.Time) string {
	return fmt.Sprintf("runs/%s/%s.json", source, startedAt.Format("2006/01/02/150405.000000000"))
}

// Outcome names what happened to an interaction.
type Outcome string

const (
	Stored   Outcome = "stored"   // recordings copied now
	Complete Outcome = "complete" // already complete: nothing downloaded
	Skipped  Outcome = "skipped"  // nothing to copy, with a reason
	// Deferred: VCC was unavailable, and a scheduled copy of the message
	// was accepted by the queue to try again later.
	Deferred Outcome = "deferred"
	// Paced: the tenant's VCC request budget was taken further ahead than
	// ingest waits (another of its deliveries, a backfill), and a scheduled
	// copy of the message was accepted to try when it has room.
	Paced Outcome = "paced"
	// Waiting: a webhook event's interaction has no content in VCC yet,
	// and a scheduled copy of the message will look again.
	Waiting Outcome = "waiting"
	// Swept: not an interaction's delivery but a sweep of the event path
	// (shared/pipeline/sweep), which enqueued what it listed.
	Swept Outcome = "swept"
)

// Result describes a successful delivery: the ReturnValue of an ingest
// invocation.
type Result struct {
	InteractionID string  `json:"interactionId"`
	Outcome       Outcome `json:"outcome"`
	Reason        string  `json:"reason,omitempty"`
	Recordings    int     `json:"recordings"`
	Copied        int     `json:"copied"`
	Bytes         int64   `json:"bytes"`
	Direction     string  `json:"direction,omitempty"`
	Tenant        string  `json:"tenant,omitempty"`
}

// InvocationFailure is the ReturnValue of a failed invocation (the host logs
// it; the local host reads it for its summary).
type InvocationFailure struct {
	Error     string `json:"error"`
	Permanent bool   `json:"permanent"`
}

// Audit is the result of one audit run (AuditName, with its coverage page at
// AuditPageName): the reconciliation of the previous days as "handler
// report" makes it and the doctor's permission checks, with the figures the
// run's structured event carries (and the alerts query). Report and Doctor
// are the two tools' own JSON documents.
type Audit struct {
	From             time.Time `json:"from"`
	To               time.Time `json:"to"`
	GeneratedAt      time.Time `json:"generatedAt"`
	Gaps             int       `json:"gaps"`
	LineGaps         int       `json:"lineGaps"`
	Missing          int       `json:"missing"`
	DeadLetters      int       `json:"deadLetters"`
	HiddenDirections []string  `json:"hiddenDirections"`
	HiddenLines      []string  `json:"hiddenLines"`
	HiddenAgents     []string  `json:"hiddenAgents"`
	PermissionIssue  bool      `json:"probablePermissionProblem"`
	Problems         []string  `json:"problems"`  // doctor checks with status problem: "name: detail"
	Unchecked        []string  `json:"unchecked"` // doctor checks that could not be made
	// LatencyP50 and LatencyP95, by path (event, discover): seconds from
	// the content available in VCC to the sidecar stored, over the days
	// audited (each day's are in Report).
	LatencyP50 map[string]float64 `json:"latencyP50Seconds,omitempty"`
	LatencyP95 map[string]float64 `json:"latencyP95Seconds,omitempty"`
	// CallsPerRecording, by path: the VCC calls each path's recordings
	// cost (its runs' listings plus one download each), over the days.
	CallsPerRecording map[string]float64 `json:"callsPerRecording,omitempty"`
	Report            json.RawMessage    `json:"report"`
	Doctor            json.RawMessage    `json:"doctor"`
	// Tenant is the tenant audited, with a tenants document (the audit is
	// then stored in its state, under tenants/<id>/). Tenants, in the
	// return value of an audit over every tenant, are each tenant's audit
	// (without the two documents), the figures above their sums; Error
	// names the failing tenants and why.
	Tenant  string  `json:"tenant,omitempty"`
	Tenants []Audit `json:"tenants,omitempty"`
	Error   string  `json:"error,omitempty"`
}

// AuditEvent is the message of the structured log event each audit run
// writes (one per run); the alert rule queries it.
const AuditEvent = "vcc-ingest audit"

// AuditName is where the audit of the days ending at to is stored, and
// AuditPageName its coverage page (the report's HTML).
func AuditName(to time.Time) string {
	return "audits/" + to.UTC().Format("2006/01/02") + "/audit.json"
}

// AuditPageName is the coverage page next to AuditName(to).
func AuditPageName(to time.Time) string {
	return "audits/" + to.UTC().Format("2006/01/02") + "/coverage.html"
}
