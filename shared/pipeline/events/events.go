// Package events is the webhook step: it verifies one VCC webhook delivery
// (a signed CloudEvent) and, for an event of interest, enqueues a sweep
// request for its tenant (shared/pipeline/sweep), scheduled a settle delay
// later: the events of a tenant gather into sweeps that list the recent
// window once, as discover does, so the event path costs about one VCC call
// per recording (the download) instead of three or more per interaction.
// With SweepEvery zero it enqueues one ingest message per interaction
// instead, and ingest polls for its content. It never calls VCC (VCC has no
// "recording available" event), and discover remains the safety net.
//
// The answer is a status only: 413 (body over 1 MiB), 401 (signature: no
// detail in the answer, the reason goes to the log), 400 (not a CloudEvent
// of a channel), 202 (accepted: enqueued, or not an event type of
// interest), 503 (the webhook secret could not be read for a well-formed
// signature, or the queue did not take it: VCC delivers it again). An
// event of a type not of interest needs no interaction in its data: it is
// answered 202 and logged with its type.
// Accepting means enqueued: 202 is answered only after the queue accepted
// the message, so a restart between the two loses nothing.
package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/message"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/sweep"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/webhook"
)

// Application properties of an event's message.
const (
	PropEventID   = "eventId"
	PropEventType = "eventType"
)

// MessageIDSuffix follows the interaction guid (after "<tenant>:" with a
// tenants document) in an event's message id:
// every event of one interaction, and VCC's redeliveries of each, carry the
// same id, so the queue's duplicate detection keeps one. It differs from
// discover's id (the bare guid) so that neither absorbs the other: discover
// still sends its own message, which finds the interaction complete.
const MessageIDSuffix = ".event"

// Defaults.
const (
	DefaultSettle = 60 * time.Second
	// enqueueTimeout keeps the answer within VCC's 10 s.
	enqueueTimeout = 7 * time.Second
)

// Options tune the step.
type Options struct {
	// Key yields the subscription's secret as stored (base64). A zero
	// secret refuses every request.
	Key    secrets.Source
	Types  []string      // event types of interest; default channel.disconnected
	Settle time.Duration // default 60 s
	Now    func() time.Time
	Logger *slog.Logger
	// Tenant, with a tenants document, is the tenant whose subscription
	// this is: its messages name it (body tenant, MessageId
	// <tenant>:<guid>.event) and ingest routes them to its steps.
	Tenant string
	// SweepEvery, when set, makes an accepted event a sweep request for the
	// first slot (SweepEvery long) at least Settle later: every event of the
	// tenant in that slot is one message. Zero: one ingest message per
	// interaction (<guid>.event).
	SweepEvery time.Duration
}

// Receiver handles webhook deliveries.
type Receiver struct {
	q    queue.Sender
	opts Options

	// A failed read of the secret is remembered for a while, so that
	// unauthenticated requests cannot make each a call to Key Vault.
	mu      sync.Mutex
	lastErr error
	errAt   time.Time
}

// keyRetry is how long a failed secret read is remembered.
const keyRetry = 30 * time.Second

