package vcc

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// The breaker opens on a sustained run of failures only, lets one probe
// through per interval while open, and closes on an answer.
func TestBreakerStateMachine(t *testing.T) {
	b := newBreaker(3, 5*time.Second, 10*time.Second)
	t0 := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	down := &APIError{Endpoint: endpointStatsGet, Status: 503}
	mustAllow := func(ms int, wantProbe bool) {
		t.Helper()
		probe, err := b.allow(at(ms), endpointStatsGet)
		if err != nil || probe != wantProbe {
			t.Fatalf("at %dms: allow = %v, %v; want probe %v, no error", ms, probe, err, wantProbe)
		}
	}
	mustRefuse := func(ms int, retryIn time.Duration) {
		t.Helper()
		_, err := b.allow(at(ms), endpointStatsGet)
		var ue *UnavailableError
		if !errors.As(err, &ue) || !errors.Is(err, ErrUnavailable) || ue.RetryIn != retryIn {
			t.Fatalf("at %dms: allow = %v; want an UnavailableError with RetryIn %v", ms, err, retryIn)
		}
		if !IsTransient(err) || IsPermanent(err) {
			t.Fatalf("UnavailableError must be transient: %v", err)
		}
		if ue.Cause != down {
			t.Fatalf("cause not kept: %v", ue.Cause)
		}
	}

	// Three quick failures are a burst, not an outage.
	for _, ms := range []int{0, 500, 1000} {
		b.record(at(ms), false, outcomeDown, down)
	}
	mustAllow(1100, false)
	// An answer (a 404 is one) resets the streak.
	b.record(at(2000), false, outcomeUp, nil)
	// Three failures over 5.5 s: open.
	for _, ms := range []int{3000, 5000, 8500} {
		b.record(at(ms), false, outcomeDown, down)
	}
	mustRefuse(8500, 10*time.Second)
	mustRefuse(18400, 100*time.Millisecond)
	mustAllow(18500, true)                   // the probe
	mustRefuse(18600, 9900*time.Millisecond) // one at a time
	b.record(at(19000), true, outcomeDown, down)
	mustRefuse(28900, 100*time.Millisecond) // next interval counted from the probe's answer
	mustAllow(29000, true)
	b.record(at(29100), true, outcomeNone, nil) // cancelled: no verdict, no extra probe
	mustRefuse(30000, 9*time.Second)
	mustAllow(39000, true)
	b.record(at(39200), true, outcomeUp, nil)
	mustAllow(39300, false)
	if s := b.state(); s.Open || s.Opened != 1 || s.Probes != 3 {
		t.Errorf("state = %+v, want closed, opened once, 3 probes", s)
	}
}

// 5xx, 429, refused connections and timeouts open the breaker and stop the
// call's retries; answers such as 404 never do.
func TestBreakerFailureKinds(t *testing.T) {
	refusedURL := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		u := "http://" + ln.Addr().String()
		ln.Close()
		return u
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc // nil: connections refused
		mod     func(*Config)
		opens   bool
	}{
		{"503", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 503, map[string]any{"message": "down"})
		}, nil, true},
		{"429", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 429, map[string]any{"message": "slow down"})
		}, nil, true},
		{"refused", nil, nil, true},
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, func(c *Config) { c.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond} }, true},
		{"404", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 404, map[string]any{"message": "no such interaction"})
		}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			var hits atomic.Int64
			if tt.handler != nil {
				f.mux.HandleFunc("/stats/interactions/{guid}", func(w http.ResponseWriter, r *http.Request) {
					hits.Add(1)
					tt.handler(w, r)
				})
			}
			c := newTestClient(t, f, func(c *Config) {
				c.MaxRetries = 10
				c.BreakerFailures = 3
				c.BreakerSustain = time.Nanosecond
				if tt.handler == nil {
					c.APIURL = refusedURL(t)
				}
				if tt.mod != nil {
					tt.mod(c)
				}
			})
			ctx := context.Background()
			for i := 0; i < 4; i++ {
				_, err := c.GetStats(ctx, guid(1))
				if !tt.opens {
					if !errors.Is(err, ErrNotFound) {
						t.Fatalf("call %d: %v, want not found", i, err)
					}
					continue
				}
				if !errors.Is(err, ErrUnavailable) || !IsTransient(err) {
					t.Fatalf("call %d: %v, want ErrUnavailable", i, err)
				}
			}
			cn := c.Counters()
			if cn.Breaker.Open != tt.opens {
				t.Fatalf("breaker open = %v, want %v", cn.Breaker.Open, tt.opens)
			}
			if tt.opens {
				// The first call stopped retrying when the breaker opened;
				// the next three failed fast.
				if cn.Calls[endpointStatsGet] != 3 || cn.FailedFast != 3 {
					t.Errorf("%d calls sent, %d failed fast; want 3 and 3", cn.Calls[endpointStatsGet], cn.FailedFast)
				}
				if c.Available() == nil {
					t.Error("Available() = nil while open")
				}
			} else if c.Available() != nil {
				t.Error("Available() refused with the breaker closed")
			}
		})
	}
}

