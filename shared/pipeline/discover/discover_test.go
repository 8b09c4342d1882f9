package discover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/message"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// fakeVCC lists interactions every minute, with audio except every tenth.
type fakeVCC struct {
	windows   [][2]time.Time
	statsDown bool
}

func guidAt(t time.Time) string {
	return fmt.Sprintf("%08x-0000-4000-8000-000000000000", t.Unix()/60)
}

func (f *fakeVCC) ListInteractions(_ context.Context, start, end time.Time, fn func(vcc.Interaction) error) error {
	f.windows = append(f.windows, [2]time.Time{start, end})
	for t := start.Truncate(time.Minute); t.Before(end); t = t.Add(time.Minute) {
		if t.Before(start) {
			continue
		}
		typ := "callRecording"
		if t.Unix()/60%10 == 0 {
			typ = "chatTranscript"
		}
		in := vcc.Interaction{GUID: guidAt(t), Start: t, Direction: vcc.DirectionInbound,
			Content: []vcc.ContentItem{{ContentKey: typ, Type: typ, ContentType: "audio/wav", ContentLength: 10}}}
		if err := fn(in); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeVCC) ListStats(_ context.Context, start, end time.Time, fn func(vcc.Stats) error) error {
	if f.statsDown {
		return errors.New("vcc: stats.list: 403 forbidden")
	}
	for t := start.Truncate(time.Minute); t.Before(end); t = t.Add(time.Minute) {
		if err := fn(vcc.Stats{GUID: guidAt(t), Start: t, Direction: vcc.DirectionOutbound}); err != nil {
			return err
		}
	}
	return nil
}

type fakeQueue struct {
	sent  []queue.Outgoing
	sends int
	fail  error
}

func (q *fakeQueue) SendBatch(_ context.Context, msgs []queue.Outgoing) error {
	if q.fail != nil {
		return q.fail
	}
	q.sends++
	q.sent = append(q.sent, msgs...)
	return nil
}

func isAudio(t string) bool { return t == "callRecording" }

func checkpoint(t *testing.T, st store.State) Checkpoint {
	t.Helper()
	data, _, found, err := st.Load(context.Background(), CheckpointName)
	if err != nil || !found {
		t.Fatalf("checkpoint: found=%v err=%v", found, err)
	}
	var cp Checkpoint
	if err := json.Unmarshal(data, &cp); err != nil {
		t.Fatal(err)
	}
	return cp
}

var now = time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)

func TestFirstRunThenOverlap(t *testing.T) {
	v, q, st := &fakeVCC{}, &fakeQueue{}, store.NewDirState(t.TempDir())
	d := New(v, q, st, Options{Lookback: 2 * time.Hour, Overlap: 30 * time.Minute, Settle: 10 * time.Minute, IsAudio: isAudio, BatchSize: 50})
	run, err := d.Run(context.Background(), now, false)
	if err != nil {
		t.Fatal(err)
	}
	wantEnd := now.Add(-10 * time.Minute)
	if !run.Start.Equal(wantEnd.Add(-2*time.Hour)) || !run.End.Equal(wantEnd) {
		t.Fatalf("window %v..%v", run.Start, run.End)
	}
	if run.Found != 120 || run.NoAudio != 12 || run.Enqueued != 108 || len(q.sent) != 108 {
		t.Fatalf("run = %+v, sent %d", run, len(q.sent))
	}
	if q.sends != 3 { // 108 messages in batches of 50
		t.Errorf("sends = %d, want 3", q.sends)
	}
	if cp := checkpoint(t, st); !cp.Through.Equal(wantEnd) {
		t.Errorf("checkpoint %v, want %v", cp.Through, wantEnd)
	}
	// Messages: MessageId = guid, versioned body with Stats' direction.
	b, err := message.Decode(q.sent[0].Body)
	if err != nil || q.sent[0].ID != b.InteractionID || b.Direction != "outbound" || b.ContentDir != "inbound" {
		t.Errorf("first message %s: %+v %v", q.sent[0].ID, b, err)
	}

	// Next run 15 minutes later starts at the checkpoint minus the overlap.
	run, err = d.Run(context.Background(), now.Add(15*time.Minute), false)
	if err != nil {
		t.Fatal(err)
	}
	if !run.Start.Equal(wantEnd.Add(-30*time.Minute)) || !run.End.Equal(wantEnd.Add(15*time.Minute)) {
		t.Errorf("second window %v..%v", run.Start, run.End)
	}
}

// A failed send leaves the checkpoint where it was: the next run lists the
// same window again (duplicates at worst, never a gap).
func TestSendFailureKeepsCheckpoint(t *testing.T) {
	v, q, st := &fakeVCC{}, &fakeQueue{}, store.NewDirState(t.TempDir())
	d := New(v, q, st, Options{Lookback: time.Hour, Overlap: 0, IsAudio: isAudio})
	if _, err := d.Run(context.Background(), now, false); err != nil {
		t.Fatal(err)
	}
	before := checkpoint(t, st)
	q.fail = errors.New("queue unavailable")
	if _, err := d.Run(context.Background(), now.Add(time.Hour), false); err == nil {
		t.Fatal("run succeeded despite the send failure")
	}
	if after := checkpoint(t, st); !after.Through.Equal(before.Through) {
		t.Fatalf("checkpoint moved from %v to %v", before.Through, after.Through)
	}
	q.fail = nil
	run, err := d.Run(context.Background(), now.Add(2*time.Hour), false)
	if err != nil {
		t.Fatal(err)
	}
	if !run.Start.Equal(before.Through) {
		t.Errorf("retry window starts %v, want %v", run.Start, before.Through)
	}
}