// New returns a Receiver enqueueing on q.
func New(q queue.Sender, opts Options) *Receiver {
	if len(opts.Types) == 0 {
		opts.Types = []string{"channel.disconnected"}
	}
	if opts.Settle < 0 {
		opts.Settle = 0
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Receiver{q: q, opts: opts}
}

// Outcome is what became of one delivery.
type Outcome struct {
	Status        int    // the HTTP status to answer
	Reason        string // for the log, never for the answer
	InteractionID string
	EventID       string
	MessageID     string // set when enqueued
}

// Receive verifies and handles one delivery: signature is the
// Vonage-Signature header, body the raw request body (at most
// webhook.MaxBody: the caller answers 413 above it without calling this).
func (r *Receiver) Receive(ctx context.Context, signature string, body []byte) Outcome {
	now := r.opts.Now()
	if len(body) > webhook.MaxBody {
		return Outcome{Status: 413, Reason: "body larger than 1 MiB"}
	}
	// What needs no key is refused before the key is read: a tenant whose
	// secret is unavailable answers an unsigned or malformed request 401,
	// as an unknown tenant does. Left: a well-formed token (any key's)
	// then gets 503 from such a tenant and 401 from an unknown one, which
	// tells that the tenant exists while its secret cannot be read.
	if err := webhook.CheckShape(signature); err != nil {
		return Outcome{Status: 401, Reason: err.Error()}
	}
	key, err := r.key(ctx)
	if err != nil {
		// Not the sender's fault: VCC delivers it again later.
		return Outcome{Status: 503, Reason: "webhook secret unavailable: " + err.Error()}
	}
	if err := webhook.Verify(key, signature, body, now); err != nil {
		return Outcome{Status: 401, Reason: err.Error()}
	}
	// The envelope first: a signed event of a type not of interest is
	// answered 2xx whatever its data (VCC retries any other answer for
	// 24 hours), and only an event of interest must name an interaction.
	env, err := webhook.ParseEnvelope(body)
	if err != nil {
		return Outcome{Status: 400, Reason: err.Error()}
	}
	if !slices.Contains(r.opts.Types, env.Type) {
		r.opts.Logger.Info("webhook event ignored: type not of interest", "eventType", env.Type, "eventId", env.ID)
		return Outcome{Status: 202, EventID: env.ID, InteractionID: env.InteractionID,
			Reason: fmt.Sprintf("event type %q not of interest: ignored", env.Type)}
	}
	ev, err := webhook.ParseEvent(body)
	if err != nil {
		return Outcome{Status: 400, EventID: env.ID, Reason: err.Error()}
	}
	out := Outcome{InteractionID: ev.InteractionID, EventID: ev.ID}
	accepted := now.UTC()
	if r.opts.SweepEvery > 0 {
		msg, err := sweep.Request(r.opts.Tenant, accepted.Add(r.opts.Settle), r.opts.SweepEvery, 0)
		if err != nil {
			out.Status, out.Reason = 500, err.Error()
			return out
		}
		msg.Properties = map[string]string{PropEventID: ev.ID, PropEventType: ev.Type}
		return r.enqueue(ctx, out, msg, "enqueued, sweep at ")
	}
	data, err := message.Encode(message.Body{InteractionID: ev.InteractionID, DiscoveredAt: accepted, Source: message.SourceEvent, Tenant: r.opts.Tenant})
	if err != nil {
		out.Status, out.Reason = 500, err.Error()
		return out
	}
	msg := queue.Outgoing{
		ID:          message.ID(r.opts.Tenant, ev.InteractionID) + MessageIDSuffix,
		Body:        data,
		ContentType: message.ContentType,
		Properties:  map[string]string{PropEventID: ev.ID, PropEventType: ev.Type},
		ScheduledAt: accepted.Add(r.opts.Settle),
	}
	return r.enqueue(ctx, out, msg, "enqueued, ingest at ")
}

// enqueue sends msg and answers: 202 once the queue accepted it.
func (r *Receiver) enqueue(ctx context.Context, out Outcome, msg queue.Outgoing, what string) Outcome {
	sctx, cancel := context.WithTimeout(ctx, enqueueTimeout)
	defer cancel()
	if err := r.q.SendBatch(sctx, []queue.Outgoing{msg}); err != nil {
		out.Status, out.Reason = 503, "enqueue failed (VCC delivers the event again): "+err.Error()
		return out
	}
	out.Status, out.MessageID = 202, msg.ID
	out.Reason = what + msg.ScheduledAt.Format(time.RFC3339)
	return out
}

func (r *Receiver) key(ctx context.Context) (secrets.Secret, error) {
	if r.opts.Key == nil {
		return secrets.Secret{}, nil // refuses every request
	}
	r.mu.Lock()
	if r.lastErr != nil && r.opts.Now().Sub(r.errAt) < keyRetry {
		err := r.lastErr
		r.mu.Unlock()
		return secrets.Secret{}, err
	}
	r.mu.Unlock()
	s, err := r.opts.Key.Secret(ctx, false)
	if err != nil {
		r.mu.Lock()
		r.lastErr, r.errAt = err, r.opts.Now()
		r.mu.Unlock()
		return s, err
	}
	if s.IsZero() {
		return s, nil
	}
	k, err := webhook.DecodeSecret(s.Reveal())
	if err != nil {
		return secrets.Secret{}, errors.New("the stored webhook secret is not base64")
	}
	return k, nil
}
