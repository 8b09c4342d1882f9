package bench

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/devhost"
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
	g := fleetFigures{seconds: 120, calls: []int{300}, present: 290, totalWanted: 290}
	if why := g.complete(); why != "" {
		t.Errorf("complete run: %q", why)
	}
	if f := g.fraction(0, 160); f < 0.937 || f > 0.938 {
		t.Errorf("300 calls at 160/min take 112.5 s: over 120 s that is 0.9375, got %.4f", f)
	}
	// With several accounts, each is measured to its own last recording.
	g = fleetFigures{seconds: 120, ownSeconds: []float64{112.5, 120}, calls: []int{300, 300}}
	if a, b := g.fraction(0, 160), g.fraction(1, 160); a != 1 || b < 0.937 || b > 0.938 {
		t.Errorf("accounts done at 112.5 s and 120 s: %.4f and %.4f, want 1 and 0.9375", a, b)
	}
	for want, g := range map[string]fleetFigures{
		"289 of 290":    {present: 289, totalWanted: 290},
		"1 dead letter": {present: 290, totalWanted: 290, deadLetters: 1},
		"stored twice":  {present: 290, totalWanted: 290, storedTwice: 2},
	} {
		if why := g.complete(); !strings.Contains(why, want) {
			t.Errorf("complete() = %q, want it to say %q", why, want)
		}
	}
}

// An interaction is counted by its last invocation's recordings: a
// redelivery that copies the second of two (the first invocation was cut
// off after the first) leaves both stored, and nothing twice.
func TestFleetResultCountsRecordingsInPlace(t *testing.T) {
	f := &fleet{stored: map[string]int{}, copied: map[string]int{}, present: map[string]int{}, copiedBy: map[string]int{}, lastOf: map[string]time.Time{}}
	f.result(devhost.Result{Status: 200, ReturnValue: json.RawMessage(`{"interactionId":"i1","outcome":"stored","recordings":2,"copied":1}`)})
	f.result(devhost.Result{Status: 200, ReturnValue: json.RawMessage(`{"interactionId":"i2","outcome":"stored","recordings":1,"copied":1}`)})
	f.result(devhost.Result{Status: 200, ReturnValue: json.RawMessage(`{"interactionId":"i3","outcome":"complete","recordings":1,"copied":0}`)})
	if present, _ := f.inPlace(); present != 4 {
		t.Errorf("recordings in place: %d, want 4", present)
	}
	f.result(devhost.Result{Status: 200, ReturnValue: json.RawMessage(`{"interactionId":"i2","outcome":"stored","recordings":1,"copied":1}`)})
	if _, twice := f.inPlace(); twice != 1 {
		t.Errorf("i2 stored by two invocations: %d interactions counted twice, want 1", twice)
	}
	// The account's last recording stored is when its work ended.
	if last, ok := f.lastOf[""]; !ok || !last.Equal(f.lastStored) {
		t.Errorf("the single account's last stored: %v, %v; want %v", last, ok, f.lastStored)
	}
}
