package vcc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"

	"github.com/vcc-ingest/vcc-ingest/shared/pace"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"5", 5 * time.Second, true},
		{" 0 ", 0, true},
		{"1.5", 1500 * time.Millisecond, true},
		{"-3", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"86400", maxRetryAfter, true},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBackoffFullJitterBounds(t *testing.T) {
	base, max := 100*time.Millisecond, 2*time.Second
	for attempt := 0; attempt < 10; attempt++ {
		ceiling := min(base<<attempt, max)
		var top time.Duration
		for i := 0; i < 500; i++ {
			d := backoff(base, max, attempt)
			if d < 0 || d > ceiling {
				t.Fatalf("attempt %d: %v outside [0, %v]", attempt, d, ceiling)
			}
			top = maxDur(top, d)
		}
		if top < ceiling/2 {
			t.Errorf("attempt %d: largest of 500 draws %v; jitter not spread up to %v", attempt, top, ceiling)
		}
	}
}

func maxDur(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

// A burst up to the budget goes at once, however recent the last calls:
// only the trailing window counts. The next call waits until the first of
// the burst has left the window.
func TestPacerBurstUnderBudgetNotDelayed(t *testing.T) {
	p := newPacer(160)
	now := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 160; i++ {
		if w := p.reserve(now.Add(time.Duration(i) * time.Millisecond)); w != 0 {
			t.Fatalf("call %d of a burst of 160 waits %v", i+1, w)
		}
	}
	if w := p.reserve(now.Add(time.Second)); w != p.window-time.Second {
		t.Errorf("161st call waits %v, want %v", w, p.window-time.Second)
	}
	// After an idle spell the whole budget is usable again.
	later := now.Add(time.Hour)
	for i := 0; i < 160; i++ {
		if w := p.reserve(later); w != 0 {
			t.Fatalf("after idle: call %d waits %v", i+1, w)
		}
	}
}

// Over many calls arriving at random, in bursts and lulls, no rolling
// minute at VCC holds more than the budget, even with each call taking up
// to 2 s longer to arrive than another; and a saturated pacer still
// uses the whole budget of every window.
func TestPacerHoldsEveryRollingMinute(t *testing.T) {
	const budget = 160
	const jitter = 2 * time.Second // the spread pacerMargin is meant to cover
	r := rand.New(rand.NewPCG(1, 2))
	p := newPacer(budget)
	now := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	var arrivals []time.Time
	for i := 0; i < 5000; i++ {
		switch r.IntN(100) {
		case 0:
			now = now.Add(time.Duration(r.IntN(90)) * time.Second) // a lull
		default:
			now = now.Add(time.Duration(r.IntN(40)) * time.Millisecond) // far over the budget
		}
		sent := now.Add(p.reserve(now))
		arrivals = append(arrivals, sent.Add(time.Duration(r.Int64N(int64(jitter)))))
	}
	slices.SortFunc(arrivals, time.Time.Compare)
	if got := vccsim.MaxInWindow(arrivals, time.Minute); got > budget {
		t.Errorf("%d calls arrived in one rolling minute, budget %d", got, budget)
	}

	// Saturated: 1600 calls asked for at once go in 10 windows, a full
	// budget in each.
	p = newPacer(budget)
	var last time.Duration
	for i := 0; i < 10*budget; i++ {
		w := p.reserve(now)
		if want := time.Duration(i/budget) * p.window; w != want {
			t.Fatalf("call %d waits %v, want %v", i+1, w, want)
		}
		last = w
	}
	if last != 9*p.window {
		t.Errorf("last call waits %v", last)
	}
}

// A 429 pause holds everyone; afterwards calls are spaced for one window
// instead of released together.
func TestPacerPauseHoldsEveryone(t *testing.T) {
	p := newPacer(60)
	now := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	p.pause(now.Add(10 * time.Second))
	w := []time.Duration{p.reserve(now), p.reserve(now), p.reserve(now.Add(5 * time.Second))}
	iv := p.window / 60
	want := []time.Duration{10 * time.Second, 10*time.Second + iv, 10*time.Second + 2*iv - 5*time.Second}
	if fmt.Sprint(w) != fmt.Sprint(want) {
		t.Errorf("waits = %v, want %v (no burst right after a pause)", w, want)
	}
	// A window after the pause, bursts are allowed again.
	after := now.Add(10*time.Second + p.window + time.Minute)
	if w1, w2 := p.reserve(after), p.reserve(after); w1 != 0 || w2 != 0 {
		t.Errorf("a window after the pause: waits %v, %v, want none", w1, w2)
	}
}

// wait tells how far ahead the budget is taken, without booking a slot.
func TestPacerWaitPeeks(t *testing.T) {
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	p := newPacer(3)
	if w := p.wait(now); w != 0 {
		t.Fatalf("empty pacer waits %v", w)
	}
	for i := 0; i < 3; i++ {
		p.reserve(now)
	}
	if w := p.wait(now.Add(time.Second)); w != p.window-time.Second {
		t.Errorf("wait with the budget used = %v, want %v", w, p.window-time.Second)
	}
	if w := p.wait(now.Add(time.Second)); w != p.window-time.Second || len(p.sent) != 3 {
		t.Errorf("wait booked a slot: %d booked", len(p.sent))
	}
	if w := p.reserve(now.Add(time.Second)); w != p.window-time.Second {
		t.Errorf("reserve after wait = %v", w)
	}
	if w := p.wait(now.Add(p.window + time.Second)); w != 0 {
		t.Errorf("after the window: %v", w)
	}
}

// scriptedPacer is a Pacer that records what the Client asks of it.
type scriptedPacer struct {
	mu       sync.Mutex
	reserved int
	paused   []time.Time
	err      error // Reserve's answer when set
	ahead    time.Duration
}

func (p *scriptedPacer) Reserve(context.Context) (time.Time, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reserved++
	return time.Now(), p.err
}

func (p *scriptedPacer) Pause(_ context.Context, until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = append(p.paused, until)
}

func (p *scriptedPacer) Ahead() time.Duration { return p.ahead }

// Config.Pacer replaces the in-process pacer: every attempt books through
// it, a 429 pauses it, and PacerWait asks it.
func TestConfigPacerPacesEveryCall(t *testing.T) {
	f := newFake(t)
	var calls atomic.Int64
	f.mux.HandleFunc("/stats/interactions/{guid}", func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "0.2")
			writeJSON(w, 429, map[string]any{"message": "Too many requests"})
			return
		}
		statsHandler(w, r)
	})
	p := &scriptedPacer{ahead: 42 * time.Second}
	c := newTestClient(t, f, func(c *Config) { c.Pacer = p })
	began := time.Now()
	if _, err := c.GetStats(context.Background(), guid(1)); err != nil {
		t.Fatal(err)
	}
	if p.reserved != 2 {
		t.Errorf("Reserve called %d times for 2 attempts", p.reserved)
	}
	if len(p.paused) != 1 || p.paused[0].Before(began.Add(200*time.Millisecond)) {
		t.Errorf("Pause calls = %v, want one until at least Retry-After after %v", p.paused, began)
	}
	if w := c.PacerWait(); w != 42*time.Second {
		t.Errorf("PacerWait = %v, want the pacer's Ahead", w)
	}
}

