package vccsim

import (
	"net/http"
	"testing"
	"time"
)

// The limiter admits at most the budget in any rolling minute, says how long
// to wait, and does not count what it refused.
func TestRateLimiterRollingMinute(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}
	l := newRateLimiter(3)
	l.now = clock.Now
	steps := []struct {
		advance  time.Duration
		allowed  bool
		waitLeft time.Duration
	}{
		{0, true, 0},
		{10 * time.Second, true, 0},
		{10 * time.Second, true, 0},
		{10 * time.Second, false, 30 * time.Second}, // 3 in the last 30 s: wait for the first to age out
		{29 * time.Second, false, time.Second},
		{time.Second, true, 0},       // the first request is a minute old
		{0, false, 10 * time.Second}, // refused requests did not count
		{10 * time.Second, true, 0},
	}
	for i, s := range steps {
		clock.Add(s.advance)
		ok, wait := l.allow()
		if ok != s.allowed || wait != s.waitLeft {
			t.Fatalf("step %d: allow = %v, wait %v; want %v, %v", i, ok, wait, s.allowed, s.waitLeft)
		}
	}
	if got := l.refused.Load(); got != 3 {
		t.Errorf("refused = %d, want 3", got)
	}
	if newRateLimiter(0) != nil {
		t.Error("a zero budget must mean no limiter")
	}
}

// Over the budget the API answers 429 with Retry-After; the token endpoint
// is not limited.
func TestRateLimitAnswers429(t *testing.T) {
	s := startSim(t, Options{Seed: 1, InteractionsPerDay: 5, RateLimitPerMinute: 2})
	tok := token(t, s, ScopeContent)
	path := "/interaction-content/interactions?start=2026-11-02T00:00:00Z&end=2026-11-03T00:00:00Z"
	var statuses []int
	var retryAfter string
	for i := 0; i < 3; i++ {
		resp := get(t, s, tok, MediaV3, path)
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
		retryAfter = resp.Header.Get("Retry-After")
	}
	want := []int{http.StatusOK, http.StatusOK, http.StatusTooManyRequests}
	for i := range want {
		if statuses[i] != want[i] {
			t.Fatalf("statuses = %v, want %v", statuses, want)
		}
	}
	if retryAfter == "" || retryAfter == "0" {
		t.Errorf("Retry-After = %q", retryAfter)
	}
	if got := s.RateLimited(); got != 1 {
		t.Errorf("RateLimited = %d, want 1", got)
	}
	token(t, s, ScopeContent) // still served
}
