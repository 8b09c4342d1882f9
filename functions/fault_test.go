package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/azuritetest"
	"github.com/vcc-ingest/vcc-ingest/shared/config"
	"github.com/vcc-ingest/vcc-ingest/shared/message"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/discover"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/tenancy"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/testenv"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// The fault suite: `make test` runs it short, `make soak` (VCC_INGEST_SOAK=1)
// long. Every test ends by comparing Blob Storage with the sandbox's ground
// truth byte for byte.

// A day under the issue's fault mix, with duplicate deliveries and ingest
// processes killed mid-copy, then a VCC outage that dead-letters what is
// left, a replay of the dead letters, and a last run during which Azurite is
// stopped and restarted: every recording ends stored exactly once and
// byte-identical, no partial blob is ever visible, every failure ends
// retried to success or dead-lettered with its reason, and no log holds the
// secret or a token.
func TestFaultsKillsOutageReplayAndStorageRestart(t *testing.T) {
	perDay, big, kills := 120, 3, 3
	if soak() {
		perDay, big, kills = 1000, 10, 8
	}
	rng := testenv.Rand(t, 21) // logs the seed and how to replay it

	sim := vccsim.New(vccsim.Options{Seed: 21, Start: day, InteractionsPerDay: perDay})
	// A few large recordings, so that a kill often lands mid-upload with
	// blocks staged and not committed.
	for i := 0; i < big; i++ {
		sim.AddInteraction(day.Add(time.Duration(1+i%11)*time.Hour+7*time.Minute), "inbound", 6<<20)
	}
	sim.SetFaults(issueFaults)
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	az := azuritetest.StartPersistent(t)
	want := truth(sim)
	data := t.TempDir()
	var outputs []string
	half, end := day.Add(12*time.Hour), day.Add(24*time.Hour)

	// 1. The first half of the day, killed mid-copy again and again, with
	// duplicate deliveries queued between the runs.
	var guids []string
	for _, r := range want {
		guids = append(guids, r.InteractionGUID)
	}
	for k := 0; k < kills; k++ {
		c := localChild(t, sim, az, data, day, half)
		killMidRun(t, c, az, want, time.Duration(rng.IntN(400))*time.Millisecond)
		outputs = append(outputs, c.out.String())
		stored := committedRecordings(t, az, want)
		t.Logf("kill %d: %d of %d recordings stored", k+1, stored, len(want))
		dups := make([]string, 0, 5)
		for i := 0; i < 5; i++ {
			dups = append(dups, guids[rng.IntN(len(guids))])
		}
		sendDuplicates(t, data, dups, "dup"+string(rune('a'+k)))
	}

	// 2. An outage of VCC's storage (every download cut off) over the whole
	// day with two deliveries allowed: what is not stored yet is
	// dead-lettered, each with the reason recorded.
	sim.SetFaults(vccsim.Faults{Truncate: 1})
	c := localChild(t, sim, az, data, day, end, "INGEST_MAX_ATTEMPTS=2")
	if status := c.exitStatus(t); status != 1 {
		t.Fatalf("outage run: status %d, want 1\n%s", status, c.out.String())
	}
	outputs = append(outputs, c.out.String())
	q := openQueue(t, data)
	dead, err := q.PeekDeadLetters(context.Background(), 100000)
	q.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) == 0 {
		t.Fatal("the outage dead-lettered nothing: the second half of the day was never attempted")
	}
	blobs, err := store.NewBlob(context.Background(), store.BlobConfig{ConnectionString: az.ConnectionString})
	if err != nil {
		t.Fatal(err)
	}
	// Each dead letter says why: the failure ingest recorded, or — for a
	// message whose earlier deliveries died with a killed process and so
	// never failed — the queue's own MaxDeliveryCountExceeded.
	recorded := 0
	for _, m := range dead {
		body, err := message.Decode(m.Body)
		if err != nil {
			t.Fatalf("dead letter %s: %v", m.ID, err)
		}
		data, _, found, err := blobs.State().Load(context.Background(), records.FailureName(body.InteractionID))
		if err != nil {
			t.Fatal(err)
		}
		var rec records.FailureRecord
		switch {
		case found && json.Unmarshal(data, &rec) == nil && rec.Reason != "":
			recorded++
		case m.DeadLetterReason != queue.ReasonMaxDeliveryCountExceeded:
			t.Errorf("dead letter %s has no reason: %q, failure record found=%v %+v", m.ID, m.DeadLetterReason, found, rec)
		}
	}
	if recorded == 0 {
		t.Error("no dead letter has the ingest failure that caused it recorded")
	}
	t.Logf("outage: %d messages dead-lettered, %d with the ingest failure recorded, the rest past their delivery count", len(dead), recorded)

	// 3. Replay the dead letters, then run the day to the end under the
	// fault mix while Azurite is stopped and restarted; replay again if the
	// restart exhausted a message's deliveries.
	sim.SetFaults(issueFaults)
	for round := 1; ; round++ {
		replayed := requeueDeadLetters(t, data, round)
		t.Logf("round %d: %d dead letters replayed", round, len(replayed))
		if round > 1 && len(replayed) == 0 {
			break
		}
		if round > 4 {
			t.Fatalf("dead letters after %d replays", round-1)
		}
		c := localChild(t, sim, az, data, day, end)
		if err := c.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if round == 1 {
			before := countBlobs(t, az)
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && countBlobs(t, az) <= before; {
				time.Sleep(50 * time.Millisecond)
			}
			az.Restart()
			t.Log("Azurite restarted mid-run")
		}
		err := c.cmd.Wait()
		outputs = append(outputs, c.out.String())
		if err != nil {
			t.Logf("run ended with %v", err)
		}
	}

	// Coverage: every recording once, byte-identical; nothing else; no
	// failure record left (each failure was retried to success).
	p := &pipeline{t: t, az: az}
	var all []vccsim.Recording
	for _, r := range want {
		all = append(all, r)
	}
	p.checkStored(all)
	if n := committedRecordings(t, az, want); n != len(want) {
		t.Errorf("%d of %d recordings stored", n, len(want))
	}
	var left []string
	if err := blobs.State().List(context.Background(), "failures/", func(name string) error {
		left = append(left, name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("failure records left after the replay: %v", left)
	}
	counters := sim.Counters()
	// At 1 % a short run may see no redirect; TestFaultsEndInCompleteRecordings
	// covers them at 20 %.
	t.Logf("faults injected %d, redirects followed %d, statuses %v", counters.Faults, counters.ByEndpoint[vccsim.EndpointRedirected], counters.ByStatus)
	if counters.Faults == 0 {
		t.Error("no fault was injected: the mix did not happen")
	}
	if counters.RedirectAuthRejected != 0 {
		t.Errorf("%d redirected downloads carried the bearer token", counters.RedirectAuthRejected)
	}

	// Logs: everything the children printed and wrote to run.log.
	runLog, err := os.ReadFile(filepath.Join(data, "run.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(runLog), "ingest failed") {
		t.Error("run.log shows no failed attempt: the faults were not exercised")
	}
	checkNoSecretIn(t, "run.log", string(runLog), sim, sim.ClientSecret())
	checkNoSecretIn(t, "child output", strings.Join(outputs, "\n"), sim, sim.ClientSecret())
}

// The client secret is rotated while ingest is running: the token that
// expires next is replaced using the new secret, and no recording fails.
func TestFaultsCredentialRotatedMidRun(t *testing.T) {
	perDay := 150
	if soak() {
		perDay = 600
	}
	p := newPipeline(t, vccsim.Options{Seed: 22, Start: day, InteractionsPerDay: perDay, TokenLifetime: 2 * time.Second,
		Latency: 100 * time.Millisecond})
	p.enqueueDay(day)
	f := issueFaults
	f.RetryAfter = time.Millisecond
	p.sim.SetFaults(f)

	drained := make(chan struct{})
	go func() {
		defer close(drained)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if _, err := p.host.Drain(ctx, "ingest", 500*time.Millisecond); err != nil {
			t.Errorf("drain: %v", err)
		}
	}()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		p.mu.Lock()
		n := len(p.results)
		p.mu.Unlock()
		if n >= 10 || time.Now().After(deadline) {
			break
		}
	}
	p.sim.RotateSecret("rotated-secret-value-22")
	p.secret.set("rotated-secret-value-22")
	tokensAtRotation := p.sim.Counters().TokenRequests
	rotatedAt := time.Now()
	<-drained
	if time.Since(rotatedAt) < 2*time.Second {
		t.Fatalf("the run ended %v after the rotation, before the token expired: nothing was tested", time.Since(rotatedAt))
	}
	p.sim.SetFaults(vccsim.Faults{})
	p.checkStored(p.expectedAudio())
	if dead := p.deadLetters(); len(dead) != 0 {
		t.Fatalf("%d dead letters after the rotation: %s", len(dead), dead[0].DeadLetterDescription)
	}
	if p.secret.freshReads < 1 || p.sim.Counters().TokenRequests <= tokensAtRotation {
		t.Errorf("fresh secret reads %d, token requests %d → %d: the new secret was never used",
			p.secret.freshReads, tokensAtRotation, p.sim.Counters().TokenRequests)
	}
}

// 100 scheduled discover runs with random jitter, missed runs (the next one
// past due) and late recordings: every recording is queued and stored, and
// the checkpoint covers the day.
func TestFaultsDiscoverJitterMissedRunsLateRecordings(t *testing.T) {
	perDay := 150
	if soak() {
		perDay = 600
	}
	rng := testenv.Rand(t, 23) // logs the seed and how to replay it
	now := day.Add(30 * time.Minute)
	clock := func() time.Time { return now }
	p := newPipeline(t, vccsim.Options{Seed: 23, Start: day, InteractionsPerDay: perDay, LateRecording: 20 * time.Minute, Now: clock})
	// The product's settings as deployed: DISCOVER_* unset, so their defaults.
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"VCC_CLIENT_ID": "x", "VCC_CLIENT_SECRET": "x"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := tenancy.DiscoverOptions(cfg, slog.New(slog.NewJSONHandler(p.logs, nil)))
	d := discover.New(p.client, p.queue, p.blobs.State(), opts)
	ctx := context.Background()
	missed, pastDue := 0, false
	for run := 0; run < 100; run++ {
		// The schedule is every 15 minutes; each firing drifts by up to
		// ±5 minutes, and about one in six does not happen at all.
		now = now.Add(15*time.Minute + time.Duration(rng.IntN(601)-300)*time.Second)
		if rng.IntN(6) == 0 {
			missed++
			pastDue = true
			continue
		}
		if _, err := d.Run(ctx, now, pastDue); err != nil {
			t.Fatalf("run %d at %v: %v", run, now, err)
		}
		pastDue = false
	}
	t.Logf("%d of 100 runs missed; last run at %v", missed, now)
	if now.Before(day.Add(24*time.Hour + 90*time.Minute)) {
		// The jitter left the last run too early to cover the day's end;
		// one more on-time run, as the schedule would make.
		now = day.Add(24*time.Hour + 90*time.Minute)
		if _, err := d.Run(ctx, now, pastDue); err != nil {
			t.Fatal(err)
		}
	}
	p.drain()
	late := 0
	for _, in := range p.sim.Interactions() {
		if in.Late {
			late++
		}
	}
	if late == 0 {
		t.Fatal("no late recording in the sandbox day: nothing was tested")
	}
	p.checkStored(p.expectedAudio())
	data, _, found, err := p.blobs.State().Load(ctx, discover.CheckpointName)
	var cp discover.Checkpoint
	if err != nil || !found || json.Unmarshal(data, &cp) != nil {
		t.Fatalf("checkpoint: found=%v err=%v", found, err)
	}
	if cp.Through.Before(day.Add(24 * time.Hour)) {
		t.Errorf("checkpoint %v does not cover the day", cp.Through)
	}
	if dead := p.deadLetters(); len(dead) != 0 {
		t.Errorf("%d dead letters", len(dead))
	}
	var sent int
	for _, r := range p.results {
		if r.OK() {
			sent++
		}
	}
	if sent == 0 {
		t.Error("no delivery")
	}
}
