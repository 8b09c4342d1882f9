package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/message"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// Application properties a deferred copy carries.
const (
	PropDeferrals     = "deferrals"     // how many times the work was put off
	PropDeferredSince = "deferredSince" // RFC 3339: when VCC was first found unavailable for it
)

// Deferral defaults.
const (
	DefaultDeferralHorizon = 24 * time.Hour
	defaultDeferBase       = 15 * time.Second
	// defaultDeferMax bounds the back-off so that work resumes within about
	// a minute of VCC's return, whatever the outage's length.
	defaultDeferMax = time.Minute
)

// availability is what a VCC client can tell without calling VCC: whether
// its circuit breaker is open (vcc.Client.Available).
type availability interface{ Available() error }

// unavailable reports the breaker's refusal before any work starts.
func (i *Ingester) unavailable() error {
	if a, ok := i.vcc.(availability); ok {
		return a.Available()
	}
	return nil
}

// deferDelivery puts the work off: a copy of the message scheduled after a
// back-off, under a new message id (so duplicate detection does not drop
// it, while a second copy of the same deferral, after a crash between the
// send and the answer, is dropped), with the deferral count and since when
// in its properties. Past the horizon it is a permanent failure instead,
// which the queue dead-letters with its reason.
func (i *Ingester) deferDelivery(ctx context.Context, d Delivery, body message.Body, cause error, log *slog.Logger) (records.Result, error) {
	return i.deferWhile(ctx, d, body, "VCC unavailable", cause, log)
}

// deferWhile is deferDelivery while what (e.g. "VCC unavailable") holds.
func (i *Ingester) deferWhile(ctx context.Context, d Delivery, body message.Body, what string, cause error, log *slog.Logger) (records.Result, error) {
	now := i.opts.Now().UTC()
	n, _ := strconv.Atoi(d.Properties[PropDeferrals])
	since, err := time.Parse(time.RFC3339, d.Properties[PropDeferredSince])
	if err != nil {
		since = now
	}
	if now.Sub(since) >= i.opts.DeferralHorizon {
		f := &Failure{InteractionID: body.InteractionID, Permanent: true, Err: cause,
			Reason: fmt.Sprintf("%s for longer than the deferral horizon (%s, since %s, %d deferrals): %v", what, i.opts.DeferralHorizon, since.Format(time.RFC3339), n, cause)}
		i.recordFailure(ctx, d, f, log)
		return records.Result{}, f
	}
	delay := i.opts.DeferBase << min(n, 16)
	if delay <= 0 || delay > i.opts.DeferMax {
		delay = i.opts.DeferMax
	}
	var ue *vcc.UnavailableError
	if errors.As(cause, &ue) && ue.RetryIn > delay {
		delay = ue.RetryIn
	}
	delay += time.Duration(rand.Int64N(int64(delay/10) + 1)) // spread the returns
	props := make(map[string]string, len(d.Properties)+2)
	for k, v := range d.Properties {
		props[k] = v
	}
	props[PropDeferrals] = strconv.Itoa(n + 1)
	props[PropDeferredSince] = since.Format(time.RFC3339)
	id := baseID(d.MessageID, body.InteractionID) + ".deferred-" + strconv.Itoa(n+1)
	out := queue.Outgoing{ID: id, Body: d.Body, ContentType: message.ContentType, Properties: props, ScheduledAt: now.Add(delay)}
	if err := i.opts.Requeue.SendBatch(ctx, []queue.Outgoing{out}); err != nil {
		// Not deferred: fail the delivery (it is retried), nothing is lost.
		return records.Result{}, &Failure{InteractionID: body.InteractionID, Reason: fmt.Sprintf("%s (%v) and the deferred copy was not accepted: %v", what, cause, err), Err: err}
	}
	log.Warn(what+": deferred", "deferrals", n+1, "retryIn", delay.String(), "deferredSince", since, "copyId", id, "cause", cause.Error())
	return records.Result{InteractionID: body.InteractionID, Outcome: records.Deferred, Reason: fmt.Sprintf("%s; retried in %s (deferral %d)", what, delay.Round(time.Second), n+1)}, nil
}

// baseID is the message id without an earlier deferral's or poll's suffix.
func baseID(id, guid string) string {
	if id == "" {
		return guid
	}
	cut := len(id)
	for _, suffix := range []string{".deferred-", ".poll-", ".paced-"} {
		if i := strings.Index(id, suffix); i > 0 && i < cut {
			cut = i
		}
	}
	return id[:cut]
}

// Application properties a poll's copy carries.
const (
	PropPolls       = "polls"       // how many times VCC was asked for the content
	PropPolledSince = "polledSince" // RFC 3339: when the event was accepted
)

// Poll defaults.
const (
	DefaultPollHorizon = 2 * time.Hour
	defaultPollBase    = 30 * time.Second
	defaultPollMax     = 8 * time.Minute
)

// errNotYet: a webhook event's interaction has no audio in VCC yet.
var errNotYet = errors.New("no content in VCC yet")

