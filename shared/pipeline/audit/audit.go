// Package audit is the timer-triggered audit step: each run reconciles the
// previous whole UTC days as "handler report" does (Stats against the
// content listing against what was stored, skipped, failing and
// dead-lettered, per direction and per line) and runs the doctor's
// permission checks (directions, agents, lines, the owner's line
// permissions and groups) with the product's own token and its three scopes.
// It stores the result (records.Audit as JSON, and the coverage page) in the
// state container and logs one structured event with the figures, which the
// alert rules query: nobody has to run a command for a permission switched
// off to be noticed.
package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/doctor"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/report"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
)

// VCC is what the audit needs of the product's client.
type VCC interface {
	doctor.VCC
	doctor.OwnerReader
}

// Options tune the audit.
type Options struct {
	Days        int                 // previous whole UTC days (default 2)
	OwnerUserID string              // VCC_OWNER_USER_ID; "" leaves the owner unchecked
	IsAudio     func(t string) bool // configured audio types
	// Logger receives the audit event.
	Logger *slog.Logger
	// Tenant, with a tenants document, is the tenant audited: its result
	// says so, and only the dead letters naming it are counted (one queue
	// serves every tenant). v, sink and state are then that tenant's.
	Tenant string
}

// Auditor runs audits.
type Auditor struct {
	vcc   VCC
	sink  report.Names
	state store.State
	dead  report.Peeker // nil: dead letters not counted
	opts  Options
}

// New returns an Auditor; dead may be nil.
func New(v VCC, sink report.Names, state store.State, dead report.Peeker, opts Options) *Auditor {
	if opts.Days <= 0 {
		opts.Days = 2
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Auditor{vcc: v, sink: sink, state: state, dead: dead, opts: opts}
}

// Run audits the days before now's UTC day, stores the result and logs the
// event. An error means the audit could not be made (VCC or storage
// unavailable): the invocation fails, which is what the failure alert
// watches. Gaps and permission problems are results, not errors.
func (a *Auditor) Run(ctx context.Context, now time.Time) (records.Audit, error) {
	to := now.UTC().Truncate(24 * time.Hour)
	from := to.AddDate(0, 0, -a.opts.Days)
	res := records.Audit{From: from, To: to, GeneratedAt: now.UTC(), Tenant: a.opts.Tenant,
		HiddenDirections: []string{}, HiddenLines: []string{}, HiddenAgents: []string{}, Problems: []string{}, Unchecked: []string{}}
	rep, err := report.Build(ctx, report.Sources{VCC: a.vcc, Sink: a.sink, State: a.state, Runs: a.state, Queue: a.dead, IsAudio: a.opts.IsAudio, Tenant: a.opts.Tenant}, from, to)
	if err != nil {
		return res, fmt.Errorf("audit: reconciliation: %w", err)
	}
	doc := doctor.RunPermissions(ctx, a.vcc, doctor.Options{From: from, To: to, OwnerUserID: a.opts.OwnerUserID})
	res.Gaps, res.LineGaps, res.Missing, res.DeadLetters = rep.Gaps, rep.LineGaps, rep.Total.Missing, rep.Total.DeadLettered
	dirs, lines, agents := doc.Hidden()
	res.HiddenDirections = append(res.HiddenDirections, dirs...)
	res.HiddenLines = append(res.HiddenLines, lines...)
	res.HiddenAgents = append(res.HiddenAgents, agents...)
	for _, c := range doc.Checks {
		switch c.Status {
		case doctor.Problem:
			res.Problems = append(res.Problems, c.Name+": "+c.Detail)
			if strings.HasPrefix(c.Name, "permission ") {
				res.PermissionIssue = true
			}
		case doctor.Unchecked:
			res.Unchecked = append(res.Unchecked, c.Name+": "+c.Detail)
		}
	}
	for _, x := range rep.Latency {
		if x.Day != "all" {
			continue
		}
		if res.LatencyP50 == nil {
			res.LatencyP50, res.LatencyP95, res.CallsPerRecording = map[string]float64{}, map[string]float64{}, map[string]float64{}
		}
		res.LatencyP50[x.Path], res.LatencyP95[x.Path] = x.P50, x.P95
		res.CallsPerRecording[x.Path] = x.CallsPerRecording
	}
	if res.Report, err = json.Marshal(rep); err != nil {
		return res, err
	}
	if res.Doctor, err = json.Marshal(doc); err != nil {
		return res, err
	}
	body, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return res, err
	}
	var page bytes.Buffer
	if err := report.WriteHTML(&page, rep); err != nil {
		return res, err
	}
	if err := a.state.Put(ctx, records.AuditPageName(to), page.Bytes()); err != nil {
		return res, fmt.Errorf("audit: store the page: %w", err)
	}
	if err := a.state.Put(ctx, records.AuditName(to), body); err != nil {
		return res, fmt.Errorf("audit: store the result: %w", err)
	}
	level := slog.LevelInfo
	if res.Gaps > 0 || res.PermissionIssue {
		level = slog.LevelWarn
	}
	a.opts.Logger.Log(ctx, level, records.AuditEvent,
		"event", "audit",
		"tenant", a.opts.Tenant, // the alert rule fires per tenant ("" without a tenants document)
		"from", from.Format(time.DateOnly), "to", to.Format(time.DateOnly),
		"gaps", res.Gaps, "lineGaps", res.LineGaps, "missing", res.Missing, "deadLetters", res.DeadLetters,
		"hiddenDirections", len(res.HiddenDirections), "hiddenLines", len(res.HiddenLines), "hiddenAgents", len(res.HiddenAgents),
		"permissionProblem", res.PermissionIssue, "unchecked", len(res.Unchecked),
		"eventP50Seconds", res.LatencyP50["event"], "eventP95Seconds", res.LatencyP95["event"],
		"discoverP50Seconds", res.LatencyP50["discover"], "discoverP95Seconds", res.LatencyP95["discover"],
		"eventCallsPerRecording", res.CallsPerRecording["event"], "discoverCallsPerRecording", res.CallsPerRecording["discover"],
		"result", records.AuditName(to))
	return res, nil
}
