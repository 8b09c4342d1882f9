// Package replay lists the dead-lettered messages of the ingest queue and
// moves them back onto the main queue once their cause is fixed.
//
// A dead letter is removed only after its copy was accepted by the main
// queue, so an interruption at any point loses nothing (at worst a message
// is replayed twice, which ingest absorbs: a complete interaction is not
// copied again). The copy gets a new MessageId: the queue's duplicate
// detection would silently drop a message sent again under its old id, and
// ingest's "already known to fail" shortcut keys on the message id too, so a
// replay is always tried for real.
package replay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/message"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
)

// Application properties a replayed message carries.
const (
	PropReplayCount   = "replayCount"      // how many times this interaction's message was replayed
	PropReplayOf      = "replayOf"         // the dead letter's MessageId
	PropReplayedAt    = "replayedAt"       // RFC 3339
	PropDeadLetterWas = "replayDeadLetter" // the dead letter's reason, for the record
)

// Peeker browses the dead-letter sub-queue; a listing reads all of it,
// page by page, so a tenant's dead letters behind another's are listed.
type Peeker = queue.DeadLetterPeeker

// Queue is what Apply needs of the queue.
type Queue interface {
	Peeker
	ReceiveDeadLetters(ctx context.Context, max int, wait time.Duration) ([]*queue.Message, error)
	SendBatch(ctx context.Context, msgs []queue.Outgoing) error
	Complete(ctx context.Context, m *queue.Message) error
	Abandon(ctx context.Context, m *queue.Message) error
}

// Failures reads ingest's failure records (store.State satisfies it).
type Failures interface {
	Load(ctx context.Context, name string) (data []byte, etag string, found bool, err error)
}

// Filter selects dead letters. Zero fields select everything.
type Filter struct {
	IDs    []string  // interaction guids or message ids (any match)
	Reason string    // case-insensitive substring of the reason, description or recorded failure
	Since  time.Time // enqueued at or after
	Until  time.Time // enqueued before
	Limit  int       // at most this many (0: no limit)
	// Tenant, when set, keeps only that tenant's messages (a tenants
	// document: each tenant's dead letters are replayed on their own).
	Tenant string
}

// Entry is one dead letter as an operator sees it.
type Entry struct {
	MessageID      string                 `json:"messageId"`
	InteractionID  string                 `json:"interactionId,omitempty"`
	Tenant         string                 `json:"tenant,omitempty"`
	Reason         string                 `json:"reason"`
	Description    string                 `json:"description,omitempty"`
	DeliveryCount  int                    `json:"deliveryCount"`
	EnqueuedAt     time.Time              `json:"enqueuedAt"`
	SequenceNumber int64                  `json:"sequenceNumber"`
	ReplayCount    int                    `json:"replayCount"` // replays so far
	Failure        *records.FailureRecord `json:"failure,omitempty"`
	NewMessageID   string                 `json:"newMessageId,omitempty"` // set once replayed
}

// Pass is how List reads the dead-letter sub-queue (the zero value: the
// queue's defaults, at most queue.MaxDeadLetters).
var Pass queue.DeadLetterPass

// errEnough stops a pass once Limit entries matched.
var errEnough = errors.New("replay: limit reached")

// List returns the dead letters that match f, oldest first, with the
// failure ingest recorded for each interaction. When the queue holds more
// dead letters than one pass reads, it returns the matches among those read
// and an error wrapping queue.ErrTooManyDeadLetters.
func List(ctx context.Context, q Peeker, failures Failures, f Filter) ([]Entry, error) {
	var out []Entry
	err := Pass.Each(ctx, q, func(m *queue.Message) error {
		if f.Limit > 0 && len(out) >= f.Limit {
			return errEnough
		}
		if e := describe(ctx, m, failures); f.match(e) {
			out = append(out, e)
		}
		return nil
	})
	switch {
	case errors.Is(err, errEnough):
	case errors.Is(err, queue.ErrTooManyDeadLetters):
		return out, fmt.Errorf("listed %d matching among the dead letters read: %w", len(out), err)
	case err != nil:
		return nil, fmt.Errorf("peek dead letters: %w", err)
	}
	return out, nil
}

