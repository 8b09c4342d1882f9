// Package discover is the timer step: it lists the interactions of a time
// window in VCC and puts one message per interaction on the queue. The
// window runs from the stored checkpoint (minus an overlap, for late
// recordings) to now (minus a settle delay); the checkpoint advances only
// after every message of a window was accepted by the queue, so a crash at
// any point yields duplicates at worst (absorbed by the queue's duplicate
// detection, MessageId = interaction guid), never a gap.
//
// Where changes go: how a window is chosen and listed, here; the run record,
// shared/records; the message body, shared/message; what VCC returns,
// shared/vcc.
package discover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/message"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// CheckpointName is the state blob holding how far discovery has got.
const CheckpointName = "checkpoints/discover.json"

// Lister is what discovery needs of VCC.
type Lister interface {
	ListInteractions(ctx context.Context, start, end time.Time, fn func(vcc.Interaction) error) error
	ListStats(ctx context.Context, start, end time.Time, fn func(vcc.Stats) error) error
}

// Options tune discovery. Zero values take the defaults.
type Options struct {
	Lookback  time.Duration // first run: how far back to start (default 24h)
	Overlap   time.Duration // re-listed before the checkpoint (zero: none; DISCOVER_OVERLAP defaults to 1h)
	Settle    time.Duration // the window ends this long before now (default 10m)
	Chunk     time.Duration // checkpoint granularity for long catch-ups (default 24h)
	BatchSize int           // messages per send (default 500)
	IsAudio   func(contentType string) bool
	Logger    *slog.Logger
	// Tenant is the tenant whose VCC account, checkpoint and records this
	// discovery uses; its messages carry it and their ids start with it.
	// Empty: the single tenant (messages unchanged).
	Tenant string
}

