package events

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/sweep"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/webhook"
)

type keptQueue struct {
	mu   sync.Mutex
	msgs []queue.Outgoing
}

func (q *keptQueue) SendBatch(_ context.Context, msgs []queue.Outgoing) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs = append(q.msgs, msgs...)
	return nil
}

// With sweeps, every event of a tenant's slot asks for the same sweep (one
// MessageId, scheduled for the slot at least the settle later), whatever
// its interaction; no per-interaction message is sent. Refusals are as
// without sweeps: nothing is enqueued.
func TestEventsAskForTheirTenantsSweep(t *testing.T) {
	key := secrets.New("c3Vic2NyaXB0aW9uIHNlY3JldA==")
	raw, err := webhook.DecodeSecret(key.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 10, 0, 1, 0, time.UTC)
	q := &keptQueue{}
	r := New(q, Options{Key: secrets.Static(key), Tenant: "acme", Settle: 10 * time.Second, SweepEvery: 20 * time.Second,
		Now: func() time.Time { return now }})
	var ids []string
	for i, guid := range []string{"0b0e4f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b", "1b0e4f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b", "2b0e4f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"} {
		now = now.Add(time.Duration(i) * 3 * time.Second)
		body := []byte(`{"specversion":"1.0","id":"e-` + guid[:1] + `","type":"channel.disconnected","source":"/vcc","data":{"channel":{"interactionId":"` + guid + `"}}}`)
		if out := r.Receive(context.Background(), "", body); out.Status != 401 {
			t.Fatalf("unsigned: %d", out.Status)
		}
		out := r.Receive(context.Background(), webhook.Sign(raw, body, now, 5*time.Minute), body)
		if out.Status != 202 || out.InteractionID != guid {
			t.Fatalf("event %d: %+v", i, out)
		}
		ids = append(ids, out.MessageID)
	}
	slot := time.Date(2026, 3, 2, 10, 0, 20, 0, time.UTC)
	want := sweep.RequestID("acme", slot)
	for _, id := range ids {
		if id != want {
			t.Fatalf("message ids %v, want each %s", ids, want)
		}
	}
	if len(q.msgs) != 3 {
		t.Fatalf("%d sends, want 3 (the queue absorbs the duplicates)", len(q.msgs))
	}
	for _, m := range q.msgs {
		b, ok, err := sweep.Decode(m.Body)
		if !ok || err != nil || b.Tenant != "acme" || !b.At.Equal(slot) || !m.ScheduledAt.Equal(slot) || m.Properties[PropEventID] == "" {
			t.Fatalf("message %s %s scheduled %s: not acme's sweep request for %s (%v %v)", m.ID, m.Body, m.ScheduledAt, slot, ok, err)
		}
	}
}
