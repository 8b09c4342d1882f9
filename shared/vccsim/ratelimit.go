package vccsim

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// rateLimiter enforces Options.RateLimitPerMinute the strictest way a fair
// usage policy can be read: at most limit API requests in any rolling
// minute. VCC documents neither the number nor the window, so the sandbox
// takes the form that punishes bursts most; a client that stays clear of it
// stays clear of any looser one. Refused requests do not count against the
// budget. It keeps the times of the last limit accepted requests.
type rateLimiter struct {
	mu      sync.Mutex
	window  time.Duration
	times   []time.Time // ring of accepted request times
	next    int         // index of the oldest entry once the ring is full
	full    bool
	refused atomic.Int64
	now     func() time.Time
}

func newRateLimiter(perMinute int) *rateLimiter {
	if perMinute <= 0 {
		return nil
	}
	return &rateLimiter{window: time.Minute, times: make([]time.Time, perMinute), now: time.Now}
}

// allow books one request, or returns how long until one would be accepted.
func (l *rateLimiter) allow() (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.full {
		oldest := l.times[l.next]
		if wait := oldest.Add(l.window).Sub(now); wait > 0 {
			l.refused.Add(1)
			return false, wait
		}
	}
	l.times[l.next] = now
	l.next++
	if l.next == len(l.times) {
		l.next, l.full = 0, true
	}
	return true, 0
}

// limited answers 429 with a Retry-After (whole seconds, rounded up) when
// the request is over the budget; it reports whether it answered.
func (s *Sim) limited(w http.ResponseWriter, a api) bool {
	if s.limit == nil {
		return false
	}
	ok, wait := s.limit.allow()
	if ok {
		return false
	}
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", fmt.Sprint(max(secs, 1)))
	writeError(w, a, http.StatusTooManyRequests, "Too Many Requests: fair usage limit exceeded")
	return true
}

// RateLimited is how many requests the rate limit (Options.RateLimitPerMinute)
// refused with 429, apart from injected 429 faults.
func (s *Sim) RateLimited() int64 {
	if s.limit == nil {
		return 0
	}
	return s.limit.refused.Load()
}
