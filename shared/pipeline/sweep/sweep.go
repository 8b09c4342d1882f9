// Package sweep is the event path's listing: a webhook event does not
// become one ingest message of its own (the interaction, its Stats record
// and polls for content not there yet: three or more VCC calls per
// recording), it asks for a sweep of its tenant. A sweep lists the recent
// window once through Stats and once through Interaction Content with
// discover's own code (discover.Enqueue) and enqueues each interaction
// whose content is now listed, shaped as discover's messages are (start,
// direction, content keys; MessageId the interaction guid), so ingest makes
// no VCC call but the download, and discover's later message for the same
// interaction is absorbed by duplicate detection.
//
// The requests of one tenant gather: a request's MessageId names its
// tenant and its time slot (Every long), and it is scheduled for the
// slot's end, so every event of a slot, VCC's redeliveries and the sweep's
// own next round make one message. A sweep asks for the next round while
// something is pending: an interaction Stats lists as ended within Horizon
// whose content is not listed yet (VCC has no "recording available"
// event). Then it stops, until the next event.
//
// Over the VCC budget nothing is lost: the listing and the downloads wait
// for the same client's budget, so the rounds and the copies slow down
// (each sweep logs how late it ran), while every listed interaction is on
// the queue, and discover still lists every interaction.
//
// Left to discover: a call longer than Window, whose start lies before the
// window when it ends.
package sweep

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/message"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/discover"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// Kind is the kind field of a sweep request's body; an interaction's
// message has none.
const Kind = "sweep"

// Defaults.
const (
	// DefaultEvery is the slot of a request and the pause between rounds:
	// each round costs two listing calls or a few more (one page per 1000
	// interactions of the window), whatever the number of calls.
	DefaultEvery = 20 * time.Second
	// DefaultWindow is how far back a sweep lists by start time: a call of
	// up to this length is listed when it ends.
	DefaultWindow = 20 * time.Minute
	// DefaultHorizon is how long after its end an interaction without
	// listed content keeps the rounds going.
	DefaultHorizon = 5 * time.Minute
)

// Options tune the sweep. Zero values take the defaults.
type Options struct {
	Every, Window, Horizon time.Duration
	IsAudio                func(contentType string) bool
	Logger                 *slog.Logger
	// Tenant is the tenant swept (empty: the single tenant).
	Tenant string
}

