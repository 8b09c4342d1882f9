package vcc

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/pace"
)

// Pacer keeps a Client's calls within VCC's request budget. The default is
// in-process (one budget per Client); shared/budget books one budget for
// every process of a VCC account, which is what VCC counts.
type Pacer interface {
	// Reserve books the slot of one call and returns when the call may go;
	// it does not sleep. An error means no slot: the call is not made.
	Reserve(ctx context.Context) (time.Time, error)
	// Pause holds every call until until: VCC answered 429.
	Pause(ctx context.Context, until time.Time)
	// Ahead is how long a call booked now would wait, from what the pacer
	// knows without asking anyone: cheap enough to decide to put work off.
	Ahead() time.Duration
}

// pacingError is a call that was not made because its pacer could not book
// a slot (a shared budget's storage unreachable). It is transient, and it
// says nothing about VCC, so the breaker ignores it.
type pacingError struct{ err error }

func (e *pacingError) Error() string { return e.err.Error() }
func (e *pacingError) Unwrap() error { return &transientError{e.err} }

func isPacingError(err error) bool {
	var pe *pacingError
	return errors.As(err, &pe)
}

// pacerMargin widens the pacer's window beyond VCC's minute. The pacer
// counts calls when they leave; VCC counts them when they arrive. A call
// that takes longer to arrive than one sent a minute later (a new
// connection against a reused one) would otherwise put budget+1 calls in
// one of VCC's minutes. Two seconds covers the spread of a dial and a TLS
// handshake, and costs about 3% of the budget.
const pacerMargin = 2 * time.Second

// pacer keeps every VCC API call of a Client within the request budget: VCC's
// fair-usage limit applies to all APIs together, so one budget serves them
// all. It is a sliding window: a call may go when fewer than budget calls
// went in the trailing window (a minute plus pacerMargin), so a small day
// runs as fast as VCC answers and a large one is held to the budget over any
// rolling minute. A 429 pauses every caller until the server's Retry-After
// (or a backoff) has passed, so concurrent workers do not keep hitting a
// limit that one of them already found; for one window after that, calls
// are spaced evenly instead of released together.
type pacer struct {
	now         func() time.Time // the Client's clock
	mu          sync.Mutex
	budget      int
	window      time.Duration
	interval    time.Duration // window / budget, the spacing after a pause
	sent        []time.Time   // booked slots still inside the window, oldest first
	pausedUntil time.Time
	spacedUntil time.Time // until then, calls are at least interval apart
}

func newPacer(perMinute int) *pacer {
	w := time.Minute + pacerMargin
	return &pacer{now: time.Now, budget: perMinute, window: w, interval: w / time.Duration(perMinute)}
}

// Reserve implements Pacer; the in-process pacer fails only when the slot
// is beyond the caller's limit (pace.WithLimit), and then books nothing.
func (p *pacer) Reserve(ctx context.Context) (time.Time, error) {
	now := p.now()
	limit, limited := pace.Limit(ctx)
	if !limited {
		limit = -1
	}
	wait, ok := p.reserveWithin(now, limit)
	if !ok {
		return time.Time{}, &pace.TakenError{Next: now.Add(wait), Limit: limit}
	}
	return now.Add(wait), nil
}

// Pause implements Pacer.
func (p *pacer) Pause(_ context.Context, until time.Time) { p.pause(until) }

// Ahead implements Pacer.
func (p *pacer) Ahead() time.Duration { return p.wait(p.now()) }

// reserve books the earliest slot at or after now that keeps every window
// within the budget, and returns how long the caller must wait for it.
func (p *pacer) reserve(now time.Time) time.Duration {
	wait, _ := p.reserveWithin(now, -1)
	return wait
}

// reserveWithin is reserve, except that a slot further than limit ahead
// (limit >= 0) is not booked: ok is false. Slots are booked in order, so
// the budget-th latest one decides.
func (p *pacer) reserveWithin(now time.Time, limit time.Duration) (wait time.Duration, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	slot := now
	if slot.Before(p.pausedUntil) {
		slot = p.pausedUntil
	}
	last := time.Time{}
	if n := len(p.sent); n > 0 {
		last = p.sent[n-1]
	}
	if slot.Before(last) {
		slot = last // keeps sent in order when callers' clocks race
	}
	if !last.IsZero() && slot.Before(p.spacedUntil) {
		if t := last.Add(p.interval); slot.Before(t) {
			slot = t
		}
	}
	cut := 0
	for cut < len(p.sent) && !p.sent[cut].Add(p.window).After(slot) {
		cut++
	}
	p.sent = p.sent[cut:] // append reallocates once the front is used up
	if n := len(p.sent); n >= p.budget {
		if t := p.sent[n-p.budget].Add(p.window); slot.Before(t) {
			slot = t
		}
	}
	if limit >= 0 && slot.Sub(now) > limit {
		return slot.Sub(now), false
	}
	p.sent = append(p.sent, slot)
	return slot.Sub(now), true
}

// wait is how long a call booked at now would wait for its slot, without
// booking it: how far ahead the budget is already taken.
func (p *pacer) wait(now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	slot := now
	if slot.Before(p.pausedUntil) {
		slot = p.pausedUntil
	}
	if n := len(p.sent); n > 0 && slot.Before(p.sent[n-1]) {
		slot = p.sent[n-1]
	}
	live := 0
	for _, t := range p.sent {
		if t.Add(p.window).After(slot) {
			live++
		}
	}
	if live >= p.budget {
		if t := p.sent[len(p.sent)-p.budget].Add(p.window); slot.Before(t) {
			slot = t
		}
	}
	return slot.Sub(now)
}

// pause holds every caller until until, then spaces calls for one window:
// after a 429 nobody knows how much of VCC's budget is left.
func (p *pacer) pause(until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if until.After(p.pausedUntil) {
		p.pausedUntil = until
	}
	if t := until.Add(p.window); t.After(p.spacedUntil) {
		p.spacedUntil = t
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backoff returns the delay before retry number attempt (0-based):
// exponential from base, capped at max, with full jitter.
func backoff(base, max time.Duration, attempt int) time.Duration {
	d := base
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max || d <= 0 {
		d = max
	}
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

// maxRetryAfter bounds a server's Retry-After: a broken or hostile value must
// not park the process for hours.
const maxRetryAfter = 10 * time.Minute

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		d = time.Duration(secs * float64(time.Second))
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
		if d < 0 {
			d = 0
		}
	} else {
		return 0, false
	}
	if d > maxRetryAfter {
		d = maxRetryAfter
	}
	return d, true
}