type budgetDown struct{}

func (budgetDown) Error() string { return "budget storage unreachable" }

// A pacer that cannot book a slot stops the call before anything is sent:
// the error is transient, keeps its type for errors.As, is not retried,
// and does not count as a failure of VCC for the circuit breaker.
func TestPacerFailureIsTransientUnsentAndNotVCCs(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("/stats/interactions/{guid}", statsHandler)
	p := &scriptedPacer{err: budgetDown{}}
	c := newTestClient(t, f, func(c *Config) {
		c.Pacer = p
		c.BreakerFailures, c.BreakerSustain = 1, time.Nanosecond
	})
	for i := 0; i < 3; i++ {
		_, err := c.GetStats(context.Background(), guid(1))
		var bd budgetDown
		if !IsTransient(err) || IsPermanent(err) || !errors.As(err, &bd) {
			t.Fatalf("error %v: transient %v, permanent %v, errors.As %v; want a transient budgetDown",
				err, IsTransient(err), IsPermanent(err), errors.As(err, &bd))
		}
		time.Sleep(time.Millisecond)
	}
	if n := f.apiRequests.Load(); n != 0 {
		t.Errorf("%d API requests sent without a slot", n)
	}
	if p.reserved != 3 {
		t.Errorf("Reserve called %d times for 3 calls; a failed booking must not be retried here", p.reserved)
	}
	if st := c.Counters().Breaker; st.Open || st.Opened != 0 {
		t.Errorf("breaker %+v: an unreachable budget is not an outage of VCC", st)
	}
	p.mu.Lock()
	p.err = nil
	p.mu.Unlock()
	if _, err := c.GetStats(context.Background(), guid(1)); err != nil {
		t.Fatalf("with the budget back: %v", err)
	}
}

// Under a pace limit, the client's first call whose slot is further ahead
// is not made, not retried and not held: the caller gets a
// *pace.TakenError naming the slot, and the breaker hears nothing. The
// pacer books nothing for it, so the next call without a limit gets the
// slot that was named.
func TestCallBeyondThePaceLimitIsNotMade(t *testing.T) {
	f := newFake(t)
	day := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	f.mux.HandleFunc("/interaction-content/interactions/{guid}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, item(r.PathValue("guid"), day, nil))
	})
	c := newTestClient(t, f, func(cfg *Config) { cfg.RatePerMinute = 1 })
	ctx := context.Background()
	if _, err := c.GetInteraction(ctx, guid(1)); err != nil { // the budget's one call
		t.Fatal(err)
	}
	before := f.apiRequests.Load()
	_, err := c.GetInteraction(pace.WithLimit(ctx, 5*time.Second), guid(2))
	te, ok := pace.Taken(err)
	if !ok || time.Until(te.Next) < 55*time.Second {
		t.Fatalf("call beyond the limit: %v; want a TakenError about a minute ahead", err)
	}
	if IsPermanent(err) || errors.Is(err, ErrUnavailable) {
		t.Errorf("a taken budget classed as a VCC failure: %v", err)
	}
	if n := f.apiRequests.Load() - before; n != 0 {
		t.Errorf("%d requests sent for a call put off", n)
	}
	if c.Available() != nil {
		t.Error("the breaker counted a call that was never made")
	}
	if w := c.PacerWait(); w < 55*time.Second || w > te.Next.Sub(time.Now())+time.Second {
		t.Errorf("PacerWait = %v after the refusal, want the slot named (%v)", w, time.Until(te.Next))
	}
}