// Checkpoint is the stored progress of discovery.
type Checkpoint struct {
	Through   time.Time `json:"through"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Discoverer runs discovery over a VCC lister, a queue and the state store.
type Discoverer struct {
	vcc   Lister
	queue queue.Sender
	state store.State
	opts  Options
}

// New returns a Discoverer.
func New(l Lister, q queue.Sender, st store.State, opts Options) *Discoverer {
	if opts.Lookback <= 0 {
		opts.Lookback = 24 * time.Hour
	}
	if opts.Overlap < 0 {
		opts.Overlap = 0
	}
	if opts.Chunk <= 0 {
		opts.Chunk = 24 * time.Hour
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	if opts.IsAudio == nil {
		opts.IsAudio = func(string) bool { return true }
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Discoverer{vcc: l, queue: q, state: st, opts: opts}
}

// records.Run discovers the window that ends now-Settle and starts at the checkpoint
// minus Overlap (or now-Lookback on the first run). Missed runs need no
// special case: the window simply starts where the last successful run ended.
func (d *Discoverer) Run(ctx context.Context, now time.Time, pastDue bool) (run records.Run, err error) {
	run = records.Run{Source: "discover", PastDue: pastDue, StartedAt: now.UTC(), Tenant: d.opts.Tenant}
	defer func() { d.record(ctx, &run, err) }()
	data, etag, found, err := d.state.Load(ctx, CheckpointName)
	if err != nil {
		return run, fmt.Errorf("load checkpoint: %w", err)
	}
	var cp Checkpoint
	if found {
		if err := json.Unmarshal(data, &cp); err != nil || cp.Through.IsZero() {
			// A corrupt checkpoint must not silently restart from the
			// look-back and skip older work: say so and stop.
			return run, fmt.Errorf("checkpoint %s is unreadable; fix or delete it: %v", CheckpointName, err)
		}
	}
	end := now.Add(-d.opts.Settle).UTC().Truncate(time.Second)
	start := end.Add(-d.opts.Lookback)
	if found {
		start = cp.Through.Add(-d.opts.Overlap)
	}
	run.Start, run.End = start, end
	if !end.After(start) {
		return run, nil
	}

	for chunkStart := start; chunkStart.Before(end); chunkStart = chunkStart.Add(d.opts.Chunk) {
		chunkEnd := minTime(chunkStart.Add(d.opts.Chunk), end)
		if err := d.enqueue(ctx, chunkStart, chunkEnd, "discover", now, &run); err != nil {
			return run, err
		}
		run.Chunks++
		through := chunkEnd
		if found && cp.Through.After(through) {
			through = cp.Through // never move the checkpoint backwards
		}
		next := Checkpoint{Through: through, UpdatedAt: time.Now().UTC()}
		body, _ := json.Marshal(next)
		newETag, err := d.state.Save(ctx, CheckpointName, body, etag)
		if err != nil {
			if errors.Is(err, store.ErrConflict) {
				return run, fmt.Errorf("checkpoint changed by another run; this run stops (its messages are de-duplicated by the queue): %w", err)
			}
			return run, fmt.Errorf("save checkpoint: %w", err)
		}
		etag, found, cp = newETag, true, next
		run.CheckpointAt = through
	}
	return run, nil
}

// Enqueue sends one message per interaction of [start, end) without touching
// the checkpoint (backfill).
func (d *Discoverer) Enqueue(ctx context.Context, start, end time.Time, source string, now time.Time) (run records.Run, err error) {
	run = records.Run{Source: source, Start: start, End: end, StartedAt: now.UTC(), Tenant: d.opts.Tenant}
	var calls atomic.Int64
	ctx = vcc.WithCallCount(ctx, &calls)
	defer func() {
		run.VCCCalls = calls.Load()
		d.record(ctx, &run, err)
	}()
	for chunkStart := start; chunkStart.Before(end); chunkStart = chunkStart.Add(d.opts.Chunk) {
		if err := d.enqueue(ctx, chunkStart, minTime(chunkStart.Add(d.opts.Chunk), end), source, now, &run); err != nil {
			return run, err
		}
		run.Chunks++
	}
	return run, nil
}

// enqueue lists one chunk: Stats first (directions for the whole chunk in a
// few calls), then the content listing, sending messages in batches.
func (d *Discoverer) enqueue(ctx context.Context, start, end time.Time, source string, now time.Time, run *records.Run) error {
	stats := make(map[string]vcc.Stats)
	if err := d.vcc.ListStats(ctx, start, end, func(s vcc.Stats) error {
		stats[s.GUID] = s
		return nil
	}); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Stats only adds the direction, which ingest can still ask for
		// per interaction: its failure must not stop discovery.
		d.opts.Logger.Warn("stats listing failed; directions are left to ingest",
			"start", start, "end", end, "error", err)
		run.StatsErrors = append(run.StatsErrors, err.Error())
		clear(stats)
	}

	batch := make([]queue.Outgoing, 0, d.opts.BatchSize)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := d.queue.SendBatch(ctx, batch); err != nil {
			return fmt.Errorf("send %d messages: %w", len(batch), err)
		}
		run.Sends++
		run.Enqueued += len(batch)
		batch = batch[:0]
		return nil
	}
	err := d.vcc.ListInteractions(ctx, start, end, func(in vcc.Interaction) error {
		run.Found++
		if !d.hasAudio(in) {
			// Only interactions with audio become messages: one whose
			// audio appears later is then first sent with it, rather than
			// de-duplicated away after an audio-less delivery.
			run.NoAudio++
			return nil
		}
		var st *vcc.Stats
		if s, ok := stats[in.GUID]; ok {
			st = &s
			run.WithStats++
		}
		b := message.FromInteraction(in, st, source, now)
		b.Tenant = d.opts.Tenant
		body, err := message.Encode(b)
		if err != nil {
			return err
		}
		batch = append(batch, queue.Outgoing{ID: message.ID(d.opts.Tenant, in.GUID), Body: body, ContentType: message.ContentType})
		if len(batch) >= d.opts.BatchSize {
			return flush()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list interactions %s..%s: %w", start.Format(time.RFC3339), end.Format(time.RFC3339), err)
	}
	return flush()
}

func (d *Discoverer) hasAudio(in vcc.Interaction) bool {
	for _, c := range in.Content {
		if d.opts.IsAudio(c.Type) && vcc.AudioMedia(c.ContentType) { // a callRecording can be a video
			return true
		}
	}
	return false
}

// record writes the run record and the one-line summary, for failed runs
// too. A failure to write the record is logged, not fatal: the messages are
// already on the queue.
func (d *Discoverer) record(ctx context.Context, run *records.Run, err error) {
	run.FinishedAt = time.Now().UTC()
	if err != nil {
		run.Error = err.Error()
	}
	d.opts.Logger.Info("discover run",
		"source", run.Source, "start", run.Start, "end", run.End, "pastDue", run.PastDue,
		"found", run.Found, "sent", run.Enqueued, "noAudio", run.NoAudio, "sends", run.Sends, "vccCalls", run.VCCCalls,
		"checkpoint", run.CheckpointAt, "error", run.Error)
	body, _ := json.Marshal(run)
	name := records.RunName(run.Source, run.StartedAt)
	if err := d.state.Put(context.WithoutCancel(ctx), name, body); err != nil {
		d.opts.Logger.Warn("run record not written", "name", name, "error", err)
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
