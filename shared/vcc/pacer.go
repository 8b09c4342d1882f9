package vcc

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// pacer spaces every VCC API call of a Client to the request budget: VCC's
// fair-usage limit applies to all APIs together, so one budget serves them
// all. It is a token bucket in GCRA form: a call may go at most burst
// intervals ahead of the steady rate. A 429 pauses every caller until the
// server's Retry-After (or a backoff) has passed, so concurrent workers do
// not keep hitting a limit that one of them already found.
type pacer struct {
	mu          sync.Mutex
	interval    time.Duration
	tolerance   time.Duration // (burst-1) * interval
	next        time.Time     // theoretical arrival time of the next call
	pausedUntil time.Time
}

func newPacer(perMinute int) *pacer {
	// No burst: VCC's fair-usage limit may be counted over any rolling
	// minute, and a burst after an idle spell would put that minute over the
	// budget. Strict spacing keeps every rolling minute within it.
	return &pacer{interval: time.Minute / time.Duration(perMinute)}
}

// reserve books the next slot and returns how long the caller must wait.
func (p *pacer) reserve(now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	tat := p.next
	if tat.Before(now) {
		tat = now
	}
	slot := tat.Add(-p.tolerance)
	if slot.Before(now) {
		slot = now
	}
	if slot.Before(p.pausedUntil) {
		slot = p.pausedUntil
	}
	if tat.Before(slot) {
		tat = slot
	}
	p.next = tat.Add(p.interval)
	return slot.Sub(now)
}

// wait blocks until the caller may send one request.
func (p *pacer) wait(ctx context.Context) error {
	return sleep(ctx, p.reserve(time.Now()))
}

// pause holds every caller until until. After the pause calls resume at the
// steady rate, without a burst.
func (p *pacer) pause(until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if until.After(p.pausedUntil) {
		p.pausedUntil = until
	}
	if t := until.Add(p.tolerance); t.After(p.next) {
		p.next = t
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
