package devhost

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/invoke"
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

// The stand-in encodes a delivery as the host does: the body JSON-encoded
// twice, and the body's top-level fields copied into Metadata over system
// keys of the same name, case-insensitively. The handler's own decoder
// recovers the body byte for byte.
func TestServiceBusPayloadAsTheHostSendsIt(t *testing.T) {
	body := `{"v":1,"interactionId":"2480fc2c-7a3b-4b5e-9c61-0d2f4e8a1b7c","messageid":"from-body","n":3}`
	m := &queue.Message{ID: "real-id", Body: []byte(body), ContentType: "application/json", DeliveryCount: 2, SequenceNumber: 9,
		EnqueuedAt: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC), Properties: map[string]string{"replayCount": "1"}}
	data, err := json.Marshal(serviceBusPayload("ingest", m, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Data     map[string]json.RawMessage
		Metadata map[string]json.RawMessage
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	var once, twice string
	if err := json.Unmarshal(raw.Data["message"], &once); err != nil {
		t.Fatalf("Data.message is not a JSON string: %s", raw.Data["message"])
	}
	if err := json.Unmarshal([]byte(once), &twice); err != nil || twice != body {
		t.Fatalf("Data.message is not the body encoded twice: %s", raw.Data["message"])
	}
	if _, ok := raw.Metadata["MessageId"]; ok {
		t.Error("the body's messageid did not replace the system MessageId key")
	}
	if got := string(raw.Metadata["messageid"]); got != `"\"from-body\""` {
		t.Errorf("Metadata.messageid = %s", got)
	}
	if got := string(raw.Metadata["n"]); got != `"3"` {
		t.Errorf("Metadata.n = %s, want the number as a string", got)
	}
	req, err := invoke.ReadRequest(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := req.ServiceBus("message")
	if err != nil {
		t.Fatal(err)
	}
	if string(msg.Body) != body || msg.DeliveryCount != 2 || msg.Properties["replayCount"] != "1" {
		t.Errorf("decoded %q, delivery %d, properties %v", msg.Body, msg.DeliveryCount, msg.Properties)
	}
}

// An invocation past functionTimeout makes the host restart the handler:
// every invocation in flight on it fails (its message is abandoned and
// comes back), and after the restart every message is processed once more
// and completed; nothing is lost or dead-lettered.
func TestTimeoutRestartsTheHandler(t *testing.T) {
	q, err := queue.OpenEmbedded(filepath.Join(t.TempDir(), "q.db"), queue.EmbeddedOptions{LockDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const timeout = time.Second
	// The first handler hangs on every invocation until it is killed.
	killed := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-killed
	}))
	defer hung.Close()
	var healthy *httptest.Server
	var started sync.Map // message id -> first start
	h := &Host{BaseURL: hung.URL, Queue: q, Workers: 4, FunctionTimeout: timeout,
		Restart: func(context.Context) (string, error) {
			hung.CloseClientConnections() // the process dies with its connections
			close(killed)
			healthy = httptest.NewServer(slowHandler(0, new(atomic.Int32)))
			return healthy.URL, nil
		}}
	defer func() {
		if healthy != nil {
			healthy.Close()
		}
	}()
	var mu sync.Mutex
	type outcome struct {
		Result
		after time.Duration
	}
	var results []outcome
	h.OnResult = func(r Result) {
		mu.Lock()
		defer mu.Unlock()
		first, _ := started.Load(r.MessageID)
		results = append(results, outcome{r, time.Since(first.(time.Time))})
	}
	send := func(id string) {
		started.Store(id, time.Now())
		if err := q.SendBatch(ctx, []queue.Outgoing{{ID: id, Body: []byte(`{}`)}}); err != nil {
			t.Error(err)
		}
	}
	send("slow")
	go func() {
		time.Sleep(timeout / 2) // in flight when the slow one times out
		send("bystander")
	}()
	if _, err := h.Drain(ctx, "ingest", 700*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if h.Restarts() != 1 {
		t.Errorf("restarts = %d, want 1", h.Restarts())
	}
	mu.Lock()
	defer mu.Unlock()
	byID := map[string][]outcome{}
	for _, r := range results {
		byID[r.MessageID] = append(byID[r.MessageID], r)
	}
	for _, id := range []string{"slow", "bystander"} {
		rs := byID[id]
		if len(rs) != 2 || rs[0].OK() || !rs[1].OK() || rs[1].DeliveryCount != 2 {
			t.Errorf("%s: %+v; want a failed delivery, then a successful second one", id, rs)
		}
	}
	if rs := byID["bystander"]; len(rs) > 0 && rs[0].after >= timeout {
		t.Errorf("the bystander failed %v after it was sent: by its own timeout, not by the restart", rs[0].after)
	}
	if st, err := q.Stats(); err != nil || st != (queue.Stats{}) {
		t.Errorf("queue after the run: %+v %v, want empty (no dead letter)", st, err)
	}
}

// Route templates match as the host's ASP.NET Core routing does: literal
// segments in any case, an optional last parameter, a segment between the
// slashes as sent (an encoded slash stays inside it).
func TestHTTPFunctionRouteTemplate(t *testing.T) {
	f := HTTPFunction{Name: "events", Method: "POST", Path: "/api/vcc/events/{tenant?}"}
	for p, want := range map[string]bool{
		"/api/vcc/events": true, "/api/vcc/events/": true, "/API/Vcc/EVENTS": true, "/api/vcc/events/acme": true,
		"/api/vcc/events/acme/": true, "/api/vcc/events/ACME": true, "/api/vcc/events/a%2Fb": true, "/api/vcc/ev%65nts/acme": true,
		"/api/vcc/events/acme/x": false, "/api/vcc/eventsx": false, "/api/vcc": false, "/": false, "/api/vcc/events//": false,
	} {
		if got := f.matches(p); got != want {
			t.Errorf("%s: matches %v, want %v", p, got, want)
		}
	}
	lit := HTTPFunction{Path: "/api/vcc/events"}
	if !lit.matches("/api/vcc/events") || lit.matches("/api/vcc/events/acme") {
		t.Error("a template without parameters matches only its path")
	}
}

// With several instances each gets Workers invocations of its own over the
// one queue, and every message is delivered once to one of them.
func TestInstancesShareTheQueue(t *testing.T) {
	q, err := queue.OpenEmbedded(filepath.Join(t.TempDir(), "q.db"), queue.EmbeddedOptions{LockDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	const n = 24
	var msgs []queue.Outgoing
	for i := range n {
		msgs = append(msgs, queue.Outgoing{ID: "m" + string(rune('a'+i)), Body: []byte(`{}`)})
	}
	if err := q.SendBatch(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	calls := make([]atomic.Int32, 3)
	var urls []string
	for i := range calls {
		srv := httptest.NewServer(slowHandler(100*time.Millisecond, &calls[i]))
		defer srv.Close()
		urls = append(urls, srv.URL)
	}
	h := &Host{BaseURL: urls[0], Instances: urls[1:], Queue: q, Workers: 1}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	count, err := h.Drain(ctx, "ingest", 300*time.Millisecond)
	if err != nil || count != n {
		t.Fatalf("drained %d, %v; want %d", count, err, n)
	}
	total := int32(0)
	for i := range calls {
		if calls[i].Load() == 0 {
			t.Errorf("instance %d was never invoked", i)
		}
		total += calls[i].Load()
	}
	if total != n {
		t.Errorf("%d invocations for %d messages", total, n)
	}
}
