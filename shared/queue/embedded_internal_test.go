package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// A look that finds nothing to deliver (only a message scheduled for later)
// writes nothing: every change wakes every waiting receiver, and a write
// transaction would take the database's one writer and sync to disk each
// time.
func TestEmptyReceiveWritesNothing(t *testing.T) {
	q, err := OpenEmbedded(filepath.Join(t.TempDir(), "q.db"), EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx := context.Background()
	if err := q.SendBatch(ctx, []Outgoing{{ID: "later", Body: []byte("{}"), ScheduledAt: time.Now().Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	before := writes(q)
	for range 20 {
		if msgs, err := q.Receive(ctx, 1, 0); err != nil || len(msgs) != 0 {
			t.Fatalf("receive: %d messages, %v; want none yet", len(msgs), err)
		}
	}
	if w := writes(q) - before; w != 0 {
		t.Errorf("20 empty looks wrote %d times", w)
	}
	// Once due, the message is delivered.
	if err := q.SendBatch(ctx, []Outgoing{{ID: "now", Body: []byte("{}")}}); err != nil {
		t.Fatal(err)
	}
	if msgs, err := q.Receive(ctx, 1, 0); err != nil || len(msgs) != 1 || msgs[0].ID != "now" {
		t.Fatalf("receive of a message due: %v, %v", msgs, err)
	}
}

func writes(q *Embedded) int64 {
	st := q.db.Stats()
	return st.TxStats.GetWrite()
}
