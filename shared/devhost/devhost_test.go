package devhost

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/queue"
)

// slowHandler answers each invocation after d, counting them.
func slowHandler(d time.Duration, calls *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		time.Sleep(d)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"Outputs":{},"Logs":[],"ReturnValue":{"copied":1}}`))
	})
}

func drainOne(t *testing.T, h *Host, q *queue.Embedded) []Result {
	t.Helper()
	if err := q.SendBatch(context.Background(), []queue.Outgoing{{ID: "m1", Body: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	var results []Result
	h.OnResult = func(r Result) { results = append(results, r) }
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := h.Drain(ctx, "ingest", 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	return results
}

// An invocation that outlasts the lock several times over is delivered
// once: the host stand-in keeps the lock while it runs, as the Functions
// host does, and completes the message at the end.
func TestLongInvocationKeepsItsLock(t *testing.T) {
	q, err := queue.OpenEmbedded(filepath.Join(t.TempDir(), "q.db"), queue.EmbeddedOptions{LockDuration: 600 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var calls atomic.Int32
	srv := httptest.NewServer(slowHandler(2500*time.Millisecond, &calls))
	defer srv.Close()
	h := &Host{BaseURL: srv.URL, Queue: q, Workers: 2}
	results := drainOne(t, h, q)
	if calls.Load() != 1 || len(results) != 1 || !results[0].OK() || results[0].DeliveryCount != 1 {
		t.Fatalf("%d invocations, results %+v; want one successful delivery", calls.Load(), results)
	}
	if st, err := q.Stats(); err != nil || st != (queue.Stats{}) {
		t.Fatalf("queue after the run: %+v %v, want empty", st, err)
	}
}

// Renewal stops at MaxLockRenewal: past it the lock expires and another
// worker gets the message, as on Service Bus.
func TestLockRenewalIsBounded(t *testing.T) {
	q, err := queue.OpenEmbedded(filepath.Join(t.TempDir(), "q.db"), queue.EmbeddedOptions{LockDuration: 600 * time.Millisecond, MaxDeliveryCount: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var calls atomic.Int32
	srv := httptest.NewServer(slowHandler(2500*time.Millisecond, &calls))
	defer srv.Close()
	h := &Host{BaseURL: srv.URL, Queue: q, Workers: 2, MaxLockRenewal: 300 * time.Millisecond}
	results := drainOne(t, h, q)
	// Every delivery outlasts lock plus renewal, so each loses its lock and
	// the message comes back until Service Bus semantics dead-letter it.
	if calls.Load() < 2 || len(results) < 2 || results[1].DeliveryCount != 2 {
		t.Fatalf("%d invocations, results %+v; want the message delivered again once renewal stopped", calls.Load(), results)
	}
}
