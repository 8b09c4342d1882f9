// Package customhandler is the HTTP server the Functions host invokes: one
// route per function folder (functions/<name>/function.json), the host's
// invocation protocol decoded and answered, each invocation bounded by the
// deadline host.json sets. It serves one VCC account's steps, or every
// tenant's of a tenants document (shared/pipeline/tenancy). The process
// around it (listening, shutdown) is package main's serve.
package customhandler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/inbound"
	"github.com/vcc-ingest/vcc-ingest/shared/invoke"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/audit"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/discover"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/events"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/ingest"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/sweep"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/tenancy"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/report"
	"github.com/vcc-ingest/vcc-ingest/shared/startup"
	"github.com/vcc-ingest/vcc-ingest/shared/tenants"
	"github.com/vcc-ingest/vcc-ingest/shared/webhook"
)

// Binding names, as in each function.json.
const (
	TimerBinding   = "timer"
	MessageBinding = "message"
)

// server is the custom handler: one route per function folder.
type server struct {
	discover tenancy.Discoverer
	ingest   ingester
	audit    tenancy.Auditor
	events   *events.Receiver
	// tenants, with a tenants document, is where each request for
	// /api/vcc/events/<id> finds its tenant's receiver; nil: the single
	// tenant's events above serve the bare path.
	tenants tenancy.Source
	log     *slog.Logger
	now     func() time.Time
	// deadline bounds each invocation (host.json's functionTimeout less a
	// margin): one that overruns fails on its own, and its message is
	// retried, instead of the host restarting the whole process. Zero: none.
	deadline time.Duration
}

// ingester is the ingest step: one tenant's (*ingest.Ingester), or the
// router to each tenant's (*ingest.Tenants).
type ingester interface {
	Handle(ctx context.Context, d ingest.Delivery) (records.Result, error)
}

// errDeadline is the cause of an invocation that ran out of time.
var errDeadline = errors.New("invocation deadline passed (host.json functionTimeout less a margin); nothing was committed and the next delivery does the work")

// bound gives r's work the invocation deadline.
func (s *server) bound(r *http.Request) (context.Context, context.CancelFunc) {
	if s.deadline <= 0 {
		return context.WithCancel(r.Context())
	}
	return context.WithTimeoutCause(r.Context(), s.deadline, errDeadline)
}

// overran names the deadline in err when it is what ended the work.
func overran(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), errDeadline) {
		return fmt.Errorf("%w: %w", errDeadline, err)
	}
	return err
}

// routes maps each function (folder name under functions/) to its handler.
func (s *server) routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"discover": s.handleDiscover,
		"ingest":   s.handleIngest,
		"audit":    s.handleAudit,
		"events":   s.handleEvents,
	}
}

// EventsPath is where the host forwards the events function's requests:
// host.json's routePrefix ("api") and function.json's route
// (vcc/events/{tenant?}). Without a tenants document VCC posts to the bare
// path; with one, each tenant's subscription posts to EventsPath/<id>.
const EventsPath = "/api/vcc/events"

