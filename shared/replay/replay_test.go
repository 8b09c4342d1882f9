package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/message"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/queue/queuetest"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
)

var guids = []string{
	"11111111-1111-4111-8111-111111111111",
	"22222222-2222-4222-8222-222222222222",
	"33333333-3333-4333-8333-333333333333",
}

// fixture is an embedded queue holding one dead letter per guid (the second
// one dead-lettered by ingest's permanent failure, the others by running
// out of deliveries) and the failure records ingest wrote for them.
type fixture struct {
	q     *queue.Embedded
	state *store.DirState
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	q, err := queue.OpenEmbedded(filepath.Join(t.TempDir(), "queue.db"), queue.EmbeddedOptions{LockDuration: time.Minute, MaxDeliveryCount: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	state := store.NewDirState(t.TempDir())
	var out []queue.Outgoing
	for _, g := range guids {
		body, _ := message.Encode(message.Body{InteractionID: g, Source: "discover"})
		out = append(out, queue.Outgoing{ID: g, Body: body, ContentType: message.ContentType, Properties: map[string]string{"origin": "test"}})
	}
	if err := q.SendBatch(ctx, out); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(ctx, 10, time.Second)
	if err != nil || len(msgs) != len(guids) {
		t.Fatalf("receive: %d messages, %v", len(msgs), err)
	}
	for i, m := range msgs {
		reason, desc := queue.ReasonMaxDeliveryCountExceeded, "Message could not be consumed after 3 delivery attempts."
		failure := "download callRecording: 503 Service Unavailable"
		if i == 1 {
			reason, desc = "PermanentFailure", "content callRecording not found in VCC"
			failure = "content callRecording not found in VCC"
		}
		if err := q.DeadLetter(ctx, m, reason, desc); err != nil {
			t.Fatal(err)
		}
		rec, _ := json.Marshal(records.FailureRecord{InteractionID: guids[i], MessageID: m.ID, Permanent: i == 1, Reason: failure, DeliveryCount: 3})
		if err := state.Put(ctx, records.FailureName(guids[i]), rec); err != nil {
			t.Fatal(err)
		}
	}
	return fixture{q: q, state: state}
}

func TestListFilters(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	all, err := List(ctx, fx.q, fx.state, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("%d entries, want 3", len(all))
	}
	for i, e := range all {
		if e.InteractionID != guids[i] || e.MessageID != guids[i] || e.DeliveryCount != 1 || e.EnqueuedAt.IsZero() {
			t.Errorf("entry %d = %+v", i, e)
		}
		if e.Failure == nil || e.Failure.InteractionID != guids[i] {
			t.Errorf("entry %d: failure record %+v", i, e.Failure)
		}
	}
	future := time.Now().Add(time.Hour)
	tests := []struct {
		name string
		f    Filter
		want []string
	}{
		{"by interaction id", Filter{IDs: []string{strings.ToUpper(guids[2])}}, guids[2:3]},
		{"by reason of the queue", Filter{Reason: "maxdelivery"}, []string{guids[0], guids[2]}},
		{"by recorded failure", Filter{Reason: "503"}, []string{guids[0], guids[2]}},
		{"by description", Filter{Reason: "not found in VCC"}, guids[1:2]},
		{"since the future", Filter{Since: future}, nil},
		{"until the future", Filter{Until: future}, guids},
		{"limit", Filter{Limit: 2}, guids[:2]},
		{"unknown id", Filter{IDs: []string{"nope"}}, nil},
		{"another tenant's", Filter{Tenant: "acme"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := List(ctx, fx.q, fx.state, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, e := range got {
				ids = append(ids, e.InteractionID)
			}
			if strings.Join(ids, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", ids, tt.want)
			}
		})
	}
}

func TestApplyMovesMatchingWithNewIDs(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	var progress []int
	res, err := Apply(ctx, fx.q, fx.state, Filter{Reason: "MaxDeliveryCount"}, Options{
		Wait: 10 * time.Millisecond, Progress: func(done, total int) { progress = append(progress, done, total) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Matched != 2 || len(res.Replayed) != 2 || len(res.NotRemoved) != 0 {
		t.Fatalf("result = %+v", res)
	}
	if len(progress) < 4 || progress[len(progress)-2] != 2 || progress[len(progress)-1] != 2 {
		t.Errorf("progress calls = %v", progress)
	}
	left, _ := fx.q.PeekDeadLetters(ctx, 10)
	if len(left) != 1 || left[0].ID != guids[1] {
		t.Fatalf("dead letters left: %d (%v)", len(left), left)
	}
	msgs, err := fx.q.Receive(ctx, 10, 100*time.Millisecond)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("main queue: %d messages, %v", len(msgs), err)
	}
	for i, m := range msgs {
		want := []string{guids[0], guids[2]}[i]
		if !strings.HasPrefix(m.ID, want+".replay-1-") || m.ID == want {
			t.Errorf("new id %q", m.ID)
		}
		if m.Properties[PropReplayCount] != "1" || m.Properties[PropReplayOf] != want || m.Properties["origin"] != "test" ||
			m.Properties[PropDeadLetterWas] != queue.ReasonMaxDeliveryCountExceeded || m.Properties[PropReplayedAt] == "" {
			t.Errorf("properties %v", m.Properties)
		}
		if b, err := message.Decode(m.Body); err != nil || b.InteractionID != want {
			t.Errorf("body %s: %v", m.Body, err)
		}
		if m.ID != res.Replayed[i].NewMessageID {
			t.Errorf("reported new id %q, queued %q", res.Replayed[i].NewMessageID, m.ID)
		}
	}

	// Dead-lettered again: a second replay counts 2 and strips the old suffix.
	if err := fx.q.DeadLetter(ctx, msgs[0], "PermanentFailure", "again"); err != nil {
		t.Fatal(err)
	}
	res, err = Apply(ctx, fx.q, fx.state, Filter{IDs: []string{guids[0]}}, Options{Wait: 10 * time.Millisecond})
	if err != nil || len(res.Replayed) != 1 {
		t.Fatalf("second replay: %+v, %v", res, err)
	}
	if id := res.Replayed[0].NewMessageID; !strings.HasPrefix(id, guids[0]+".replay-2-") {
		t.Errorf("second replay id %q", id)
	}
	if res.Replayed[0].ReplayCount != 1 {
		t.Errorf("entry replay count %d, want 1 before this replay", res.Replayed[0].ReplayCount)
	}
	// The dead letter that did not match was released, not consumed.
	if left, _ := fx.q.PeekDeadLetters(ctx, 10); len(left) != 1 || left[0].ID != guids[1] {
		t.Errorf("dead letters left: %v", left)
	}
	if got, _ := fx.q.ReceiveDeadLetters(ctx, 10, 0); len(got) != 1 {
		t.Errorf("non-matching dead letter still locked: %d receivable", len(got))
	}
}

// failingSend refuses every send, as a main queue that is down would.
type failingSend struct {
	*queue.Embedded
	sends int
}

func (f *failingSend) SendBatch(context.Context, []queue.Outgoing) error {
	f.sends++
	return errors.New("connection reset")
}

// A send that fails removes nothing: every dead letter is still there,
// receivable again, and the main queue is empty.
func TestApplyLosesNothingWhenTheSendFails(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	q := &failingSend{Embedded: fx.q}
	res, err := Apply(ctx, q, fx.state, Filter{}, Options{Wait: 10 * time.Millisecond})
	if !errors.Is(err, ErrSend) || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("err = %v", err)
	}
	if q.sends != 1 || len(res.Replayed) != 0 {
		t.Fatalf("sends %d, result %+v", q.sends, res)
	}
	if got, _ := fx.q.ReceiveDeadLetters(ctx, 10, 0); len(got) != 3 {
		t.Errorf("%d dead letters receivable after the failed replay, want 3 (released, not lost)", len(got))
	}
	if st, _ := fx.q.Stats(); st.Active != 0 || st.DeadLettered != 3 {
		t.Errorf("queue stats %+v", st)
	}
}

func TestApplyHonoursLimit(t *testing.T) {
	fx := newFixture(t)
	res, err := Apply(context.Background(), fx.q, fx.state, Filter{Limit: 1}, Options{Wait: 10 * time.Millisecond, Batch: 2})
	if err != nil || len(res.Replayed) != 1 || res.Replayed[0].InteractionID != guids[0] {
		t.Fatalf("result %+v, %v", res, err)
	}
	if st, _ := fx.q.Stats(); st.Active != 1 || st.DeadLettered != 2 {
		t.Errorf("queue stats %+v", st)
	}
}

func TestCopyOfAnUndecodableMessage(t *testing.T) {
	m := &queue.Message{ID: "malformed.replay-3-abcd", Body: []byte("{"), DeadLetterReason: "PermanentFailure"}
	o, err := Copy(m, Entry{ReplayCount: 3}, time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(o.ID, "malformed.replay-4-") || string(o.Body) != "{" || o.Properties[PropReplayedAt] != "2026-11-03T00:00:00Z" {
		t.Errorf("copy = %+v", o)
	}
}

// deadLetterQueue serves dead letters as Service Bus does (queuetest).
type deadLetterQueue struct{ queuetest.DeadLetters }

func (d *deadLetterQueue) add(tenant, guid string) {
	body, _ := message.Encode(message.Body{InteractionID: guid, Tenant: tenant})
	d.Add(&queue.Message{ID: tenant + ":" + guid, Body: body})
}

// A tenant's dead letter behind more of another tenant's than one peek
// returns is listed: the listing reads the whole dead-letter queue.
func TestListReadsPastOnePage(t *testing.T) {
	ctx := context.Background()
	dlq := &deadLetterQueue{}
	for i := range 10000 {
		dlq.add("globex", fmt.Sprintf("00000000-0000-4000-8000-%012d", i))
	}
	dlq.add("acme", guids[0])
	got, err := List(ctx, dlq, nil, Filter{Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].InteractionID != guids[0] {
		t.Fatalf("acme's dead letters: %+v, want its one behind globex's 10000", got)
	}
	if all, err := List(ctx, dlq, nil, Filter{}); err != nil || len(all) != 10001 {
		t.Fatalf("every dead letter: %d listed, %v; want 10001", len(all), err)
	}

	// Past the bound: the matches among those read, and an error saying there are more.
	defer func(p queue.DeadLetterPass) { Pass = p }(Pass)
	Pass = queue.DeadLetterPass{Max: 100}
	got, err = List(ctx, dlq, nil, Filter{Tenant: "globex"})
	if !errors.Is(err, queue.ErrTooManyDeadLetters) || len(got) != 100 || !strings.Contains(err.Error(), "more than 100") {
		t.Fatalf("bounded at 100: %d listed, error %v", len(got), err)
	}
}