// Missed runs: a three-day gap is caught up in day-sized chunks, each
// advancing the checkpoint, with no hole between them.
func TestCatchUpAfterMissedRuns(t *testing.T) {
	v, q, st := &fakeVCC{}, &fakeQueue{}, store.NewDirState(t.TempDir())
	d := New(v, q, st, Options{Lookback: time.Hour, Overlap: 0, Settle: 0, IsAudio: isAudio})
	if _, err := d.Run(context.Background(), now, false); err != nil {
		t.Fatal(err)
	}
	v.windows = nil
	run, err := d.Run(context.Background(), now.Add(72*time.Hour), true)
	if err != nil {
		t.Fatal(err)
	}
	if run.Chunks != 3 || !run.PastDue {
		t.Errorf("run = %+v", run)
	}
	for i := 1; i < len(v.windows); i++ {
		if !v.windows[i][0].Equal(v.windows[i-1][1]) {
			t.Errorf("gap between %v and %v", v.windows[i-1][1], v.windows[i][0])
		}
	}
	if cp := checkpoint(t, st); !cp.Through.Equal(now.Add(72 * time.Hour)) {
		t.Errorf("checkpoint %v", cp.Through)
	}
}

func TestUnreadableCheckpointStops(t *testing.T) {
	st := store.NewDirState(t.TempDir())
	if _, err := st.Save(context.Background(), CheckpointName, []byte("not json"), ""); err != nil {
		t.Fatal(err)
	}
	d := New(&fakeVCC{}, &fakeQueue{}, st, Options{IsAudio: isAudio})
	if _, err := d.Run(context.Background(), now, false); err == nil {
		t.Fatal("a corrupt checkpoint was silently replaced")
	}
}

// Backfill enqueues a window without touching the checkpoint.
func TestEnqueueLeavesCheckpoint(t *testing.T) {
	v, q, st := &fakeVCC{}, &fakeQueue{}, store.NewDirState(t.TempDir())
	d := New(v, q, st, Options{IsAudio: isAudio})
	run, err := d.Enqueue(context.Background(), now.Add(-time.Hour), now, "backfill", now)
	if err != nil {
		t.Fatal(err)
	}
	if run.Enqueued != 54 {
		t.Errorf("enqueued %d, want 54", run.Enqueued)
	}
	if _, _, found, _ := st.Load(context.Background(), CheckpointName); found {
		t.Error("backfill wrote the checkpoint")
	}
}

// Stats only adds directions: its failure leaves them to ingest and does
// not stop discovery; the run record says what happened.
func TestStatsFailureDoesNotStopDiscovery(t *testing.T) {
	v, q, st := &fakeVCC{statsDown: true}, &fakeQueue{}, store.NewDirState(t.TempDir())
	d := New(v, q, st, Options{Lookback: time.Hour, IsAudio: isAudio})
	run, err := d.Run(context.Background(), now, false)
	if err != nil {
		t.Fatal(err)
	}
	if run.Enqueued != 54 || len(run.StatsErrors) != 1 || run.WithStats != 0 {
		t.Fatalf("run = %+v", run)
	}
	b, _ := message.Decode(q.sent[0].Body)
	if b.Direction != "" || b.ContentDir != "inbound" {
		t.Errorf("message direction %q (content %q): ingest must ask Stats itself", b.Direction, b.ContentDir)
	}
}

// A failed run leaves a run record with its error.
func TestFailedRunIsRecorded(t *testing.T) {
	v, q, st := &fakeVCC{}, &fakeQueue{fail: errors.New("queue unavailable")}, store.NewDirState(t.TempDir())
	d := New(v, q, st, Options{Lookback: time.Hour, IsAudio: isAudio})
	if _, err := d.Run(context.Background(), now, false); err == nil {
		t.Fatal("run succeeded")
	}
	var recs []string
	if err := st.List(context.Background(), "runs/discover/", func(name string) error {
		recs = append(recs, name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("run records %v", recs)
	}
	data, _, _, _ := st.Load(context.Background(), recs[0])
	var run records.Run
	if err := json.Unmarshal(data, &run); err != nil || run.Error == "" {
		t.Fatalf("record %s: %s", recs[0], data)
	}
}

// A tenant's discovery stamps its messages with the tenant and gives them
// ids that start with it; a single tenant's messages are unchanged.
func TestTenantMessages(t *testing.T) {
	v, q, st := &fakeVCC{}, &fakeQueue{}, store.NewDirState(t.TempDir())
	d := New(v, q, st, Options{Lookback: time.Hour, IsAudio: isAudio, Tenant: "acme"})
	run, err := d.Run(context.Background(), now, false)
	if err != nil || run.Tenant != "acme" || len(q.sent) == 0 {
		t.Fatalf("run %+v, %v", run, err)
	}
	for _, m := range q.sent {
		b, err := message.Decode(m.Body)
		if err != nil || b.Tenant != "acme" || m.ID != "acme:"+b.InteractionID {
			t.Fatalf("message %s: tenant %q, %v", m.ID, b.Tenant, err)
		}
	}
	q2 := &fakeQueue{}
	if _, err := New(v, q2, store.NewDirState(t.TempDir()), Options{Lookback: time.Hour, IsAudio: isAudio}).Run(context.Background(), now, false); err != nil {
		t.Fatal(err)
	}
	if b, _ := message.Decode(q2.sent[0].Body); b.Tenant != "" || q2.sent[0].ID != b.InteractionID {
		t.Errorf("single tenant message %s: tenant %q", q2.sent[0].ID, b.Tenant)
	}
}
