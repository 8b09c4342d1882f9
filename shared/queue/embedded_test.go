package queue_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/queue/queuetest"
)

func embeddedOptions(cfg queuetest.Config) queue.EmbeddedOptions {
	return queue.EmbeddedOptions{
		LockDuration:     cfg.LockDuration,
		MaxDeliveryCount: cfg.MaxDeliveryCount,
		DuplicateWindow:  cfg.DuplicateWindow,
		MaxMessageSize:   cfg.MaxMessageSize,
		Now:              cfg.Clock.Now,
	}
}

func openEmbedded(t *testing.T, path string, opts queue.EmbeddedOptions) *queue.Embedded {
	t.Helper()
	q, err := queue.OpenEmbedded(path, opts)
	if err != nil {
		t.Fatalf("OpenEmbedded: %v", err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

func TestEmbeddedConformance(t *testing.T) {
	queuetest.Run(t, func(t *testing.T, cfg queuetest.Config) queuetest.Target {
		q := openEmbedded(t, filepath.Join(t.TempDir(), "q.db"), embeddedOptions(cfg))
		return queuetest.Target{Queue: q, FakeClock: true}
	})
}

// A reopened file keeps its messages and delivery counts; a lock the
// previous opening held (its process crashed or stopped) is released at
// once, since that holder can never settle the message, so a rerun does
// not wait out the lock duration.
func TestEmbeddedReopenReleasesTheLocksOfAGoneHolder(t *testing.T) {
	ctx := context.Background()
	clock := queuetest.NewClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	opts := queue.EmbeddedOptions{LockDuration: time.Hour, Now: clock.Now}
	path := filepath.Join(t.TempDir(), "q.db")

	q, err := queue.OpenEmbedded(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.SendBatch(ctx, []queue.Outgoing{{ID: "a", Body: []byte("A")}, {ID: "b", Body: []byte("B")}}); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(ctx, 1, 0)
	if err != nil || len(msgs) != 1 || msgs[0].ID != "a" {
		t.Fatalf("receive: %v %v", msgs, err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.Complete(ctx, msgs[0]); !errors.Is(err, queue.ErrClosed) {
		t.Fatalf("Complete after Close: %v, want ErrClosed", err)
	}

	q2 := openEmbedded(t, path, opts)
	if err := q2.Complete(ctx, msgs[0]); !errors.Is(err, queue.ErrForeignMessage) {
		t.Fatalf("Complete of a message from the closed instance: %v, want ErrForeignMessage", err)
	}
	if n := q2.ReleasedAtOpen(); n != 1 {
		t.Errorf("ReleasedAtOpen = %d, want 1", n)
	}
	// No time has passed: "a" is back because its holder is gone.
	st, err := q2.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st != (queue.Stats{Active: 2, Locked: 0}) {
		t.Fatalf("stats %+v, want both messages visible", st)
	}
	got2, err := q2.Receive(ctx, 10, 0)
	if err != nil || len(got2) != 2 || got2[0].ID != "a" || got2[0].DeliveryCount != 2 || string(got2[1].Body) != "B" {
		t.Fatalf("receive after reopen: %v %v, want a (delivery 2) and b", got2, err)
	}
	// Locks of this opening still hold until they expire by time.
	if more, err := q2.Receive(ctx, 10, 0); err != nil || len(more) != 0 {
		t.Fatalf("receive while locked: %v %v, want nothing", more, err)
	}
	// The sequence counter survives a reopen: new messages come after old ones.
	if err := q2.SendBatch(ctx, []queue.Outgoing{{ID: "c"}}); err != nil {
		t.Fatal(err)
	}
	got3, err := q2.Receive(ctx, 1, 0)
	if err != nil || len(got3) != 1 || got3[0].SequenceNumber <= got2[1].SequenceNumber {
		t.Fatalf("receive c: %v %v", got3, err)
	}
}

func TestEmbeddedStats(t *testing.T) {
	ctx := context.Background()
	clock := queuetest.NewClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	q := openEmbedded(t, filepath.Join(t.TempDir(), "q.db"), queue.EmbeddedOptions{LockDuration: time.Minute, Now: clock.Now})
	var out []queue.Outgoing
	for _, id := range []string{"1", "2", "3", "4", "5"} {
		out = append(out, queue.Outgoing{ID: id})
	}
	if err := q.SendBatch(ctx, out); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(ctx, 3, 0)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("receive: %v %v", msgs, err)
	}
	if err := q.DeadLetter(ctx, msgs[0], "r", "d"); err != nil {
		t.Fatal(err)
	}
	if err := q.Complete(ctx, msgs[1]); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		advance time.Duration
		want    queue.Stats
	}{
		{0, queue.Stats{Active: 2, Locked: 1, DeadLettered: 1}},
		{time.Minute, queue.Stats{Active: 3, Locked: 0, DeadLettered: 1}}, // the lock expired
	}
	for _, tc := range tests {
		clock.Advance(tc.advance)
		got, err := q.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Fatalf("after +%s: stats %+v, want %+v", tc.advance, got, tc.want)
		}
	}
}

func TestEmbeddedSecondOpenerFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	openEmbedded(t, path, queue.EmbeddedOptions{})
	start := time.Now()
	q2, err := queue.OpenEmbedded(path, queue.EmbeddedOptions{OpenTimeout: 200 * time.Millisecond})
	if err == nil {
		_ = q2.Close()
		t.Fatal("a second OpenEmbedded of the same file succeeded")
	}
	if !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("error %q does not say the file is in use", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("second open took %s to fail", d)
	}
}

func TestEmbeddedOptionsAndArguments(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	if _, err := queue.OpenEmbedded(path, queue.EmbeddedOptions{LockDuration: -time.Second}); err == nil {
		t.Fatal("negative LockDuration accepted")
	}
	q := openEmbedded(t, path, queue.EmbeddedOptions{})
	if _, err := q.Receive(context.Background(), 0, 0); err == nil {
		t.Fatal("Receive with max 0 accepted")
	}
	if err := q.Complete(context.Background(), nil); err == nil {
		t.Fatal("Complete(nil) accepted")
	}
	// An empty ID gets a generated one, so two such messages are not duplicates.
	if err := q.SendBatch(context.Background(), []queue.Outgoing{{Body: []byte("1")}, {Body: []byte("2")}}); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(context.Background(), 10, 0)
	if err != nil || len(msgs) != 2 || msgs[0].ID == "" || msgs[0].ID == msgs[1].ID {
		t.Fatalf("receive: %v %v, want two messages with distinct generated ids", msgs, err)
	}
}

func TestEmbeddedCloseWakesReceiver(t *testing.T) {
	q, err := queue.OpenEmbedded(filepath.Join(t.TempDir(), "q.db"), queue.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(100*time.Millisecond, func() { _ = q.Close() })
	_, err = q.Receive(context.Background(), 1, time.Minute)
	if !errors.Is(err, queue.ErrClosed) {
		t.Fatalf("Receive during Close: %v, want ErrClosed", err)
	}
}

// A renewed lock hides the message for a lock duration from the renewal;
// a lock that expired (or was renewed too late) cannot be renewed.
func TestEmbeddedRenewLock(t *testing.T) {
	ctx := context.Background()
	clock := queuetest.NewClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	q := openEmbedded(t, filepath.Join(t.TempDir(), "q.db"), queue.EmbeddedOptions{LockDuration: time.Minute, Now: clock.Now})
	if q.LockDuration() != time.Minute {
		t.Fatalf("LockDuration = %s", q.LockDuration())
	}
	if err := q.SendBatch(ctx, []queue.Outgoing{{ID: "a"}, {ID: "b"}}); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(ctx, 2, 0)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("receive: %v %v", msgs, err)
	}
	clock.Advance(50 * time.Second)
	if err := q.RenewLock(ctx, msgs[0]); err != nil {
		t.Fatal(err)
	}
	clock.Advance(50 * time.Second) // 100s after receive: only "b"'s lock expired
	again, err := q.Receive(ctx, 2, 0)
	if err != nil || len(again) != 1 || again[0].ID != "b" {
		t.Fatalf("receive after renewal: %v %v", again, err)
	}
	if err := q.RenewLock(ctx, msgs[1]); !errors.Is(err, queue.ErrLockLost) {
		t.Fatalf("renewing a lock now held by another delivery: %v, want ErrLockLost", err)
	}
	if err := q.Complete(ctx, msgs[0]); err != nil {
		t.Fatalf("complete after renewal: %v", err)
	}
	clock.Advance(2 * time.Minute)
	if err := q.RenewLock(ctx, again[0]); !errors.Is(err, queue.ErrLockLost) {
		t.Fatalf("renewing an expired lock: %v, want ErrLockLost", err)
	}
}