func (o Options) withDefaults() Options {
	if o.Every <= 0 {
		o.Every = DefaultEvery
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.Horizon <= 0 {
		o.Horizon = DefaultHorizon
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Body is a sweep request's message body.
type Body struct {
	V    int    `json:"v"`
	Kind string `json:"kind"`
	// Tenant as in message.Body; empty: the single tenant.
	Tenant string `json:"tenant,omitempty"`
	// At is the slot the request is for (when it is due).
	At time.Time `json:"at"`
	// Round counts the rounds since an event started the sweep (0: asked
	// for by an event).
	Round int `json:"round"`
}

// Decode reads a sweep request; ok is false for any other message (an
// interaction's), which is then not this package's to judge.
func Decode(data []byte) (b Body, ok bool, err error) {
	var probe struct {
		Kind string `json:"kind"`
	}
	if json.Unmarshal(data, &probe) != nil || probe.Kind != Kind {
		return b, false, nil
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return b, true, fmt.Errorf("%w: sweep request: %v", message.ErrInvalid, err)
	}
	if b.V != message.Version || b.At.IsZero() {
		return b, true, fmt.Errorf("%w: sweep request without version %d or slot", message.ErrInvalid, message.Version)
	}
	return b, true, nil
}

// Request is the sweep request for tenant's slot holding due (the first
// slot end at or after it), round as in Body.
func Request(tenant string, due time.Time, every time.Duration, round int) (queue.Outgoing, error) {
	if every <= 0 {
		every = DefaultEvery
	}
	slot := due.UTC().Truncate(every)
	if slot.Before(due) {
		slot = slot.Add(every)
	}
	data, err := json.Marshal(Body{V: message.Version, Kind: Kind, Tenant: tenant, At: slot, Round: round})
	if err != nil {
		return queue.Outgoing{}, err
	}
	return queue.Outgoing{
		ID:          RequestID(tenant, slot),
		Body:        data,
		ContentType: message.ContentType,
		ScheduledAt: slot,
	}, nil
}

// RequestID is the MessageId of tenant's request for slot: one per tenant
// and slot, whoever asks.
func RequestID(tenant string, slot time.Time) string {
	return message.ID(tenant, "sweep."+slot.UTC().Format("20060102T150405Z"))
}

// Sweeper sweeps one tenant.
type Sweeper struct {
	vcc   discover.Lister
	queue queue.Sender
	state store.State
	opts  Options
}

// New returns the Sweeper of the tenant whose VCC lister and state these
// are; q is the deployment's queue.
func New(l discover.Lister, q queue.Sender, st store.State, opts Options) *Sweeper {
	return &Sweeper{vcc: l, queue: q, state: st, opts: opts.withDefaults()}
}

// Outcome is what one round found.
type Outcome struct {
	Listed   int           // interactions listed with content
	Enqueued int           // of them, with audio: messages sent (duplicates absorbed by the queue)
	Pending  int           // ended within Horizon, content not listed yet
	Late     time.Duration // how long after its slot the round ran
	Next     string        // the next round's MessageId, when one was asked for
}

// Sweep runs one round of the request b at now.
func (s *Sweeper) Sweep(ctx context.Context, b Body, now time.Time) (Outcome, error) {
	now = now.UTC()
	out := Outcome{Late: max(now.Sub(b.At), 0)}
	seen := &observer{Lister: s.vcc, Sender: s.queue, enqueued: map[string]bool{}}
	d := discover.New(seen, seen, s.state, discover.Options{
		Chunk: s.opts.Window + time.Minute, IsAudio: s.opts.IsAudio, Logger: s.opts.Logger, Tenant: s.opts.Tenant,
	})
	// The window ends a little after now: a sandbox's or VCC's clock a
	// little ahead must not hide a call that just ended.
	start, end := now.Add(-s.opts.Window).Truncate(time.Second), now.Add(time.Minute).Truncate(time.Second)
	run, err := d.Enqueue(ctx, start, end, message.SourceEvent, now)
	if err != nil {
		return out, fmt.Errorf("sweep %s..%s: %w", start.Format(time.RFC3339), end.Format(time.RFC3339), err)
	}
	out.Listed, out.Enqueued = run.Found, len(seen.enqueued)
	var oldest time.Duration
	for _, st := range seen.stats {
		ended := st.Start.Add(st.Duration)
		if st.Duration <= 0 || ended.After(now) || now.Sub(ended) > s.opts.Horizon || seen.enqueued[strings.ToLower(st.GUID)] {
			continue // not ended yet (its own event comes), long given up, or on its way
		}
		out.Pending++
		oldest = max(oldest, now.Sub(ended))
	}
	// Without Stats nothing tells what is pending: the rounds go on for
	// the horizon, as when something is.
	blind := len(run.StatsErrors) > 0 && time.Duration(b.Round)*s.opts.Every < s.opts.Horizon
	if out.Pending > 0 || blind {
		// One slot after this round's, not after now: a round that ran a
		// little late must not skip a slot.
		next, err := Request(s.opts.Tenant, maxTime(b.At.Add(s.opts.Every), now), s.opts.Every, b.Round+1)
		if err != nil {
			return out, err
		}
		if err := s.queue.SendBatch(ctx, []queue.Outgoing{next}); err != nil {
			return out, fmt.Errorf("ask for the next sweep: %w", err)
		}
		out.Next = next.ID
	}
	log := s.opts.Logger.With("tenant", s.opts.Tenant, "round", b.Round, "slot", b.At,
		"listed", out.Listed, "enqueued", out.Enqueued, "pending", out.Pending, "oldestPendingSeconds", int(oldest.Seconds()),
		"lateSeconds", int(out.Late.Seconds()), "next", out.Next)
	if out.Late > 2*s.opts.Every {
		// The budget or the queue holds the rounds back: the event path's
		// latency grows by as much (nothing is lost: discover lists all).
		log.Warn("sweep behind: the event path's latency grows")
	} else {
		log.Info("sweep")
	}
	return out, nil
}

// observer passes discover's calls through, keeping what the sweep needs
// to know of them: the Stats listed, and which interactions were enqueued.
type observer struct {
	discover.Lister
	queue.Sender

	mu       sync.Mutex
	stats    []vcc.Stats
	enqueued map[string]bool
}

func (o *observer) ListStats(ctx context.Context, start, end time.Time, fn func(vcc.Stats) error) error {
	return o.Lister.ListStats(ctx, start, end, func(st vcc.Stats) error {
		o.mu.Lock()
		o.stats = append(o.stats, st)
		o.mu.Unlock()
		return fn(st)
	})
}

func (o *observer) SendBatch(ctx context.Context, msgs []queue.Outgoing) error {
	if err := o.Sender.SendBatch(ctx, msgs); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, m := range msgs {
		guid := m.ID[strings.LastIndexByte(m.ID, ':')+1:] // message.ID: [<tenant>:]<guid>
		o.enqueued[strings.ToLower(guid)] = true          // the two APIs need not agree on case
	}
	return nil
}

// Result is a round as the ingest function returns it.
func (o Outcome) Result(tenant string) records.Result {
	return records.Result{Outcome: records.Swept, Tenant: tenant,
		Reason: fmt.Sprintf("sweep: %d listed, %d enqueued, %d pending, %s late", o.Listed, o.Enqueued, o.Pending, o.Late.Round(time.Second))}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