// paths are the functions the host does not invoke at /<name>: an HTTP
// trigger with only an http output is forwarded as the request itself, to
// its own path (host.json enableForwardingHttpRequest; see handleEvents).
var paths = map[string]string{"events": EventsPath}

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	for name, h := range s.routes() {
		if _, forwarded := paths[name]; !forwarded {
			mux.HandleFunc("POST /"+name, h)
		}
	}
	// The host probes any path for readiness; answer without work.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every POST under the events path is the events function's, as
		// it came: ServeMux would clean a path ("..", "//") and answer a
		// redirect, and that answer must be the events function's refusal.
		if r.Method == http.MethodPost && underEvents(r.URL.EscapedPath()) {
			s.handleEvents(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// underEvents reports whether an escaped path starts with EventsPath, in
// any case (the host matches routes case-insensitively and forwards the
// path as sent).
func underEvents(p string) bool {
	return len(p) >= len(EventsPath) && strings.EqualFold(p[:len(EventsPath)], EventsPath)
}

// errBadTenantPath is the reason for a path whose tenant segment is not a
// tenant id, or that has a segment where none belongs.
var errBadTenantPath = errors.New("not a tenant's events path")

// eventsTenant reads the tenant segment of an escaped path under
// EventsPath: "" for the bare path (a trailing slash allowed), the id for
// EventsPath/<id>. Anything else is refused: an id must match the tenants
// document's pattern exactly as sent, so upper case, dots, any
// percent-encoding (an encoded slash or dot), a further segment, an empty or
// overlong one never name a tenant.
func eventsTenant(escaped string) (string, error) {
	if !underEvents(escaped) {
		return "", errBadTenantPath
	}
	rest := escaped[len(EventsPath):]
	if rest == "" || rest == "/" {
		return "", nil
	}
	seg, ok := strings.CutPrefix(rest, "/")
	if !ok || !tenants.ValidID(seg) {
		return "", errBadTenantPath
	}
	return seg, nil
}

func (s *server) handleDiscover(w http.ResponseWriter, r *http.Request) {
	log := s.log.With("function", "discover", "invocationId", r.Header.Get("X-Azure-Functions-InvocationId"))
	req, err := invoke.ReadRequest(r.Body)
	if err != nil {
		fail(w, log, "bad invocation", err, true)
		return
	}
	timer, err := req.Timer(TimerBinding)
	if err != nil {
		fail(w, log, "bad timer payload", err, true)
		return
	}
	if timer.IsPastDue {
		log.Info("timer is past due: the window starts at the checkpoint, so missed runs are caught up")
	}
	ctx, cancel := s.bound(r)
	defer cancel()
	run, err := s.discover.Run(ctx, s.now(), timer.IsPastDue)
	if err != nil {
		fail(w, log, "discover failed", overran(ctx, err), false)
		return
	}
	invoke.Write(w, http.StatusOK, invoke.Response{
		Logs:        []string{summaryLine(run)},
		ReturnValue: run,
	})
}

func (s *server) handleAudit(w http.ResponseWriter, r *http.Request) {
	log := s.log.With("function", "audit", "invocationId", r.Header.Get("X-Azure-Functions-InvocationId"))
	req, err := invoke.ReadRequest(r.Body)
	if err != nil {
		fail(w, log, "bad invocation", err, true)
		return
	}
	if _, err := req.Timer(TimerBinding); err != nil {
		fail(w, log, "bad timer payload", err, true)
		return
	}
	if s.audit == nil {
		fail(w, log, "audit failed", errors.New("audit not configured"), true)
		return
	}
	ctx, cancel := s.bound(r)
	defer cancel()
	res, err := s.audit.Run(ctx, s.now())
	if err != nil {
		fail(w, log, "audit failed", overran(ctx, err), false)
		return
	}
	res.Report, res.Doctor = nil, nil // stored in full; the return value is the summary
	invoke.Write(w, http.StatusOK, invoke.Response{
		Logs:        []string{fmt.Sprintf("audit: %d gaps, %d hidden lines, %d hidden agents, %d hidden directions, %d dead letters", res.Gaps, len(res.HiddenLines), len(res.HiddenAgents), len(res.HiddenDirections), res.DeadLetters)},
		ReturnValue: res,
	})
}

func (s *server) handleIngest(w http.ResponseWriter, r *http.Request) {
	log := s.log.With("function", "ingest", "invocationId", r.Header.Get("X-Azure-Functions-InvocationId"))
	req, err := invoke.ReadRequest(r.Body)
	if err != nil {
		fail(w, log, "bad invocation", err, true)
		return
	}
	msg, err := req.ServiceBus(MessageBinding)
	if err != nil {
		fail(w, log, "bad message", err, true)
		return
	}
	ctx, cancel := s.bound(r)
	defer cancel()
	res, err := s.ingest.Handle(ctx, ingest.Delivery{
		MessageID:     msg.MessageID,
		DeliveryCount: msg.DeliveryCount,
		Body:          msg.Body,
		Properties:    msg.Properties,
	})
	if err != nil {
		var f *ingest.Failure
		permanent := errors.As(err, &f) && f.Permanent
		err = overran(ctx, err)
		// Non-2xx fails the invocation: the host abandons the message and
		// Service Bus redelivers it, or dead-letters it past maxDeliveryCount.
		fail(w, log, "ingest failed", err, permanent)
		return
	}
	invoke.Write(w, http.StatusOK, invoke.Response{ReturnValue: res})
}

// handleEvents answers a VCC webhook delivery.
//
// How the host hands an HTTP trigger to a custom handler, read from
// Azure/azure-functions-host (src/WebJobs.Script/Workers/Http/
// DefaultHttpWorkerService.cs, InvokeAsync; Extensions/HttpRequestExtensions.cs):
//   - without enableForwardingHttpRequest, the request becomes Data.req of
//     an invocation payload (GetRequestAsJObject): Url, Method, Query,
//     Headers, Params, Identities, and Body read with ReadAsStringAsync,
//     i.e. decoded to a string (a BOM dropped, invalid UTF-8 replaced) and
//     JSON-encoded again, unless the type is octet-stream or multipart;
//   - with customHandler.enableForwardingHttpRequest true, a function whose
//     only bindings are an httpTrigger and an http output
//     (FunctionMetadataExtensions.IsHttpInAndOutFunction) is
//     forwarded as the request itself (ProcessHttpInAndOutInvocationRequest,
//     ToHttpRequestMessage): same method, same path (GetPathValue: the
//     request's AbsolutePath, /api/vcc/events), query, every header, the
//     body as a StreamContent of the original stream, plus
//     X-Azure-Functions-InvocationId; the handler's answer is the HTTP
//     response. Other functions keep the invocation payload.
//
// The signature covers the raw body bytes, so host.json forwards: the
// body reaches the verifier byte for byte, and the answer is a plain
// status (no invocation response).
// EventBodyWithin bounds the reading of a webhook's body.
const EventBodyWithin = 3 * time.Second

func (s *server) handleEvents(w http.ResponseWriter, r *http.Request) {
	log := s.log.With("function", "events", "invocationId", r.Header.Get("X-Azure-Functions-InvocationId"))
	start := s.now()
	if r.ContentLength > webhook.MaxBody {
		s.answerEvent(w, log, events.Outcome{Status: http.StatusRequestEntityTooLarge, Reason: "body larger than 1 MiB (Content-Length)"}, start)
		return
	}
	// VCC wants an answer within 10 s: the body is read within a few.
	body, err := io.ReadAll(inbound.Body(w, r, webhook.MaxBody, EventBodyWithin))
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		s.answerEvent(w, log, events.Outcome{Status: http.StatusRequestEntityTooLarge, Reason: "body larger than 1 MiB"}, start)
		return
	}
	if err != nil {
		s.answerEvent(w, log, events.Outcome{Status: http.StatusBadRequest, Reason: "read body: " + err.Error()}, start)
		return
	}
	// Detached from the request: an enqueue the queue accepted is answered
	// even if VCC hung up meanwhile (it then delivers again: a duplicate).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 9*time.Second)
	defer cancel()
	rcv, tenant, refused := s.eventsReceiver(ctx, r.URL.EscapedPath())
	if rcv == nil {
		s.answerEvent(w, log, refused, start)
		return
	}
	if tenant != "" {
		log = log.With("tenant", tenant)
	}
	out := rcv.Receive(ctx, r.Header.Get(webhook.SignatureHeader), body)
	s.answerEvent(w, log, out, start)
}

// eventsReceiver is the receiver of a request's path: the single tenant's
// at the bare path without a tenants document; with one, that of the tenant
// the path names, and its id. Otherwise nil and the
// refusal: 401 whatever the cause, an unknown tenant, one without a webhook
// secret or a malformed path alike, so the answer tells no tenant's
// existence (the reason goes to the log only).
func (s *server) eventsReceiver(ctx context.Context, escaped string) (*events.Receiver, string, events.Outcome) {
	refuse := func(why string) (*events.Receiver, string, events.Outcome) {
		return nil, "", events.Outcome{Status: http.StatusUnauthorized, Reason: why}
	}
	id, err := eventsTenant(escaped)
	switch {
	case err != nil:
		return refuse(fmt.Sprintf("path %q: %v", logSafe(escaped), err))
	case s.tenants == nil && id != "":
		return refuse("a tenant's events path, and this deployment serves a single VCC account (no tenants document)")
	case s.tenants == nil && s.events == nil:
		return nil, "", events.Outcome{Status: http.StatusServiceUnavailable, Reason: "events not configured"}
	case s.tenants == nil:
		return s.events, "", events.Outcome{}
	case id == "":
		return refuse("the bare events path, and this deployment serves a tenants document: each tenant posts to " + EventsPath + "/<id>")
	}
	// The version served, never a forced read: an unknown id is refused as
	// fast as a known one is answered. A tenant just added is served once
	// the document is read (within VCC_TENANTS_REFRESH; an unknown id
	// starts a read in the background); discover copies its calls meanwhile.
	ts, err := s.tenants.Served(ctx, id)
	switch {
	case errors.Is(err, ingest.ErrUnknownTenant):
		return refuse(fmt.Sprintf("tenant %q is not in the tenants document", id))
	case err != nil:
		// Not the sender's fault: VCC delivers it again later.
		return nil, "", events.Outcome{Status: http.StatusServiceUnavailable, Reason: "tenants document: " + err.Error()}
	case ts.Events == nil:
		return refuse(fmt.Sprintf("tenant %s has no webhook secret (%s, or webhookSecretName in Key Vault)", id, tenants.WebhookSecretEnv(id)))
	}
	return ts.Events, id, events.Outcome{}
}

// logSafe bounds a request's path for the log.
func logSafe(p string) string {
	if len(p) > 80 {
		return p[:80] + "…"
	}
	return p
}

// answerEvent writes only a status and a fixed word: no reason, least of
// all for a 401. The reason goes to the log.
func (s *server) answerEvent(w http.ResponseWriter, log *slog.Logger, out events.Outcome, start time.Time) {
	attrs := []any{"status", out.Status, "reason", out.Reason, "ms", s.now().Sub(start).Milliseconds()}
	if out.InteractionID != "" {
		attrs = append(attrs, "interactionId", out.InteractionID, "eventId", out.EventID)
	}
	if out.MessageID != "" {
		attrs = append(attrs, "messageId", out.MessageID)
	}
	switch {
	case out.Status >= 500:
		log.Error("webhook not accepted", attrs...)
	case out.Status >= 400:
		log.Warn("webhook refused", attrs...)
	default:
		log.Info("webhook accepted", attrs...)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(out.Status)
	_, _ = io.WriteString(w, http.StatusText(out.Status)+"\n")
}

func fail(w http.ResponseWriter, log *slog.Logger, what string, err error, permanent bool) {
	log.Error(what, "error", err, "permanent", permanent)
	invoke.Write(w, http.StatusInternalServerError, invoke.Response{
		Logs:        []string{what + ": " + err.Error()},
		ReturnValue: records.InvocationFailure{Error: err.Error(), Permanent: permanent},
	})
}

func summaryLine(run records.Run) string {
	b, _ := json.Marshal(map[string]any{
		"window": []time.Time{run.Start, run.End}, "found": run.Found, "sent": run.Enqueued,
		"noAudio": run.NoAudio, "sends": run.Sends,
	})
	return "discover: " + string(b)
}

// New is the custom handler over a's adapters: a tenants document's
// tenants when a has any, otherwise the one VCC account of a.
func New(a startup.Adapters) http.Handler {
	if len(a.Tenants) > 0 {
		steps := make([]*tenancy.Steps, 0, len(a.Tenants))
		for _, t := range a.Tenants {
			s := tenancy.NewSteps(a, t)
			steps = append(steps, &s)
		}
		return Over(a, tenancy.Fixed{Set: tenancy.NewSet("", steps)})
	}
	sw := tenancy.NewSweeper(a.Config, a.VCC, a.Queue, a.State, a.Log)
	srv := &server{
		discover: discover.New(a.VCC, a.Queue, a.State, tenancy.DiscoverOptions(a.Config, a.Log)),
		// As a tenant's: a delivery whose budget is booked further ahead
		// than PaceLimit is put off to its slot, not waited for.
		ingest: &sweep.Router{
			Next: ingest.New(a.VCC, a.Sink, a.State, ingest.Options{IsAudio: a.Config.IsAudio, Logger: a.Log,
				Requeue: a.Queue, DeferralHorizon: a.Config.DeferralHorizon, PollHorizon: a.Config.WebhookPollHorizon,
				PaceLimit: ingest.DefaultPaceLimit}),
			Lookup: sweep.Only("", sw),
		},
		audit: newAuditor(a),
		events: events.New(a.Queue, events.Options{Key: a.WebhookKey, Types: a.Config.WebhookEvents,
			Settle: a.Config.WebhookSettle, SweepEvery: a.Config.WebhookSweep, Logger: a.Log}),
		log:      a.Log,
		now:      time.Now,
		deadline: a.Deadline,
	}
	return srv.handler()
}

// Over is the custom handler serving the tenants src gives: discover and
// audit run every tenant, ingest routes each message to its tenant's steps,
// and each tenant's webhooks arrive at EventsPath/<id>.
func Over(a startup.Adapters, src tenancy.Source) http.Handler {
	td := &tenancy.Discover{Tenants: src, Log: a.Log, Parallel: tenancy.DiscoverParallel}
	router := &sweep.Router{
		Next: &ingest.Tenants{Lookup: tenancy.IngestLookup(src), State: a.State, Logger: a.Log,
			Requeue: a.Queue, DeferralHorizon: a.Config.DeferralHorizon},
		Lookup: tenancy.SweepLookup(src),
	}
	ta := &tenancy.Audit{Tenants: src, Log: a.Log, Parallel: tenancy.AuditParallel}
	srv := &server{discover: td, ingest: router, audit: ta, tenants: src, log: a.Log, now: time.Now, deadline: a.Deadline}
	return srv.handler()
}

// newAuditor is the audit step over a's adapters; dead letters are counted
// when the queue can browse them (Service Bus and the embedded queue can).
func newAuditor(a startup.Adapters) *audit.Auditor {
	dead, _ := a.Queue.(report.Peeker)
	return audit.New(a.VCC, a.Sink, a.State, dead, audit.Options{
		Days: a.Config.AuditDays, OwnerUserID: a.Config.OwnerUserID, IsAudio: a.Config.IsAudio, Logger: a.Log,
	})
}

// Ingester is the ingest step: one tenant's (*ingest.Ingester), or the
// router to each tenant's (*ingest.Tenants).
type Ingester = ingester

// Steps are the steps a server invokes, for a runner that builds its own
// (a nil Audit or Events answers "not configured").
type Steps struct {
	Discover tenancy.Discoverer
	Ingest   Ingester
	Audit    tenancy.Auditor
	Events   *events.Receiver
	Log      *slog.Logger
	// Deadline bounds each invocation (zero: none).
	Deadline time.Duration
	// Now is the clock discover and audit are run at (nil: time.Now).
	Now func() time.Time
}

// Serve is the custom handler over s.
func Serve(s Steps) http.Handler {
	now := s.Now
	if now == nil {
		now = time.Now
	}
	srv := &server{discover: s.Discover, ingest: s.Ingest, audit: s.Audit, events: s.Events, log: s.Log, now: now, deadline: s.Deadline}
	return srv.handler()
}

// Functions are the names of the functions served, one per folder
// functions/<name>/ with its function.json.
func Functions() []string {
	var names []string
	for name := range (&server{}).routes() {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