func describe(ctx context.Context, m *queue.Message, failures Failures) Entry {
	e := Entry{
		MessageID: m.ID, Reason: m.DeadLetterReason, Description: m.DeadLetterDescription,
		DeliveryCount: m.DeliveryCount, EnqueuedAt: m.EnqueuedAt, SequenceNumber: m.SequenceNumber,
	}
	if n, err := strconv.Atoi(m.Properties[PropReplayCount]); err == nil && n > 0 {
		e.ReplayCount = n
	}
	if body, err := message.Decode(m.Body); err == nil {
		e.InteractionID, e.Tenant = body.InteractionID, body.Tenant
	}
	if e.InteractionID != "" && failures != nil {
		if data, _, found, err := failures.Load(ctx, records.FailureName(e.InteractionID)); err == nil && found {
			var rec records.FailureRecord
			if json.Unmarshal(data, &rec) == nil {
				e.Failure = &rec
			}
		}
	}
	return e
}

func (f Filter) match(e Entry) bool {
	if f.Tenant != "" && e.Tenant != f.Tenant {
		return false
	}
	if len(f.IDs) > 0 && !slices.ContainsFunc(f.IDs, func(id string) bool {
		return strings.EqualFold(id, e.MessageID) || (e.InteractionID != "" && strings.EqualFold(id, e.InteractionID))
	}) {
		return false
	}
	if !f.Since.IsZero() && e.EnqueuedAt.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !e.EnqueuedAt.Before(f.Until) {
		return false
	}
	if f.Reason != "" {
		text := e.Reason + "\n" + e.Description
		if e.Failure != nil {
			text += "\n" + e.Failure.Reason
		}
		if !strings.Contains(strings.ToLower(text), strings.ToLower(f.Reason)) {
			return false
		}
	}
	return true
}

// Options tune Apply.
type Options struct {
	Batch int              // dead letters received and replayed per round (default 50)
	Wait  time.Duration    // how long a receive waits for the first dead letter (default 1s)
	Now   func() time.Time // clock for PropReplayedAt
	// Progress, when set, is called after each round with the number
	// replayed so far and the number that matched when the run began.
	Progress func(done, total int)
}

// Result is what Apply did.
type Result struct {
	Matched int `json:"matched"` // matching dead letters when the run began
	// MatchedAtLeast: the queue held more dead letters than one listing
	// reads, so more than Matched may match (and be replayed).
	MatchedAtLeast bool    `json:"matchedAtLeast,omitempty"`
	Replayed       []Entry `json:"replayed"` // copies accepted by the main queue
	// NotRemoved are replayed dead letters whose removal failed (their lock
	// was lost): the copy is on the main queue and the dead letter is still
	// there; replaying it again later is harmless.
	NotRemoved []Entry `json:"notRemoved,omitempty"`
}

// ErrSend marks a failure to send copies: nothing of that round was removed
// from the dead-letter queue.
var ErrSend = errors.New("replay: main queue refused the copies; their dead letters stay in place")