// pollLater looks for an event's content again later, by the same means
// as a deferral: a scheduled copy under a new message id (the poll count in
// its suffix), this delivery answered 2xx once the copy is accepted, so
// waiting spends no delivery count. Past the horizon it records a skip:
// discover's later pass still finds the interaction if it appears.
func (i *Ingester) pollLater(ctx context.Context, d Delivery, body message.Body, log *slog.Logger) (records.Result, error) {
	now := i.opts.Now().UTC()
	guid := body.InteractionID
	n, _ := strconv.Atoi(d.Properties[PropPolls])
	since, err := time.Parse(time.RFC3339Nano, d.Properties[PropPolledSince])
	if err != nil {
		since = body.DiscoveredAt.UTC()
		if since.IsZero() || since.After(now) {
			since = now
		}
	}
	horizon := since.Add(i.opts.PollHorizon)
	if !now.Before(horizon) {
		reason := fmt.Sprintf("no content within the horizon (%s after the event, %d polls)", i.opts.PollHorizon, n+1)
		i.recordSkip(ctx, vcc.Interaction{GUID: guid, Start: since}, reason, log)
		log.Info("ingest done", "outcome", records.Skipped, "reason", reason)
		return records.Result{InteractionID: guid, Outcome: records.Skipped, Reason: reason}, nil
	}
	if i.opts.Requeue == nil {
		return records.Result{}, &Failure{InteractionID: guid, Reason: "no content in VCC yet (retried)", Err: errNotYet}
	}
	delay := i.opts.PollBase << min(n, 16)
	if delay <= 0 || delay > i.opts.PollMax {
		delay = i.opts.PollMax
	}
	at := now.Add(delay)
	if at.After(horizon) {
		at = horizon // the last look is at the horizon itself
	}
	props := make(map[string]string, len(d.Properties)+2)
	for k, v := range d.Properties {
		props[k] = v
	}
	props[PropPolls] = strconv.Itoa(n + 1)
	props[PropPolledSince] = since.Format(time.RFC3339Nano)
	id := baseID(d.MessageID, guid) + ".poll-" + strconv.Itoa(n+1)
	out := queue.Outgoing{ID: id, Body: d.Body, ContentType: message.ContentType, Properties: props, ScheduledAt: at}
	if err := i.opts.Requeue.SendBatch(ctx, []queue.Outgoing{out}); err != nil {
		return records.Result{}, &Failure{InteractionID: guid, Reason: fmt.Sprintf("no content in VCC yet and the poll's copy was not accepted: %v", err), Err: err}
	}
	log.Info("no content in VCC yet: polling again", "polls", n+1, "at", at, "polledSince", since, "copyId", id)
	return records.Result{InteractionID: guid, Outcome: records.Waiting, Reason: fmt.Sprintf("no content in VCC yet; looked again at %s (poll %d)", at.Format(time.RFC3339), n+1)}, nil
}

// PropPaced counts the times a delivery was put off because its tenant's
// request budget was taken (paceLater).
const PropPaced = "paced"

// DefaultPaceLimit is the PaceLimit of a tenant's ingester: a delivery
// waits at most this long for its tenant's budget before it is put off.
const DefaultPaceLimit = 5 * time.Second

// maxPaceDelay bounds how far a paced copy is scheduled.
const maxPaceDelay = 5 * time.Minute

// pacing is what a VCC client tells of its request budget
// (vcc.Client.PacerWait).
type pacing interface{ PacerWait() time.Duration }

func (i *Ingester) pacerWait() time.Duration {
	if p, ok := i.vcc.(pacing); ok {
		return p.PacerWait()
	}
	return 0
}

// paceLater puts a delivery off while its account's budget is taken further
// ahead than PaceLimit: a copy of the message scheduled for the budget's
// next slot (wait: how far ahead it is; at most 5 minutes), back half
// PaceLimit before it so that the copy then waits for the slot in its
// invocation rather than being put off again, and finds it still good,
// under a new message id. It spends no delivery count and has no horizon: a taken
// budget always frees up. The invocation returns at once, so the slot goes
// to work whose budget has room, another tenant's, or to nothing at all
// rather than an instance held while the budget is booked elsewhere.
func (i *Ingester) paceLater(ctx context.Context, d Delivery, body message.Body, wait time.Duration, log *slog.Logger) (records.Result, error) {
	now := i.opts.Now().UTC()
	n, _ := strconv.Atoi(d.Properties[PropPaced])
	// A random extra of up to PaceLimit spreads work put off together, so
	// that it does not come back together to find the budget taken again.
	delay := min(wait-i.opts.PaceLimit/2+rand.N(i.opts.PaceLimit+1), maxPaceDelay)
	props := make(map[string]string, len(d.Properties)+1)
	for k, v := range d.Properties {
		props[k] = v
	}
	props[PropPaced] = strconv.Itoa(n + 1)
	id := baseID(d.MessageID, body.InteractionID) + ".paced-" + strconv.Itoa(n+1)
	out := queue.Outgoing{ID: id, Body: d.Body, ContentType: message.ContentType, Properties: props, ScheduledAt: now.Add(delay)}
	if err := i.opts.Requeue.SendBatch(ctx, []queue.Outgoing{out}); err != nil {
		return records.Result{}, &Failure{InteractionID: body.InteractionID, Reason: fmt.Sprintf("VCC budget taken and the paced copy was not accepted: %v", err), Err: err}
	}
	log.Info("VCC budget taken: put off", "paced", n+1, "budgetWait", wait.String(), "retryIn", delay.String(), "copyId", id)
	return records.Result{InteractionID: body.InteractionID, Outcome: records.Paced, Tenant: i.opts.Tenant,
		Reason: fmt.Sprintf("the tenant's VCC budget is taken for %s; retried in %s (%d)", wait.Round(time.Second), delay.Round(time.Second), n+1)}, nil
}
