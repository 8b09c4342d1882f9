// Package ingest is the fan-out step: for one queued interaction it resolves
// the handling agents and the call direction, streams each audio recording
// from VCC into the recordings store, and writes the interaction.json sidecar
// last, so that its presence means the interaction is complete.
//
// Every outcome is explicit: stored (or already complete), skipped with a
// reason, a transient failure (the caller fails the invocation so the queue
// redelivers), or a permanent failure (recorded where replay and reports find
// it; later deliveries of the same message fail at once without calling VCC,
// until the queue dead-letters it).
//
// Where changes go: how an interaction is copied, here; the documents it
// writes (the sidecar, failure and skip records), shared/records; what VCC
// returns, shared/vcc; blob names, shared/store.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/message"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// VCC is what ingest needs of the VCC client.
type VCC interface {
	GetInteraction(ctx context.Context, guid string) (vcc.Interaction, error)
	GetStats(ctx context.Context, guid string) (vcc.Stats, error)
	Download(ctx context.Context, guid, contentKey string) (*vcc.Download, error)
	ResolveAgent(ctx context.Context, id string) (vcc.Agent, error)
}

// Options tune ingest.
type Options struct {
	IsAudio func(contentType string) bool
	Logger  *slog.Logger
	Now     func() time.Time

	// Requeue, when set, lets ingest defer a delivery while VCC is
	// unavailable (its circuit breaker open) instead of failing it: the
	// queue redelivers a failed message at once, so an outage would spend
	// its deliveries in minutes. Without it such a delivery fails
	// (transient) and is retried.
	Requeue queue.Sender
	// DeferralHorizon is how long work may be put off before it is a
	// permanent failure (default 24h, DefaultDeferralHorizon).
	DeferralHorizon time.Duration
	// DeferBase and DeferMax shape the back-off between deferrals: base
	// doubled each time, at most max (defaults 15 s and 1 minute).
	DeferBase, DeferMax time.Duration

	// PollHorizon is how long after a webhook event ingest keeps polling
	// VCC for the interaction's content (default 2h, DefaultPollHorizon);
	// PollBase and PollMax shape the back-off between polls (defaults 30 s
	// and 8 minutes). Each poll is a scheduled copy of the message, as a
	// deferral is: no delivery count is spent waiting.
	PollHorizon, PollBase, PollMax time.Duration

	// PaceLimit, when set (with Requeue), is how long a delivery may wait
	// for its tenant's request budget: when the budget is taken further
	// ahead than that (a backfill of that tenant, a 429's pause), the work
	// is put off with a scheduled copy of the message instead of holding an
	// invocation slot that another tenant's fresh recordings need. Zero:
	// the delivery waits for the budget, as a single tenant's does.
	PaceLimit time.Duration

	// Tenant is the tenant this Ingester serves (its VCC client, sink and
	// state are that tenant's); empty: the single tenant. A message naming
	// another tenant is refused, a permanent failure: it can never be
	// written with this tenant's adapters.
	Tenant string
}

// Ingester handles deliveries.
type Ingester struct {
	vcc   VCC
	sink  store.Sink
	state store.State
	opts  Options
	step  step // copyInteraction wrapped by the rules
}

