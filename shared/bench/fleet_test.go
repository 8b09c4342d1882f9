package bench

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// Busy time is the union of an instance's invocations, not their sum, and
// both figures end where the run ended.
func TestFleetInstanceSeconds(t *testing.T) {
	in := &fleetInstance{started: time.Now().Add(-10 * time.Second)}
	in.enter()
	in.enter() // two at once count once
	time.Sleep(50 * time.Millisecond)
	in.leave()
	in.leave()
	if in.inFlight() {
		t.Fatal("in flight after every invocation left")
	}
	alive, busy := in.seconds(time.Now())
	if busy < 0.05 || busy > 0.5 {
		t.Errorf("busy %.3f s, want about 0.05 (two overlapping invocations)", busy)
	}
	if alive < 10 || alive > 11 {
		t.Errorf("alive %.1f s, want about 10", alive)
	}
	alive, _ = in.seconds(in.started.Add(4 * time.Second))
	if alive != 4 {
		t.Errorf("alive up to an end 4 s after the start: %.1f s", alive)
	}
}

// A killed instance counts as alive until its kill, however it is stopped
// again afterwards.
func TestFleetInstanceKilledStaysDead(t *testing.T) {
	in := &fleetInstance{started: time.Now(), srv: &http.Server{}}
	in.stop(true)
	killed := in.stopped
	time.Sleep(10 * time.Millisecond)
	in.stop(false)
	if !in.stopped.Equal(killed) {
		t.Errorf("stopped moved from the kill (%s) to %s", killed, in.stopped)
	}
}

// A run that lost, doubled or dead-lettered anything says so; the
// throughput is the calls' time at the budget over the run's.
func TestFleetFigures(t *testing.T) {
	g := fleetFigures{seconds: 120, calls: []int{300}, totalCopied: 290, totalWanted: 290}
	if why := g.complete(); why != "" {
		t.Errorf("complete run: %q", why)
	}
	// Stored by an invocation whose answer was lost, found stored by the
	// redelivery: stored once, not missing.
	if why := (fleetFigures{totalCopied: 287, already: 3, totalWanted: 290}).complete(); why != "" {
		t.Errorf("3 found stored by a redelivery: %q", why)
	}
	if f := g.fraction(0, 160); f < 0.937 || f > 0.938 {
		t.Errorf("300 calls at 160/min take 112.5 s: over 120 s that is 0.9375, got %.4f", f)
	}
	for want, g := range map[string]fleetFigures{
		"289 of 290":    {totalCopied: 289, totalWanted: 290},
		"1 dead letter": {totalCopied: 290, totalWanted: 290, deadLetters: 1},
		"stored twice":  {totalCopied: 290, totalWanted: 290, storedTwice: 2},
	} {
		if why := g.complete(); !strings.Contains(why, want) {
			t.Errorf("complete() = %q, want it to say %q", why, want)
		}
	}
}