// During a sandbox outage a client sends at most one probe per interval,
// whatever its callers do; every other call fails fast. Once VCC is back,
// the next probe closes the breaker and calls flow again.
func TestSandboxOutageProbesAndRecovery(t *testing.T) {
	const interval = 250 * time.Millisecond
	sim := startSandbox(t, vccsim.Options{})
	c := sandboxClient(t, sim, func(c *Config) {
		c.MaxRetries = 1000 // only the breaker stops the retries
		c.BreakerFailures = 3
		c.BreakerSustain = 20 * time.Millisecond
		c.ProbeInterval = interval
	})
	ctx := context.Background()
	g := sim.Interactions()[0].GUID
	if _, err := c.GetStats(ctx, g); err != nil {
		t.Fatal(err)
	}
	sim.StartOutage(time.Hour)
	_, err := c.GetStats(ctx, g)
	var ue *UnavailableError
	if !errors.As(err, &ue) || ue.RetryIn <= 0 || ue.RetryIn > interval {
		t.Fatalf("during the outage: %v; want an UnavailableError with RetryIn within %v", err, interval)
	}
	opened := time.Now()
	before := sim.Counters().Outage

	// Eight callers keep trying, far faster than the probe interval.
	const spell = 2 * time.Second
	var wg sync.WaitGroup
	var failedFast, other atomic.Int64
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(opened) < spell {
				_, err := c.GetStats(ctx, g)
				switch {
				case errors.Is(err, ErrUnavailable):
					failedFast.Add(1)
				default:
					other.Add(1)
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	probes := sim.Counters().Outage - before
	if limit := int64(spell/interval) + 1; probes > limit || probes < 2 {
		t.Errorf("%d probes reached the sandbox in %v, want 2..%d (one per %v)", probes, spell, limit, interval)
	}
	if other.Load() != 0 {
		t.Errorf("%d calls failed otherwise than ErrUnavailable", other.Load())
	}
	// The sandbox's own log: the probes are an interval apart.
	var last time.Time
	for _, a := range sim.Arrivals() {
		if a.At.Before(opened) || a.Status != http.StatusServiceUnavailable {
			continue
		}
		if !last.IsZero() && a.At.Sub(last) < interval*9/10 {
			t.Errorf("probes %v apart, want at least %v", a.At.Sub(last), interval)
		}
		last = a.At
	}
	t.Logf("%v outage: %d probes, %d calls failed fast", spell, probes, failedFast.Load())

	// Recovery: within about one interval a probe gets through.
	sim.EndOutage()
	back := time.Now()
	for {
		_, err := c.GetStats(ctx, g)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrUnavailable) || time.Since(back) > 2*interval {
			t.Fatalf("after the outage (%v): %v", time.Since(back), err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	ff := c.Counters().FailedFast
	for i := 0; i < 10; i++ {
		if _, err := c.GetStats(ctx, g); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
	}
	if cn := c.Counters(); cn.Breaker.Open || cn.FailedFast != ff || cn.Breaker.Opened != 1 {
		t.Errorf("after recovery: %+v", cn.Breaker)
	}
}