// New returns an Ingester writing recordings to sink and its own records to state.
func New(v VCC, sink store.Sink, state store.State, opts Options) *Ingester {
	if opts.IsAudio == nil {
		opts.IsAudio = func(string) bool { return true }
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DeferralHorizon <= 0 {
		opts.DeferralHorizon = DefaultDeferralHorizon
	}
	if opts.DeferBase <= 0 {
		opts.DeferBase = defaultDeferBase
	}
	if opts.DeferMax <= 0 {
		opts.DeferMax = defaultDeferMax
	}
	if opts.PollHorizon <= 0 {
		opts.PollHorizon = DefaultPollHorizon
	}
	if opts.PollBase <= 0 {
		opts.PollBase = defaultPollBase
	}
	if opts.PollMax <= 0 {
		opts.PollMax = defaultPollMax
	}
	i := &Ingester{vcc: v, sink: sink, state: state, opts: opts}
	i.step = wrap(i.copyInteraction,
		i.refuseOtherTenant,
		i.failKnownPermanent,
		i.deferWhileUnavailable,
		i.paceWhileBudgetTaken,
		i.pollUntilContent,
		i.recordOutcome,
	)
	return i
}

// Delivery is one message as the trigger hands it over.
type Delivery struct {
	MessageID     string
	DeliveryCount int
	Body          []byte
	Properties    map[string]string // application properties
}

// Failure is a delivery that did not succeed.
type Failure struct {
	InteractionID string
	Permanent     bool
	Reason        string
	Err           error
}

func (f *Failure) Error() string {
	kind := "transient"
	if f.Permanent {
		kind = "permanent"
	}
	if f.InteractionID != "" {
		return fmt.Sprintf("ingest %s: %s failure: %s", f.InteractionID, kind, f.Reason)
	}
	return fmt.Sprintf("ingest: %s failure: %s", kind, f.Reason)
}

func (f *Failure) Unwrap() error { return f.Err }

// Handle processes one delivery: the message decoded, then the copy
// (enrich, copy, record) wrapped by the rules of rules.go, each with one
// job: refuse another tenant's message, fail a known permanent failure at
// once, put the work off while VCC is unavailable or its budget is taken,
// poll for content not there yet, and record the outcome.
func (i *Ingester) Handle(ctx context.Context, d Delivery) (records.Result, error) {
	body, err := message.Decode(d.Body)
	if err != nil {
		return records.Result{}, &Failure{Permanent: true, Reason: err.Error(), Err: err}
	}
	w := work{d: d, body: body,
		log: i.opts.Logger.With("interactionId", body.InteractionID, "messageId", d.MessageID, "deliveryCount", d.DeliveryCount)}
	return i.step(ctx, w)
}

// copyInteraction is the step itself: the interaction's agents and
// direction, each audio recording streamed into the sink, the sidecar last.
func (i *Ingester) copyInteraction(ctx context.Context, w work) (records.Result, error) {
	return i.handle(ctx, w.body, w.log)
}

func (i *Ingester) handle(ctx context.Context, body message.Body, log *slog.Logger) (records.Result, error) {
	guid := body.InteractionID
	res := records.Result{InteractionID: guid}

	in, err := i.interaction(ctx, body)
	if err != nil {
		if body.Source == message.SourceEvent && errors.Is(err, vcc.ErrNotFound) {
			return res, errNotYet // VCC has not processed the call yet
		}
		return res, err
	}
	var audio []vcc.ContentItem
	for _, c := range in.Content {
		if i.opts.IsAudio(c.Type) && vcc.AudioMedia(c.ContentType) { // a callRecording can be a video
			audio = append(audio, c)
		}
	}
	sidecarName := store.SidecarName(in.Start, guid)
	if data, found, err := i.sink.GetSidecar(ctx, sidecarName); err != nil {
		return res, classify(guid, fmt.Errorf("check sidecar: %w", err))
	} else if found && covers(data, audio) {
		res.Outcome = records.Complete
		return res, nil
	}
	// No sidecar, or one written before a recording appeared: copy what is
	// missing (stored recordings are found, not downloaded) and rewrite it.
	if len(audio) == 0 && body.Source == message.SourceEvent {
		return res, errNotYet // listed, its recording not there yet
	}
	if len(audio) == 0 {
		res.Outcome, res.Reason = records.Skipped, "no audio content"
		i.recordSkip(ctx, in, res.Reason, log)
		return res, nil
	}

	direction, source, err := i.direction(ctx, body, in)
	if err != nil {
		return res, err
	}
	res.Direction = string(direction)
	agents, err := i.agents(ctx, in)
	if err != nil {
		return res, err
	}

	sidecar := records.Sidecar{
		InteractionID:   guid,
		Start:           in.Start.UTC(),
		DurationMs:      body.Duration,
		Medium:          body.Medium,
		Direction:       string(direction),
		DirectionSource: source,
		ConnectFrom:     in.ConnectFrom,
		ConnectTo:       in.ConnectTo,
		Agents:          agents,
		StoredVia:       storedVia(body.Source),
		Tenant:          i.opts.Tenant,
	}
	for _, item := range audio {
		rec, copied, err := i.copy(ctx, in, item, direction, agents)
		if err != nil {
			return res, err
		}
		sidecar.Recordings = append(sidecar.Recordings, rec)
		res.Recordings++
		if copied {
			res.Copied++
			res.Bytes += rec.Bytes
		}
	}
	sidecar.IngestedAt = i.opts.Now().UTC()
	data, err := json.MarshalIndent(sidecar, "", "  ")
	if err != nil {
		return res, err
	}
	if err := i.sink.PutSidecar(ctx, sidecarName, data); err != nil {
		return res, classify(guid, fmt.Errorf("write sidecar: %w", err))
	}
	res.Outcome = records.Stored
	if res.Copied == 0 {
		res.Outcome = records.Complete
	}
	return res, nil
}

// storedVia names the path that stored an interaction, for the sidecar:
// "event" (a webhook), or the source of the message otherwise (discover,
// backfill, replay), "discover" when it does not say.
func storedVia(source string) string {
	if source == "" {
		return message.SourceDiscover
	}
	return source
}

// covers reports whether a sidecar lists every audio item.
func covers(sidecar []byte, audio []vcc.ContentItem) bool {
	var sc records.Sidecar
	if json.Unmarshal(sidecar, &sc) != nil {
		return false
	}
	have := make(map[string]bool, len(sc.Recordings))
	for _, r := range sc.Recordings {
		have[r.ContentKey] = true
	}
	for _, a := range audio {
		if !have[a.ContentKey] {
			return false
		}
	}
	return true
}

// interaction returns what is known of the interaction: from the message
// when discovery carried it, otherwise from VCC.
func (i *Ingester) interaction(ctx context.Context, body message.Body) (vcc.Interaction, error) {
	if body.Start != nil && len(body.Content) > 0 {
		in := vcc.Interaction{
			GUID:      body.InteractionID,
			Start:     body.Start.UTC(),
			Direction: vcc.NormalizeDirection(body.ContentDir),
		}
		for _, a := range body.Agents {
			in.HandlingAgents = append(in.HandlingAgents, vcc.AgentRef{ID: a})
		}
		for _, c := range body.Content {
			in.Content = append(in.Content, vcc.ContentItem{
				ContentKey: c.ContentKey, Type: c.Type, ContentType: c.ContentType, ContentLength: c.ContentLength,
			})
		}
		return in, nil
	}
	in, err := i.vcc.GetInteraction(ctx, body.InteractionID)
	if err != nil {
		if errors.Is(err, vcc.ErrNotFound) {
			return in, &Failure{Permanent: true, Reason: "unknown interaction: VCC has no visible content for it (check the credential user's feature permissions)", Err: err}
		}
		return in, classify(body.InteractionID, fmt.Errorf("get interaction: %w", err))
	}
	return in, nil
}

// direction: Stats is the source of truth, the content API's field the fallback.
func (i *Ingester) direction(ctx context.Context, body message.Body, in vcc.Interaction) (vcc.Direction, string, error) {
	if d := vcc.NormalizeDirection(body.Direction); d != vcc.DirectionUnknown {
		return d, "stats", nil
	}
	st, err := i.vcc.GetStats(ctx, in.GUID)
	switch {
	case err == nil && st.Direction != vcc.DirectionUnknown:
		return st.Direction, "stats", nil
	case err != nil && !vcc.IsPermanent(err):
		return "", "", classify(in.GUID, fmt.Errorf("get stats: %w", err))
	}
	if in.Direction != vcc.DirectionUnknown && in.Direction != "" {
		return in.Direction, "content", nil
	}
	return vcc.DirectionUnknown, "unknown", nil
}

func (i *Ingester) agents(ctx context.Context, in vcc.Interaction) ([]records.SidecarAgent, error) {
	out := make([]records.SidecarAgent, 0, len(in.HandlingAgents))
	for _, ref := range in.HandlingAgents {
		a, err := i.vcc.ResolveAgent(ctx, ref.ID)
		if err != nil {
			return nil, classify(in.GUID, fmt.Errorf("resolve agent %s: %w", ref.ID, err))
		}
		out = append(out, records.SidecarAgent{ID: ref.ID, Name: a.Name, Email: a.Email, AgentCode: a.AgentCode, Resolved: a.Resolved})
	}
	return out, nil
}

// copy streams one recording unless it is already stored. A blob that exists
// was committed whole (uploads commit only at the end), so it is reused.
func (i *Ingester) copy(ctx context.Context, in vcc.Interaction, item vcc.ContentItem, dir vcc.Direction, agents []records.SidecarAgent) (records.SidecarRecord, bool, error) {
	rec := records.SidecarRecord{ContentKey: item.ContentKey, Type: item.Type, ContentType: item.ContentType}
	ext := store.ExtensionFor(item.ContentType)
	if item.ContentType == "" {
		ext = ""
	}
	if ext != "" {
		rec.Blob = store.RecordingName(in.Start, in.GUID, item.ContentKey, ext)
		if info, found, err := i.sink.StatRecording(ctx, rec.Blob); err != nil {
			return rec, false, classify(in.GUID, fmt.Errorf("check %s: %w", rec.Blob, err))
		} else if found {
			rec.Bytes, rec.SHA256 = info.Bytes, info.SHA256
			if info.ContentType != "" {
				rec.ContentType = info.ContentType
			}
			return rec, false, nil
		}
	}

	dl, err := i.vcc.Download(ctx, in.GUID, item.ContentKey)
	if err != nil {
		if errors.Is(err, vcc.ErrNotFound) {
			return rec, false, &Failure{Permanent: true, Reason: fmt.Sprintf("content %s not found in VCC", item.ContentKey), Err: err}
		}
		return rec, false, classify(in.GUID, fmt.Errorf("download %s: %w", item.ContentKey, err))
	}
	defer dl.Body.Close()
	// A recording far longer than listed (or, unlisted, than the cap) is
	// refused, not stored: nothing is committed before the stream ends.
	if err := dl.Expect(item.ContentLength); err != nil {
		return rec, false, classify(in.GUID, fmt.Errorf("download %s: %w", item.ContentKey, err))
	}
	// The blob's content type is what VCC served; the name was fixed from
	// the listing's type so that a redelivery can find it before downloading.
	if dl.ContentType != "" {
		rec.ContentType = dl.ContentType
	}
	if rec.Blob == "" {
		rec.Blob = store.RecordingName(in.Start, in.GUID, item.ContentKey, store.ExtensionFor(rec.ContentType))
	}
	w, err := i.sink.PutRecording(ctx, store.Recording{
		Name:           rec.Blob,
		ContentType:    rec.ContentType,
		ExpectedLength: dl.Length,
		Metadata:       withTenant(blobMetadata(in, item, dir, agents), "tenant", i.opts.Tenant),
		Tags:           withTenant(blobTags(in, dir, agents), "tenant", i.opts.Tenant),
	}, dl.Body)
	if errors.Is(err, store.ErrExists) {
		// A concurrent delivery finished it first.
		info, found, serr := i.sink.StatRecording(ctx, rec.Blob)
		if serr != nil || !found {
			return rec, false, classify(in.GUID, fmt.Errorf("recording %s exists but cannot be read: %v", rec.Blob, serr))
		}
		rec.Bytes, rec.SHA256 = info.Bytes, info.SHA256
		return rec, false, nil
	}
	if err != nil {
		return rec, false, classify(in.GUID, fmt.Errorf("copy %s: %w", item.ContentKey, err))
	}
	rec.Bytes, rec.SHA256 = w.Bytes, w.SHA256
	return rec, true, nil
}

func blobMetadata(in vcc.Interaction, item vcc.ContentItem, dir vcc.Direction, agents []records.SidecarAgent) map[string]string {
	m := map[string]string{
		"interactionid": in.GUID,
		"contentkey":    item.ContentKey,
		"contenttype":   item.Type,
		"direction":     string(dir),
		"agentid":       joinAgents(agents, func(a records.SidecarAgent) string { return a.ID }),
		"agentcode":     joinAgents(agents, func(a records.SidecarAgent) string { return a.AgentCode }),
		"date":          in.Start.UTC().Format("2006-01-02"),
		"start":         in.Start.UTC().Format(time.RFC3339),
	}
	for k, v := range m {
		m[k] = metadataValue(v)
	}
	return m
}

// metadataValue keeps a metadata value within what HTTP headers carry:
// printable ASCII, with anything else (an agent code such as "Zoë-12")
// percent-encoded rather than refused. The sidecar keeps the original.
func metadataValue(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '%' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// blobTags are queryable with FilterBlobs; they carry no email or phone number.
func blobTags(in vcc.Interaction, dir vcc.Direction, agents []records.SidecarAgent) map[string]string {
	return map[string]string{
		"interactionId": in.GUID,
		"direction":     string(dir),
		"agentCode":     tagValue(joinAgents(agents, func(a records.SidecarAgent) string { return a.AgentCode })),
		"date":          in.Start.UTC().Format("2006-01-02"),
	}
}

// withTenant adds the tenant id to a recording's metadata or tags when
// there is one (a single-tenant deployment's blobs are unchanged).
func withTenant(m map[string]string, key, tenant string) map[string]string {
	if tenant != "" {
		m[key] = tenant
	}
	return m
}

// wrongTenant is the reason a message for another tenant is refused.
func wrongTenant(got, serves string) string {
	switch {
	case serves == "":
		return fmt.Sprintf("message for tenant %q, but this deployment serves a single VCC account (no tenants document)", got)
	case got == "":
		return fmt.Sprintf("message names no tenant, but this ingester serves tenant %q", serves)
	}
	return fmt.Sprintf("message for tenant %q given to tenant %q's ingester", got, serves)
}

func joinAgents(agents []records.SidecarAgent, f func(records.SidecarAgent) string) string {
	var parts []string
	for _, a := range agents {
		if v := f(a); v != "" {
			parts = append(parts, v)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// tagValue keeps the characters blob index tags allow (letters, digits,
// space and + - . / : = _) and their 256-character limit.
func tagValue(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(" +-./:=_", r):
			b.WriteRune(r)
		default:
			b.WriteRune('_')
		}
	}
	if out := b.String(); len(out) <= 256 {
		return out
	}
	return b.String()[:256]
}

func (i *Ingester) failure(ctx context.Context, guid string) (records.FailureRecord, bool) {
	data, _, found, err := i.state.Load(ctx, records.FailureName(guid))
	if err != nil || !found {
		return records.FailureRecord{}, false
	}
	var rec records.FailureRecord
	if json.Unmarshal(data, &rec) != nil {
		return records.FailureRecord{}, false
	}
	return rec, true
}

func (i *Ingester) recordFailure(ctx context.Context, d Delivery, f *Failure, log *slog.Logger) {
	if f.InteractionID == "" {
		return // no valid id: the dead-lettered message itself is the record
	}
	rec := records.FailureRecord{
		InteractionID: f.InteractionID, MessageID: d.MessageID, Permanent: f.Permanent,
		Reason: f.Reason, DeliveryCount: d.DeliveryCount, At: i.opts.Now().UTC(),
	}
	data, _ := json.Marshal(rec)
	// Recorded even when the invocation's own time ran out.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := i.state.Put(ctx, records.FailureName(f.InteractionID), data); err != nil {
		log.Warn("failure record not written", "error", err)
	}
}

func (i *Ingester) recordSkip(ctx context.Context, in vcc.Interaction, reason string, log *slog.Logger) {
	data, _ := json.Marshal(map[string]any{"interactionId": in.GUID, "start": in.Start.UTC(), "reason": reason, "at": i.opts.Now().UTC()})
	if err := i.state.Put(ctx, records.SkippedName(in.Start, in.GUID), data); err != nil {
		log.Warn("skip record not written", "error", err)
	}
}

// classify turns an adapter error into a Failure, deciding on its class
// only: VCC's permanent errors, and everything else is worth a retry.
func classify(guid string, err error) *Failure {
	if f := (*Failure)(nil); errors.As(err, &f) {
		return f
	}
	// Storage errors other than invalid input (a role not yet propagated, a
	// missing container) are the operator's to fix: retried, not recorded
	// as hopeless.
	permanent := (vcc.IsPermanent(err) || errors.Is(err, store.ErrInvalid)) && !errors.Is(err, io.ErrUnexpectedEOF)
	return &Failure{InteractionID: guid, Permanent: permanent, Reason: err.Error(), Err: err}
}
