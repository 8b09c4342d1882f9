package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/doctor"
	"github.com/vcc-ingest/vcc-ingest/shared/message"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/discover"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/replay"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// opsEnv is the environment of the command tests: the sandbox needs no
// settings but a generous rate budget.
func opsEnv(k string) string {
	return map[string]string{"VCC_RATE_PER_MINUTE": "100000"}[k]
}

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	status := run(context.Background(), args, &stdout, &stderr, opsEnv)
	return status, stdout.String(), stderr.String()
}

func TestOperatorCommandsHelp(t *testing.T) {
	tests := []struct {
		cmd   string
		wants []string
	}{
		{"replay", []string{"Usage: handler replay", "--apply", "-id", "-reason", "-since", "-until", "-limit", "new message id", "Exit status"}},
		{"backfill", []string{"Usage: handler backfill", "-from", "-to", "-dry-run", "checkpoint", "Exit status"}},
		{"doctor", []string{"Usage: handler doctor", "over-privileged", "View inbound interaction content", "Access groups of users' content", "-json", "Exit status: 0 all well, 1 a problem found, 2"}},
		{"report", []string{"Usage: handler report", "-html", "-json", "Stats", "gap", "Exit status"}},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			status, _, stderr := runCmd(t, tt.cmd, "-h")
			if status != 0 {
				t.Fatalf("status %d", status)
			}
			for _, w := range tt.wants {
				if !strings.Contains(stderr, w) {
					t.Errorf("help lacks %q:\n%s", w, stderr)
				}
			}
			if status, _, _ := runCmd(t, tt.cmd, "--no-such-flag"); status != 2 {
				t.Errorf("bad flag: status %d, want 2", status)
			}
		})
	}
	_, stdout, _ := runCmd(t, "help")
	for _, c := range []string{"replay", "backfill", "doctor", "report"} {
		if !strings.Contains(stdout, "handler "+c) {
			t.Errorf("usage lacks %s", c)
		}
	}
}

