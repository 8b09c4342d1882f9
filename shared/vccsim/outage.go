package vccsim

import (
	"net/http"
	"sync"
	"time"
)

// Outage is a spell during which every API request answers 503, as when VCC
// is down: it comes before the rate limit, the faults and the token check.
// The token endpoint keeps answering (it is another host). The zero value
// is no outage.
type Outage struct {
	After    time.Duration // from New, by Options.Now
	Duration time.Duration
}

// outage holds the current spell as absolute times by Options.Now.
type outage struct {
	mu          sync.Mutex
	from, until time.Time
}

func (o *outage) set(from, until time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.from, o.until = from, until
}

func (o *outage) active(now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return !now.Before(o.from) && now.Before(o.until)
}

// StartOutage makes every API request answer 503 from now (Options.Now) for
// d, replacing any outage set before. It can be called at any time.
func (s *Sim) StartOutage(d time.Duration) {
	now := s.opts.Now()
	s.outage.set(now, now.Add(d))
}

// EndOutage ends (or cancels) the outage.
func (s *Sim) EndOutage() { s.outage.set(time.Time{}, time.Time{}) }

// Outage reports whether API requests answer 503 now.
func (s *Sim) Outage() bool { return s.outage.active(s.opts.Now()) }

// down answers 503 when an outage is on; it reports whether it answered.
func (s *Sim) down(w http.ResponseWriter, a api) bool {
	if !s.outage.active(s.opts.Now()) {
		return false
	}
	s.count.update(func(c *Counters) { c.Outage++ })
	writeError(w, a, http.StatusServiceUnavailable, "Service Unavailable")
	return true
}
