package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/message"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/queue/queuetest"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

var day0 = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

var audioTypes = map[string]bool{"callRecording": true, "voicemail": true, "ivrAudioRecording": true}

func isAudio(t string) bool { return audioTypes[t] }

// world is a sandbox of two days and what a pipeline left behind: most
// interactions with audio stored, one failing and dead-lettered, one never
// ingested, one chat skipped.
type world struct {
	sim                     *vccsim.Sim
	client                  *vcc.Client
	sink                    *store.Dir
	state                   *store.DirState
	q                       *queue.Embedded
	failing, never, skipped vccsim.InteractionInfo
}

func newWorld(t *testing.T, deny vccsim.Permissions) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{}
	w.sim = vccsim.New(vccsim.Options{Seed: 31, Start: day0, Days: 2, InteractionsPerDay: 60, Deny: deny})
	if err := w.sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.sim.Close)
	var err error
	w.client, err = vcc.New(vcc.Config{TokenURL: w.sim.TokenURL(), APIURL: w.sim.APIURL(), ClientID: w.sim.ClientID(),
		Secret: secrets.Static(secrets.New(w.sim.ClientSecret())), RatePerMinute: 600000})
	if err != nil {
		t.Fatal(err)
	}
	w.sink = store.NewDir(t.TempDir())
	w.state = store.NewDirState(t.TempDir())
	w.q, err = queue.OpenEmbedded(filepath.Join(t.TempDir(), "queue.db"), queue.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.q.Close() })

	audio := map[string]bool{}
	for _, r := range w.sim.Recordings() {
		if r.Audio && r.Visible {
			audio[r.InteractionGUID] = true
		}
	}
	var withAudio []vccsim.InteractionInfo
	for _, in := range w.sim.Interactions() {
		switch {
		case audio[in.GUID]:
			withAudio = append(withAudio, in)
		case in.Visible && in.Medium == "Chat" && w.skipped.GUID == "":
			w.skipped = in
		}
	}
	w.failing, w.never = withAudio[3], withAudio[len(withAudio)-2]
	for _, in := range withAudio {
		if in.GUID == w.failing.GUID || in.GUID == w.never.GUID {
			continue
		}
		if err := w.sink.PutSidecar(ctx, store.SidecarName(in.Start, in.GUID), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	if w.skipped.GUID != "" {
		if err := w.state.Put(ctx, records.SkippedName(w.skipped.Start, w.skipped.GUID), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	rec, _ := json.Marshal(records.FailureRecord{InteractionID: w.failing.GUID, Reason: "boom"})
	if err := w.state.Put(ctx, records.FailureName(w.failing.GUID), rec); err != nil {
		t.Fatal(err)
	}
	start := w.failing.Start
	body, _ := message.Encode(message.Body{InteractionID: w.failing.GUID, Start: &start})
	if err := w.q.SendBatch(ctx, []queue.Outgoing{{ID: w.failing.GUID, Body: body}}); err != nil {
		t.Fatal(err)
	}
	msgs, err := w.q.Receive(ctx, 1, time.Second)
	if err != nil || len(msgs) != 1 {
		t.Fatal(err)
	}
	if err := w.q.DeadLetter(ctx, msgs[0], "MaxDeliveryCountExceeded", "test"); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) build(t *testing.T) Report {
	t.Helper()
	var steps []string
	r, err := Build(context.Background(), Sources{VCC: w.client, Sink: w.sink, State: w.state, Queue: w.q, IsAudio: isAudio,
		Progress: func(s string) { steps = append(steps, s) }}, day0, day0.Add(36*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) < 6 {
		t.Errorf("progress steps %v", steps)
	}
	return r
}

// The counts of every row equal the sandbox's ground truth.
func TestReportMatchesGroundTruth(t *testing.T) {
	w := newWorld(t, vccsim.Permissions{})
	r := w.build(t)
	if len(r.Days) != 2 || r.Days[0] != "2026-11-02" || r.Days[1] != "2026-11-03" || !r.To.Equal(day0.Add(48*time.Hour)) {
		t.Fatalf("days %v to %v (36h must round up to whole days)", r.Days, r.To)
	}
	want := map[[2]string]*Row{}
	audio := map[string]bool{}
	for _, rec := range w.sim.Recordings() {
		if rec.Audio && rec.Visible {
			audio[rec.InteractionGUID] = true
		}
	}
	for _, in := range w.sim.Interactions() {
		k := [2]string{in.Start.Format(time.DateOnly), in.Direction}
		if want[k] == nil {
			want[k] = &Row{}
		}
		x := want[k]
		x.Stats++
		if in.Visible {
			x.Content++
		}
		if audio[in.GUID] {
			x.Audio++
			if in.GUID != w.failing.GUID && in.GUID != w.never.GUID {
				x.Stored++
			} else {
				x.Missing++
			}
		}
		if in.GUID == w.skipped.GUID {
			x.Skipped++
		}
		if in.GUID == w.failing.GUID {
			x.Failed++
			x.DeadLettered++
		}
	}
	if len(r.Rows) != 6 {
		t.Fatalf("%d rows, want 2 days × 3 directions", len(r.Rows))
	}
	gaps := 0
	for _, got := range r.Rows {
		x := want[[2]string{got.Day, got.Direction}]
		if x == nil {
			x = &Row{}
		}
		if got.Stats != x.Stats || got.Content != x.Content || got.Audio != x.Audio || got.Stored != x.Stored ||
			got.Skipped != x.Skipped || got.Failed != x.Failed || got.DeadLettered != x.DeadLettered || got.Missing != x.Missing {
			t.Errorf("%s %s: got %+v, want %+v", got.Day, got.Direction, got, *x)
		}
		if got.Gap != (x.Missing > 0) {
			t.Errorf("%s %s: gap %v with %d missing", got.Day, got.Direction, got.Gap, x.Missing)
		}
		if got.Gap {
			gaps++
		}
	}
	if r.Gaps != gaps || r.Total.Missing != 2 || r.Total.DeadLettered != 1 || r.Total.Stats != 120 {
		t.Errorf("totals %+v, gaps %d", r.Total, r.Gaps)
	}

	var table bytes.Buffer
	if err := WriteTable(&table, r); err != nil {
		t.Fatal(err)
	}
	out := table.String()
	for _, want := range []string{"GAP", "dead-lettered: handler replay", "not ingested yet or never enqueued: handler backfill", "2026-11-03"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	t.Logf("\n%s", out)
	var js bytes.Buffer
	if err := WriteJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Rows) != 6 || back.Total.Missing != 2 || back.Gaps != r.Gaps {
		t.Fatalf("JSON: %v", err)
	}
}

// Inbound content switched off: every inbound row is a gap that points at
// the doctor, and the other directions are not blamed.
func TestReportFlagsSilentDirection(t *testing.T) {
	w := newWorld(t, vccsim.Permissions{Inbound: true})
	r := w.build(t)
	for _, x := range r.Rows {
		silent := strings.Contains(strings.Join(x.Notes, " "), "handler doctor")
		if (x.Direction == "inbound") != silent || (x.Direction == "inbound" && (x.Content != 0 || !x.Gap)) {
			t.Errorf("%s %s: %+v", x.Day, x.Direction, x)
		}
	}
}

func TestReportRejectsEmptyWindow(t *testing.T) {
	if _, err := Build(context.Background(), Sources{}, day0, day0); err == nil {
		t.Fatal("no error for an empty window")
	}
}

// With a tenants document one queue serves every tenant: a tenant's report
// counts only the dead letters whose message names it.
func TestReportCountsTheTenantsDeadLetters(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, vccsim.Permissions{})
	// Another tenant's dead letter for the same interaction (the same VCC
	// account connected twice), and one of a second interaction of this world.
	start := w.never.Start
	for _, m := range []struct{ id, tenant, guid string }{
		{"globex:" + w.failing.GUID, "globex", w.failing.GUID},
		{"globex:" + w.never.GUID, "globex", w.never.GUID},
	} {
		body, _ := message.Encode(message.Body{InteractionID: m.guid, Start: &start, Tenant: m.tenant})
		if err := w.q.SendBatch(ctx, []queue.Outgoing{{ID: m.id, Body: body}}); err != nil {
			t.Fatal(err)
		}
		msgs, err := w.q.Receive(ctx, 1, time.Second)
		if err != nil || len(msgs) != 1 {
			t.Fatal(err)
		}
		if err := w.q.DeadLetter(ctx, msgs[0], "MaxDeliveryCountExceeded", "test"); err != nil {
			t.Fatal(err)
		}
	}
	count := func(tenant string) int {
		r, err := Build(ctx, Sources{VCC: w.client, Sink: w.sink, State: w.state, Queue: w.q, IsAudio: isAudio, Tenant: tenant}, day0, day0.Add(36*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return r.Total.DeadLettered
	}
	if n := count("globex"); n != 2 {
		t.Errorf("globex: %d dead letters, want its own 2", n)
	}
	if n := count("acme"); n != 0 {
		t.Errorf("acme: %d dead letters, want none (the others are globex's or name no tenant)", n)
	}
	if n := count(""); n != 2 {
		t.Errorf("without a tenants document: %d dead-lettered interactions, want 2 (every dead letter)", n)
	}
}

// deadLetterQueue serves dead letters as Service Bus does (queuetest).
type deadLetterQueue struct{ queuetest.DeadLetters }

func (d *deadLetterQueue) add(t *testing.T, tenant, guid string, start time.Time) {
	t.Helper()
	body, err := message.Encode(message.Body{InteractionID: guid, Start: &start, Tenant: tenant})
	if err != nil {
		t.Fatal(err)
	}
	d.Add(&queue.Message{ID: tenant + ":" + guid, Body: body, DeadLetterReason: "MaxDeliveryCountExceeded"})
}

// A tenant's dead letter behind more of another tenant's than one peek
// returns is counted: the report reads the whole dead-letter queue.
func TestReportCountsDeadLettersPastOnePage(t *testing.T) {
	w := newWorld(t, vccsim.Permissions{})
	dlq := &deadLetterQueue{}
	for i := range 10000 {
		dlq.add(t, "globex", fmt.Sprintf("00000000-0000-4000-8000-%012d", i), w.never.Start)
	}
	dlq.add(t, "acme", w.failing.GUID, w.failing.Start)
	build := func(tenant string, pass queue.DeadLetterPass) Report {
		r, err := Build(context.Background(), Sources{VCC: w.client, Sink: w.sink, State: w.state, Queue: dlq, IsAudio: isAudio,
			Tenant: tenant, DeadLetterPass: pass}, day0, day0.Add(36*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := build("acme", queue.DeadLetterPass{}); r.Total.DeadLettered != 1 || r.DeadLettersTruncated || r.DeadLettersRead != 10001 {
		t.Errorf("acme: %d dead-lettered (read %d, truncated %v), want 1 of 10001 read", r.Total.DeadLettered, r.DeadLettersRead, r.DeadLettersTruncated)
	}
	if r := build("globex", queue.DeadLetterPass{}); r.Total.DeadLettered != 10000 {
		t.Errorf("globex: %d dead-lettered, want 10000", r.Total.DeadLettered)
	}
	// Past the bound the report counts what it read and says the counts are at least that.
	r := build("globex", queue.DeadLetterPass{Max: 100})
	if !r.DeadLettersTruncated || r.DeadLettersRead != 100 || r.Total.DeadLettered != 100 {
		t.Fatalf("bounded at 100: truncated %v, read %d, dead-lettered %d", r.DeadLettersTruncated, r.DeadLettersRead, r.Total.DeadLettered)
	}
	var out strings.Builder
	if err := WriteTable(&out, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "more than 100 messages") {
		t.Errorf("the table does not say the dead letters were cut short:\n%s", out.String())
	}
}
