package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/discover"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/ingest"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// outagePipeline is a pipeline whose VCC client opens its circuit breaker
// fast and whose ingest defers with a short back-off, so an outage of a
// few seconds stands for a long one.
func outagePipeline(t *testing.T, seed int64, horizon time.Duration) *pipeline {
	t.Helper()
	p := newPipeline(t, vccsim.Options{Seed: seed, Start: day, Days: 1, InteractionsPerDay: 12})
	client, err := vcc.New(vcc.Config{
		TokenURL: p.sim.TokenURL(), APIURL: p.sim.APIURL(), ClientID: vccsim.DefaultClientID, Secret: p.secret,
		RatePerMinute: 600000, BackoffBase: time.Millisecond, BackoffMax: 20 * time.Millisecond,
		BreakerFailures: 3, BreakerSustain: 100 * time.Millisecond, ProbeInterval: 200 * time.Millisecond,
		Logger: p.srv.Log,
	})
	if err != nil {
		t.Fatal(err)
	}
	p.srv.Ingest = ingest.New(client, p.blobs, p.blobs.State(), ingest.Options{
		IsAudio: isAudio, Logger: p.srv.Log, Requeue: p.queue,
		DeferBase: 100 * time.Millisecond, DeferMax: 400 * time.Millisecond, DeferralHorizon: horizon,
	})
	// The run is not over while deferred copies wait for their time.
	p.host.Pending = func() (int, error) {
		st, err := p.queue.Stats()
		return st.Active + st.Locked + st.Scheduled, err
	}
	return p
}

// Every VCC call failing for far longer than the queue's five deliveries
// last is ridden out: ingest defers each message (a scheduled copy) while
// the breaker is open, and when VCC is back every recording is stored,
// none dead-lettered.
func TestOutageIsRiddenOutWithoutDeadLetters(t *testing.T) {
	p := outagePipeline(t, 21, time.Hour)
	run := p.enqueueDay(day)
	p.sim.StartOutage(4 * time.Second)
	p.drain()
	deferred := 0
	p.mu.Lock()
	for _, r := range p.results {
		if r.OK() && strings.Contains(string(r.ReturnValue), `"outcome":"deferred"`) {
			deferred++
		}
	}
	p.mu.Unlock()
	if deferred == 0 {
		t.Fatal("nothing was deferred: the outage was not seen")
	}
	if dead := p.deadLetters(); len(dead) != 0 {
		t.Fatalf("%d dead letters, want none: the outage spent the deliveries", len(dead))
	}
	p.checkStored(p.expectedAudio())
	t.Logf("%d messages, %d deferrals, %d 503s during the outage", run.Enqueued, deferred, p.sim.Counters().Outage)
}

// Work put off for longer than the horizon is a permanent failure that the
// queue dead-letters, with the horizon as its reason.
func TestDeferralHorizonDeadLetters(t *testing.T) {
	p := outagePipeline(t, 22, 500*time.Millisecond)
	p.enqueueDay(day)
	p.sim.StartOutage(time.Hour)
	p.drain()
	dead := p.deadLetters()
	if len(dead) == 0 {
		t.Fatal("nothing dead-lettered past the horizon")
	}
	for _, m := range dead {
		guid := strings.SplitN(m.ID, ".", 2)[0]
		data, _, found, err := p.blobs.State().Load(t.Context(), records.FailureName(guid))
		if err != nil || !found || !strings.Contains(string(data), "deferral horizon") {
			t.Errorf("%s: failure record %s (found %v, %v), want the horizon as the reason", m.ID, data, found, err)
		}
	}
}

// Discover during an outage fails without moving its checkpoint; the next
// tick after VCC's return lists on from where the checkpoint stood.
func TestDiscoverKeepsItsCheckpointThroughAnOutage(t *testing.T) {
	p := newPipeline(t, vccsim.Options{Seed: 23, Start: day, Days: 1, InteractionsPerDay: 30})
	ctx := t.Context()
	through := func() time.Time {
		t.Helper()
		data, _, found, err := p.blobs.State().Load(ctx, discover.CheckpointName)
		if err != nil || !found {
			t.Fatalf("checkpoint: found %v, %v", found, err)
		}
		var cp discover.Checkpoint
		if err := json.Unmarshal(data, &cp); err != nil {
			t.Fatal(err)
		}
		return cp.Through
	}
	now := day.Add(12 * time.Hour)
	if _, err := p.srv.Discover.Run(ctx, now, false); err != nil {
		t.Fatal(err)
	}
	before := through()
	p.sim.StartOutage(time.Hour)
	if _, err := p.srv.Discover.Run(ctx, now.Add(15*time.Minute), false); err == nil || vcc.IsPermanent(err) {
		t.Fatalf("discover during the outage: %v, want a transient failure", err)
	}
	if got := through(); !got.Equal(before) {
		t.Fatalf("the checkpoint moved from %v to %v during the outage", before, got)
	}
	p.sim.EndOutage()
	run, err := p.srv.Discover.Run(ctx, now.Add(30*time.Minute), false)
	if err != nil {
		t.Fatal(err)
	}
	if !run.Start.Equal(before.Add(-time.Hour)) || !run.End.Equal(now.Add(20*time.Minute)) {
		t.Errorf("the tick after the outage listed %v → %v; want from the checkpoint %v less the overlap to now less the settle", run.Start, run.End, before)
	}
}