// Apply moves the dead letters that match f back onto the main queue.
//
// Each round locks a batch of dead letters, sends copies of the matching
// ones in one batch and, only once that send succeeded, removes them. Dead
// letters that do not match stay locked until the end of the run (so the
// next round reaches the ones behind them) and are then released unchanged.
func Apply(ctx context.Context, q Queue, failures Failures, f Filter, opts Options) (Result, error) {
	if opts.Batch <= 0 {
		opts.Batch = 50
	}
	if opts.Wait <= 0 {
		opts.Wait = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var res Result
	matching, err := List(ctx, q, failures, f)
	if errors.Is(err, queue.ErrTooManyDeadLetters) {
		// Replaying is the remedy for a huge dead-letter queue: go on, the
		// rounds below receive every dead letter; Matched is a lower bound.
		res.MatchedAtLeast = true
	} else if err != nil {
		return res, err
	}
	res.Matched = len(matching)
	if opts.Progress != nil {
		opts.Progress(0, res.Matched)
	}
	if res.Matched == 0 {
		return res, nil
	}

	var held []*queue.Message
	defer func() {
		// Release what this run did not replay; a failure only means the
		// lock expires by itself a little later.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		for _, m := range held {
			_ = q.Abandon(rctx, m)
		}
	}()
	seen := make(map[int64]bool)
	for f.Limit <= 0 || len(res.Replayed) < f.Limit {
		msgs, err := q.ReceiveDeadLetters(ctx, opts.Batch, opts.Wait)
		if err != nil {
			return res, fmt.Errorf("receive dead letters: %w", err)
		}
		fresh := 0
		var picked []*queue.Message
		var entries []Entry
		for _, m := range msgs {
			if seen[m.SequenceNumber] {
				held = append(held, m) // its lock expired and it came round again
				continue
			}
			seen[m.SequenceNumber] = true
			fresh++
			e := describe(ctx, m, failures)
			if !f.match(e) || (f.Limit > 0 && len(res.Replayed)+len(picked) >= f.Limit) {
				held = append(held, m)
				continue
			}
			picked = append(picked, m)
			entries = append(entries, e)
		}
		if fresh == 0 {
			break // nothing new: every dead letter has been looked at
		}
		if len(picked) == 0 {
			continue
		}
		out := make([]queue.Outgoing, len(picked))
		for i, m := range picked {
			o, err := Copy(m, entries[i], opts.Now())
			if err != nil {
				held = append(held, picked...)
				return res, err
			}
			out[i] = o
			entries[i].NewMessageID = o.ID
		}
		if err := q.SendBatch(ctx, out); err != nil {
			held = append(held, picked...)
			return res, fmt.Errorf("%w: %w", ErrSend, err)
		}
		for i, m := range picked {
			if err := q.Complete(ctx, m); err != nil {
				res.NotRemoved = append(res.NotRemoved, entries[i])
				continue
			}
			res.Replayed = append(res.Replayed, entries[i])
		}
		if opts.Progress != nil {
			opts.Progress(len(res.Replayed)+len(res.NotRemoved), res.Matched)
		}
	}
	return res, nil
}

// replaySuffix matches the suffix Copy adds to a message id.
var replaySuffix = regexp.MustCompile(`\.replay-\d+-[0-9a-f]+$`)

// Copy builds the message that replays dead letter m: same body and content
// type, the sender's properties plus the replay record, and a new id
// "<interaction guid>.replay-<n>-<random>" (n counts the replays).
func Copy(m *queue.Message, e Entry, now time.Time) (queue.Outgoing, error) {
	base := e.InteractionID
	if base == "" {
		base = replaySuffix.ReplaceAllString(m.ID, "")
	}
	if len(base) > 80 {
		base = base[:80] // Service Bus ids are at most 128 characters
	}
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		return queue.Outgoing{}, fmt.Errorf("replay: random id: %w", err)
	}
	n := e.ReplayCount + 1
	props := maps.Clone(m.Properties)
	if props == nil {
		props = map[string]string{}
	}
	props[PropReplayCount] = strconv.Itoa(n)
	props[PropReplayOf] = m.ID
	props[PropReplayedAt] = now.UTC().Format(time.RFC3339)
	props[PropDeadLetterWas] = m.DeadLetterReason
	return queue.Outgoing{
		ID:          fmt.Sprintf("%s.replay-%d-%s", base, n, hex.EncodeToString(r[:])),
		Body:        m.Body,
		ContentType: m.ContentType,
		Properties:  props,
	}, nil
}