// deadLetters leaves n dead letters (one per guid) in the embedded queue of
// dataDir, with ingest's failure records in its local state.
func deadLetters(t *testing.T, dataDir string, guids []string, reasons []string) {
	t.Helper()
	ctx := context.Background()
	q, err := queue.OpenEmbedded(filepath.Join(dataDir, "queue.db"), queue.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	state := store.NewDirState(filepath.Join(dataDir, "state"))
	var out []queue.Outgoing
	for _, g := range guids {
		body, _ := message.Encode(message.Body{InteractionID: g})
		out = append(out, queue.Outgoing{ID: g, Body: body, ContentType: message.ContentType})
	}
	if err := q.SendBatch(ctx, out); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(ctx, len(guids), time.Second)
	if err != nil || len(msgs) != len(guids) {
		t.Fatalf("receive %d: %v", len(msgs), err)
	}
	for i, m := range msgs {
		if err := q.DeadLetter(ctx, m, queue.ReasonMaxDeliveryCountExceeded, "Message could not be consumed after 10 delivery attempts."); err != nil {
			t.Fatal(err)
		}
		rec, _ := json.Marshal(records.FailureRecord{InteractionID: guids[i], MessageID: guids[i], Reason: reasons[i], DeliveryCount: 10, At: time.Now()})
		if err := state.Put(ctx, records.FailureName(guids[i]), rec); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReplayCommandOnTheEmbeddedQueue(t *testing.T) {
	data := t.TempDir()
	guids := []string{"aaaaaaaa-1111-4111-8111-111111111111", "bbbbbbbb-2222-4222-8222-222222222222"}
	deadLetters(t, data, guids, []string{"download callRecording: 503 Service Unavailable", "resolve agent 1234: connection refused"})

	status, stdout, stderr := runCmd(t, "replay", "--data", data)
	if status != 0 {
		t.Fatalf("dry run: status %d\n%s", status, stderr)
	}
	for _, w := range append(guids, "2 dead letters", "MaxDeliveryCountExceeded", "503 Service Unavailable", "connection refused", "Dry run: nothing changed") {
		if !strings.Contains(stdout, w) {
			t.Errorf("listing lacks %q:\n%s", w, stdout)
		}
	}
	t.Logf("\n%s", stdout)

	status, stdout, stderr = runCmd(t, "replay", "--data", data, "--apply", "--reason", "503", "--json")
	if status != 0 {
		t.Fatalf("apply: status %d\n%s", status, stderr)
	}
	var res struct {
		Matched  int
		Replayed []replay.Entry
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || res.Matched != 1 || len(res.Replayed) != 1 {
		t.Fatalf("apply output %v:\n%s", err, stdout)
	}
	q, err := queue.OpenEmbedded(filepath.Join(data, "queue.db"), queue.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	msgs, _ := q.Receive(context.Background(), 10, 0)
	dead, _ := q.PeekDeadLetters(context.Background(), 10)
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0].ID, guids[0]+".replay-1-") || msgs[0].Properties[replay.PropReplayCount] != "1" {
		t.Fatalf("main queue: %+v", msgs)
	}
	if len(dead) != 1 || dead[0].ID != guids[1] {
		t.Fatalf("dead letters left: %+v", dead)
	}
}

// A replay after the cause is fixed goes through ingest for real (its new
// message id bypasses the recorded permanent failure) and ends stored.
func TestReplayAfterTheCauseIsFixed(t *testing.T) {
	p := newPipeline(t, vccsim.Options{Seed: 12, Start: day, Days: 1, InteractionsPerDay: 30})
	p.enqueueDay(day)
	p.sim.SetDeny(vccsim.Permissions{Outbound: true}) // downloads of outbound recordings now 404
	p.drain()
	dead := p.deadLetters()
	if len(dead) == 0 {
		t.Fatal("nothing was dead-lettered")
	}
	ctx := context.Background()
	entries, err := replay.List(ctx, p.queue, p.blobs.State(), replay.Filter{})
	if err != nil || len(entries) != len(dead) {
		t.Fatalf("list: %d entries, %v", len(entries), err)
	}
	for _, e := range entries {
		if e.Failure == nil || !e.Failure.Permanent || !strings.Contains(e.Failure.Reason, "not found in VCC") {
			t.Fatalf("entry %+v, failure %+v", e, e.Failure)
		}
	}

	p.sim.SetDeny(vccsim.Permissions{}) // the cause is fixed
	res, err := replay.Apply(ctx, p.queue, p.blobs.State(), replay.Filter{}, replay.Options{Wait: 50 * time.Millisecond})
	if err != nil || len(res.Replayed) != len(dead) {
		t.Fatalf("apply: %+v, %v", res, err)
	}
	p.drain()
	p.checkStored(p.expectedAudio())
	if left := p.deadLetters(); len(left) != 0 {
		t.Fatalf("%d dead letters after the replay", len(left))
	}
	for _, e := range entries {
		if _, _, found, _ := p.blobs.State().Load(ctx, records.FailureName(e.InteractionID)); found {
			t.Errorf("failure record of %s not cleared", e.InteractionID)
		}
	}
}

func TestBackfillCommand(t *testing.T) {
	data := t.TempDir()
	args := []string{"backfill", "--sandbox", "--day", "2026-11-02", "--seed", "13", "--per-day", "40", "--data", data}
	audio := map[string]bool{}
	for _, r := range sandboxTruth13() {
		audio[r.InteractionGUID] = true
	}

	status, stdout, stderr := runCmd(t, append(args, "--dry-run")...)
	if status != 0 || !strings.Contains(stdout, "Would enqueue") || !strings.Contains(stdout, strconv.Itoa(len(audio))) {
		t.Fatalf("dry run: status %d, want %d to enqueue\n%s\n%s", status, len(audio), stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(data, "queue.db")); !os.IsNotExist(err) {
		t.Fatalf("dry run touched the queue: %v", err)
	}

	status, stdout, stderr = runCmd(t, args...)
	if status != 0 {
		t.Fatalf("backfill: status %d\n%s\n%s", status, stdout, stderr)
	}
	t.Logf("\n%s", stdout)
	q, err := queue.OpenEmbedded(filepath.Join(data, "queue.db"), queue.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	msgs, err := q.Receive(context.Background(), 1000, 0)
	if err != nil || len(msgs) != len(audio) {
		t.Fatalf("%d messages queued, want %d (%v)", len(msgs), len(audio), err)
	}
	for _, m := range msgs {
		b, err := message.Decode(m.Body)
		if err != nil || !audio[b.InteractionID] || m.ID != b.InteractionID || b.Source != "backfill" {
			t.Errorf("message %s: %+v %v", m.ID, b, err)
		}
	}
	state := store.NewDirState(filepath.Join(data, "state"))
	if _, _, found, _ := state.Load(context.Background(), discover.CheckpointName); found {
		t.Error("backfill wrote the discover checkpoint")
	}
	runs := 0
	_ = state.List(context.Background(), "runs/backfill/", func(string) error { runs++; return nil })
	if runs != 1 {
		t.Errorf("%d backfill run records, want 1", runs)
	}
}

func sandboxTruth13() []vccsim.Recording {
	sim := vccsim.New(vccsim.Options{Seed: 13, Start: day, InteractionsPerDay: 40})
	var out []vccsim.Recording
	for _, r := range sim.Recordings() {
		if r.Visible && isAudio(r.Type) && r.Audio {
			out = append(out, r)
		}
	}
	return out
}

func TestDoctorCommand(t *testing.T) {
	base := []string{"doctor", "--sandbox", "--per-day", "40", "--days", "2"}
	status, stdout, stderr := runCmd(t, base...)
	if status != 0 || !strings.Contains(stdout, "All well.") {
		t.Fatalf("all well: status %d\n%s\n%s", status, stdout, stderr)
	}
	status, stdout, stderr = runCmd(t, append(base, "--sandbox-deny", "inbound", "--sandbox-grant", "interaction-content:read users:read stats users:write", "--json")...)
	if status != 1 {
		t.Fatalf("status %d, want 1\n%s\n%s", status, stdout, stderr)
	}
	var r doctor.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("JSON: %v\n%s", err, stdout)
	}
	var found []string
	for _, c := range r.Checks {
		if c.Status == doctor.Problem {
			found = append(found, c.Name+": "+c.Detail)
		}
	}
	if len(found) != 2 || !strings.Contains(found[0], "over-privileged") || !strings.Contains(found[1], doctor.PermInbound) {
		t.Errorf("problems %q", found)
	}
	if status, _, stderr := runCmd(t, "doctor", "--sandbox-deny", "sideways", "--sandbox"); status != 2 || !strings.Contains(stderr, "sideways") {
		t.Errorf("bad --sandbox-deny: status %d %s", status, stderr)
	}
}

// A local run, then its report: no gaps; a sidecar removed is a gap, and
// the page is written.
func TestReportCommandAfterALocalRun(t *testing.T) {
	data, out := t.TempDir(), filepath.Join(t.TempDir(), "export")
	sandbox := []string{"--sandbox", "--day", "2026-11-02", "--seed", "14", "--per-day", "30", "--data", data, "--out", out}
	if status, stdout, stderr := runCmd(t, append([]string{"local"}, sandbox...)...); status != 0 {
		t.Fatalf("local: %d\n%s\n%s", status, stdout, stderr)
	}
	page := filepath.Join(t.TempDir(), "coverage.html")
	status, stdout, stderr := runCmd(t, append([]string{"report", "--html", page}, sandbox...)...)
	if status != 0 || !strings.Contains(stdout, "No gaps") || strings.Contains(stdout, "GAP") {
		t.Fatalf("report: status %d\n%s\n%s", status, stdout, stderr)
	}
	t.Logf("\n%s", stdout)
	if b, err := os.ReadFile(page); err != nil || !bytes.Contains(b, []byte(`id="chart"`)) {
		t.Fatalf("page: %v", err)
	}

	// One stored interaction disappears: that day and direction is a gap.
	var victim string
	_ = filepath.Walk(out, func(path string, info os.FileInfo, err error) error {
		if victim == "" && err == nil && info.Name() == store.SidecarFile {
			victim = path
		}
		return nil
	})
	if err := os.Remove(victim); err != nil {
		t.Fatal(err)
	}
	status, stdout, _ = runCmd(t, append([]string{"report", "--json"}, sandbox...)...)
	var r struct {
		Gaps  int
		Total struct{ Missing int }
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("JSON: %v\n%s", err, stdout)
	}
	if status != 1 || r.Gaps != 1 || r.Total.Missing != 1 {
		t.Fatalf("after removing a sidecar: status %d, %+v", status, r)
	}
}

// The sandbox flags are one definition: every command that takes --sandbox
// takes --sandbox-deny and rejects a bad value before doing anything.
func TestSandboxDenyOnEveryCommand(t *testing.T) {
	for _, cmd := range []string{"local", "report", "backfill", "doctor"} {
		status, _, stderr := runCmd(t, cmd, "--sandbox", "--sandbox-deny", "sideways")
		if status != 2 || !strings.Contains(stderr, "sideways") {
			t.Errorf("%s: status %d %s", cmd, status, stderr)
		}
	}
}
