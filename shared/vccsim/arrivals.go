package vccsim

import (
	"slices"
	"sync"
	"time"
)

// Arrival is one API request as the sandbox saw it. Token requests are not
// API requests: VCC's budget does not count them.
type Arrival struct {
	At       time.Time // by Options.Now, when the request reached the API (after Latency)
	Endpoint string    // Endpoint* name
	ID       string    // the interaction or user id in the path; "" for listings
	Status   int       // the answer's status
}

// maxArrivals bounds the log of a long-running sandbox; the oldest half is
// dropped when it is full.
const maxArrivals = 1 << 20

type arrivals struct {
	mu  sync.Mutex
	log []Arrival
}

func (a *arrivals) add(x Arrival) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.log) >= maxArrivals {
		a.log = slices.Delete(a.log, 0, len(a.log)/2)
	}
	a.log = append(a.log, x)
}

func (a *arrivals) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.log = nil
}

// Arrivals returns the log of API requests (the latest million at most),
// oldest first. ResetCounters clears it.
func (s *Sim) Arrivals() []Arrival {
	s.arrivals.mu.Lock()
	out := slices.Clone(s.arrivals.log)
	s.arrivals.mu.Unlock()
	// Entries are added when answered; order them by arrival.
	slices.SortStableFunc(out, func(a, b Arrival) int { return a.At.Compare(b.At) })
	return out
}

// MaxPerMinute is the most API requests that arrived in any rolling 60 s
// span, refused ones included: the figure a fair-usage limit counted over
// any rolling minute compares with its budget.
func (s *Sim) MaxPerMinute() int {
	log := s.Arrivals()
	times := make([]time.Time, len(log))
	for i, a := range log {
		times[i] = a.At
	}
	return MaxInWindow(times, time.Minute)
}

// MaxInWindow returns the most of times (in ascending order) that fall in
// any half-open span [t, t+window).
func MaxInWindow(times []time.Time, window time.Duration) int {
	best, i := 0, 0
	for j := range times {
		for !times[j].Before(times[i].Add(window)) {
			i++
		}
		best = max(best, j-i+1)
	}
	return best
}
