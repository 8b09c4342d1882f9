package vccsim

import (
	"math/rand/v2"
	"net/http"
	"sync"
)

// fault is what the sandbox does instead of (or while) answering.
type fault int

const (
	faultNone fault = iota
	fault5xx
	faultThrottle
	faultThrottleNoRetryAfter
	faultTruncate
	faultTruncateNoLength
	faultRedirect
)

// faultRoller draws faults from a generator seeded with Options.Seed. It is
// safe for concurrent use; the sequence is deterministic for a sequential
// client.
type faultRoller struct {
	mu sync.Mutex
	r  *rand.Rand
	f  Faults
}

func newFaultRoller(seed int64, f Faults) *faultRoller {
	return &faultRoller{r: newRand(seed, 7), f: f.withDefaults()}
}

func (fr *faultRoller) set(f Faults) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	fr.f = f.withDefaults()
}

func (fr *faultRoller) get() Faults {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	return fr.f
}

// roll decides the fault for one request; download enables the faults that
// only make sense for a content download. It also returns the 5xx status.
func (fr *faultRoller) roll(download bool) (fault, int) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	f := fr.f
	u := fr.r.Float64()
	switch {
	case u < f.Status5xx:
		codes := []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}
		return fault5xx, codes[fr.r.IntN(len(codes))]
	case u < f.Status5xx+f.Throttle:
		return faultThrottle, 0
	case u < f.Status5xx+f.Throttle+f.ThrottleNoRetryAfter:
		return faultThrottleNoRetryAfter, 0
	}
	if !download {
		return faultNone, 0
	}
	u = fr.r.Float64()
	switch {
	case u < f.Truncate:
		return faultTruncate, 0
	case u < f.Truncate+f.TruncateNoLength:
		return faultTruncateNoLength, 0
	case u < f.Truncate+f.TruncateNoLength+f.Redirect:
		return faultRedirect, 0
	}
	return faultNone, 0
}
