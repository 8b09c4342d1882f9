package vcc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// ErrUnavailable is matched (errors.Is) by an *UnavailableError: the
// client's circuit breaker is open because VCC keeps failing.
var ErrUnavailable = errors.New("vcc: unavailable")

// UnavailableError is returned, without calling VCC, while the circuit
// breaker is open. It is transient. A caller holding work (a queue message)
// should put it off for at least RetryIn instead of failing it: the work is
// fine, VCC is down, and failing it would spend its deliveries.
type UnavailableError struct {
	Endpoint string        // the call that was refused
	RetryIn  time.Duration // until the breaker lets its next probe go
	Cause    error         // the latest failure of VCC; may be nil
}

func (e *UnavailableError) Error() string {
	s := "vcc: "
	if e.Endpoint != "" {
		s += e.Endpoint + ": "
	}
	s += fmt.Sprintf("VCC unavailable, circuit open (next probe in %v)", e.RetryIn.Round(time.Millisecond))
	if e.Cause != nil {
		s += "; latest failure: " + e.Cause.Error()
	}
	return s
}

// Is lets callers test errors.Is(err, ErrUnavailable).
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

func (e *UnavailableError) Unwrap() error { return e.Cause }

// outcome is what one call says about VCC's health.
type outcome int

const (
	outcomeNone outcome = iota // says nothing: cancelled, or failed before reaching VCC
	outcomeUp                  // VCC answered (any status but 5xx, 408 and 429)
	outcomeDown                // 5xx, 408, 429, timeout, refused or broken connection
)

// classifyOutcome reads a call's error for the breaker. Any answer other
// than an overload or server failure shows VCC is there, 4xx included.
func classifyOutcome(ctx context.Context, err error) outcome {
	if err == nil {
		return outcomeUp
	}
	if ctx.Err() != nil {
		return outcomeNone // the caller gave up; VCC may be fine
	}
	var ae *APIError
	if errors.As(err, &ae) {
		if ae.Status == http.StatusTooManyRequests || ae.Status == http.StatusRequestTimeout || ae.Status >= 500 || ae.Status == 0 {
			return outcomeDown
		}
		return outcomeUp
	}
	if IsTransient(err) {
		return outcomeDown
	}
	return outcomeNone
}

// breaker is the Client's circuit breaker: one per Client, so one per
// process. It opens after a sustained run of failures (at least failures of
// them, spanning at least sustain, with no answer between), so a burst of
// concurrent 503s is left to the retries while an outage is not. While open,
// one call (the probe) goes through at most every interval and everyone
// else fails fast; any answer closes it.
type breaker struct {
	failures int
	sustain  time.Duration
	interval time.Duration

	mu        sync.Mutex
	streak    int       // failures in a row
	since     time.Time // first failure of the streak
	open      bool
	nextProbe time.Time
	probing   bool  // a probe is in flight
	cause     error // latest failure
	opened    int64 // times it opened
	probes    int64
}

func newBreaker(failures int, sustain, interval time.Duration) *breaker {
	return &breaker{failures: failures, sustain: sustain, interval: interval}
}

// allow reports whether a call may go now, and whether it is the probe.
// While open it returns an *UnavailableError for everyone but the probe.
func (b *breaker) allow(now time.Time, endpoint string) (probe bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return false, nil
	}
	if !b.probing && !now.Before(b.nextProbe) {
		b.probing = true
		b.probes++
		b.nextProbe = now.Add(b.interval)
		return true, nil
	}
	return false, b.refusal(now, endpoint)
}

// refusal builds the error for a call refused while open; b.mu is held.
func (b *breaker) refusal(now time.Time, endpoint string) *UnavailableError {
	wait := b.nextProbe.Sub(now)
	if wait <= 0 {
		wait = b.interval // a probe is in flight; its answer decides
	}
	return &UnavailableError{Endpoint: endpoint, RetryIn: wait, Cause: b.cause}
}

// record takes the outcome of a call that allow let through.
func (b *breaker) record(now time.Time, probe bool, o outcome, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
	}
	switch o {
	case outcomeUp:
		b.open, b.streak, b.cause = false, 0, nil
	case outcomeDown:
		b.cause = err
		if b.streak == 0 {
			b.since = now
		}
		b.streak++
		if b.open {
			if probe {
				b.nextProbe = now.Add(b.interval) // counted from the probe's answer
			}
			return
		}
		if b.streak >= b.failures && now.Sub(b.since) >= b.sustain {
			b.open = true
			b.opened++
			b.nextProbe = now.Add(b.interval)
		}
	}
}

// unavailable returns the refusal when the breaker is open, else nil: a
// call that just failed stops retrying once the breaker has opened.
func (b *breaker) unavailable(now time.Time, endpoint string) *UnavailableError {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return nil
	}
	return b.refusal(now, endpoint)
}

// refused returns what a call would get now: nil when closed or when a probe
// is due, else the refusal. Nothing is claimed.
func (b *breaker) refused(now time.Time) *UnavailableError {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open || !b.probing && !now.Before(b.nextProbe) {
		return nil
	}
	return b.refusal(now, "")
}

// BreakerState is a snapshot of the circuit breaker.
type BreakerState struct {
	Open      bool
	NextProbe time.Time // when open: when the next probe may go
	Opened    int64     // times it opened since the Client was made
	Probes    int64     // calls let through while open
}

func (b *breaker) state() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := BreakerState{Open: b.open, Opened: b.opened, Probes: b.probes}
	if b.open {
		s.NextProbe = b.nextProbe
	}
	return s
}
