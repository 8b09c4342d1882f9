package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/customhandler"
	"github.com/vcc-ingest/vcc-ingest/shared/local"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/events"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/ingest"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/report"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
	"github.com/vcc-ingest/vcc-ingest/shared/webhook"
)

// eventsPipeline is the pipeline with the events function served through
// the host stand-in's HTTP front, as the Functions host forwards it, a
// short settle and short polls.
type eventsPipeline struct {
	*pipeline
	url   string // POST target of VCC's webhooks
	key   secrets.Secret
	sends atomic.Int64
	fail  atomic.Bool // the queue refuses sends from the events function
}

func newEventsPipeline(t *testing.T, horizon time.Duration) *eventsPipeline {
	t.Helper()
	p := &eventsPipeline{pipeline: newPipeline(t, vccsim.Options{Seed: 31, Start: day, Days: 1, InteractionsPerDay: -1})}
	p.srv.Ingest = ingest.New(p.client, p.blobs, p.blobs.State(), ingest.Options{
		IsAudio: isAudio, Logger: p.srv.Log, Requeue: p.queue,
		PollBase: 150 * time.Millisecond, PollMax: 300 * time.Millisecond, PollHorizon: horizon,
	})
	k, err := webhook.DecodeSecret(vccsim.DefaultWebhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	p.key = k
	p.srv.Events = events.New(sendFunc(func(ctx context.Context, msgs []queue.Outgoing) error {
		if p.fail.Load() {
			return errors.New("queue unavailable")
		}
		p.sends.Add(1)
		return p.queue.SendBatch(ctx, msgs)
	}), events.Options{Key: secrets.Static(secrets.New(vccsim.DefaultWebhookSecret)), Settle: 200 * time.Millisecond, Logger: p.srv.Log})
	p.host.Pending = func() (int, error) {
		st, err := p.queue.Stats()
		return st.Active + st.Locked + st.Scheduled, err
	}
	front := httptest.NewServer(p.host.HTTPHandler(local.EventsFunction))
	t.Cleanup(front.Close)
	p.url = front.URL + customhandler.EventsPath
	return p
}

type sendFunc func(ctx context.Context, msgs []queue.Outgoing) error

func (f sendFunc) SendBatch(ctx context.Context, msgs []queue.Outgoing) error { return f(ctx, msgs) }

func (p *eventsPipeline) post(sig string, body []byte) (int, string) {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	if sig != "" {
		req.Header.Set(webhook.SignatureHeader, sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (p *eventsPipeline) apiCalls() int64 {
	var n int64
	for ep, c := range p.sim.Counters().ByEndpoint {
		if ep != vccsim.EndpointToken {
			n += c
		}
	}
	return n
}

func (p *eventsPipeline) sidecarOf(guid string) (records.Sidecar, bool) {
	p.t.Helper()
	for _, r := range p.sim.Recordings() {
		if r.InteractionGUID == guid {
			data, found, err := p.blobs.GetSidecar(context.Background(), store.SidecarName(r.Start, guid))
			if err != nil || !found {
				return records.Sidecar{}, false
			}
			var sc records.Sidecar
			if err := json.Unmarshal(data, &sc); err != nil {
				p.t.Fatal(err)
			}
			return sc, true
		}
	}
	return records.Sidecar{}, false
}

// The body reaches the verifier byte for byte through the host stand-in:
// a body whose JSON re-serialisation differs (key order, spacing, unicode
// escapes) verifies, and its interaction is stored through the event path.
func TestEventsRawBodyThroughTheHost(t *testing.T) {
	p := newEventsPipeline(t, time.Minute)
	guid := p.sim.AddInteraction(time.Now().Add(-3*time.Minute), "inbound", 40<<10)
	tmpl, err := os.ReadFile("testdata/event-reordered.json")
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Replace(tmpl, []byte("GUID"), []byte(guid), 1)
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	if again, _ := json.Marshal(v); bytes.Equal(again, body) {
		t.Fatal("the fixture re-serialises identically: it tests nothing")
	}
	start := time.Now()
	status, _ := p.post(webhook.Sign(p.key, body, time.Now(), 5*time.Minute), body)
	if status != http.StatusAccepted {
		t.Fatalf("status %d, want 202", status)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("answered in %s, over VCC's 10 s", d)
	}
	if calls := p.apiCalls(); calls != 0 {
		t.Fatalf("accepting the event called VCC %d times", calls)
	}
	if st, _ := p.queue.Stats(); st.Scheduled+st.Active != 1 { // active once the short settle has passed (a loaded machine)
		t.Fatalf("queue %+v, want one scheduled message", st)
	}
	p.drain()
	sc, ok := p.sidecarOf(guid)
	if !ok || sc.StoredVia != "event" || len(sc.Recordings) != 1 {
		t.Fatalf("sidecar %+v (found %v), want one recording stored via event", sc, ok)
	}
}

// Every bad request is refused with its status, enqueues nothing and calls
// nothing; a 401 answer carries no detail.
func TestEventsRefuseHostileRequests(t *testing.T) {
	p := newEventsPipeline(t, time.Minute)
	guid := p.sim.AddInteraction(time.Now().Add(-3*time.Minute), "inbound", 40<<10)
	body := []byte(`{"specversion":"1.0","id":"e-1","type":"channel.disconnected","source":"/vcc","data":{"channel":{"interactionId":"` + guid + `"}}}`)
	now := time.Now()
	good := webhook.Sign(p.key, body, now, 5*time.Minute)
	other, _ := webhook.DecodeSecret("c29tZSBvdGhlciBzZWNyZXQgb2YgYW5vdGhlciBzdWI=")
	tampered := bytes.Replace(body, []byte("e-1"), []byte("e-2"), 1)
	parts := strings.Split(good, ".")
	none := b64url(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + "."
	big := append(bytes.Repeat([]byte(" "), webhook.MaxBody), body...)
	notEvent := []byte(`{"specversion":"1.0","id":"e-3","type":"channel.disconnected","data":{}}`)
	cases := []struct {
		name   string
		sig    string
		body   []byte
		status int
	}{
		{"no signature", "", body, 401},
		{"wrong secret", webhook.Sign(other, body, now, 5*time.Minute), body, 401},
		{"tampered body", good, tampered, 401},
		{"expired token", webhook.Sign(p.key, body, now.Add(-6*time.Minute), 5*time.Minute), body, 401},
		{"alg none", none, body, 401},
		{"oversized", webhook.Sign(p.key, big, now, 5*time.Minute), big, 413},
		{"not a CloudEvent", webhook.Sign(p.key, notEvent, now, 5*time.Minute), notEvent, 400},
		{"not JSON", webhook.Sign(p.key, []byte("hello"), now, 5*time.Minute), []byte("hello"), 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, answer := p.post(c.sig, c.body)
			if status != c.status {
				t.Fatalf("status %d, want %d", status, c.status)
			}
			if status == 401 && answer != "Unauthorized\n" {
				t.Fatalf("401 answer %q carries detail", answer)
			}
		})
	}
	req, _ := http.NewRequest(http.MethodGet, p.url, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %v %v, want 405", resp, err)
	}
	if n := p.sends.Load(); n != 0 {
		t.Fatalf("%d sends for refused requests", n)
	}
	if st, _ := p.queue.Stats(); st != (queue.Stats{}) {
		t.Fatalf("queue %+v after refused requests, want empty", st)
	}
	if calls := p.apiCalls(); calls != 0 {
		t.Fatalf("refused requests called VCC %d times", calls)
	}
	if !strings.Contains(p.logs.String(), "payload_hash does not match") {
		t.Fatal("the reason of a refusal is not in the log")
	}
}

// An event type not of interest gets 202 and is ignored; a replayed valid
// event and the several events of one interaction store it once.
func TestEventsReplayStoresOnce(t *testing.T) {
	p := newEventsPipeline(t, time.Minute)
	guid := p.sim.AddInteraction(time.Now().Add(-3*time.Minute), "inbound", 40<<10)
	ev := func(id, typ string) []byte {
		return []byte(`{"specversion":"1.0","id":"` + id + `","type":"` + typ + `","source":"/vcc","data":{"channel":{"interactionId":"` + guid + `"}}}`)
	}
	connected := ev("c-1", "channel.connected")
	if status, _ := p.post(webhook.Sign(p.key, connected, time.Now(), time.Minute), connected); status != 202 {
		t.Fatalf("channel.connected: %d, want 202", status)
	}
	if n := p.sends.Load(); n != 0 {
		t.Fatal("an event not of interest was enqueued")
	}
	for i, b := range [][]byte{ev("d-1", "channel.disconnected"), ev("d-1", "channel.disconnected"), ev("d-2", "channel.disconnected")} {
		if status, _ := p.post(webhook.Sign(p.key, b, time.Now(), time.Minute), b); status != 202 {
			t.Fatalf("event %d: %d, want 202", i, status)
		}
	}
	if st, _ := p.queue.Stats(); st.Scheduled+st.Active != 1 { // active once the short settle has passed (a loaded machine)
		t.Fatalf("queue %+v, want the three deliveries absorbed into one message", st)
	}
	p.drain()
	if n := p.sim.Counters().ByEndpoint[vccsim.EndpointContentDownload]; n != 1 {
		t.Fatalf("%d downloads, want 1", n)
	}
	if _, ok := p.sidecarOf(guid); !ok {
		t.Fatal("not stored")
	}
}

// Accepting means enqueued: when the queue refuses, the answer is not 2xx
// (VCC delivers again), and the redelivery is accepted.
func TestEventsAnswerNot2xxUntilEnqueued(t *testing.T) {
	p := newEventsPipeline(t, time.Minute)
	guid := p.sim.AddInteraction(time.Now().Add(-3*time.Minute), "inbound", 40<<10)
	body := []byte(`{"specversion":"1.0","id":"e-1","type":"channel.disconnected","data":{"channel":{"interactionId":"` + guid + `"}}}`)
	p.fail.Store(true)
	if status, _ := p.post(webhook.Sign(p.key, body, time.Now(), time.Minute), body); status/100 == 2 {
		t.Fatalf("status %d while the queue refused", status)
	}
	p.fail.Store(false)
	if status, _ := p.post(webhook.Sign(p.key, body, time.Now(), time.Minute), body); status != 202 {
		t.Fatalf("redelivery: %d", status)
	}
	p.drain()
	if _, ok := p.sidecarOf(guid); !ok {
		t.Fatal("not stored")
	}
}

// A live call of the sandbox: its webhooks (signed by the sandbox) arrive
// before VCC has the recording, ingest polls without spending deliveries
// until it appears, stores it via the event path, and discover's later
// pass finds it complete without downloading again.
func TestEventsPollUntilTheContentAppears(t *testing.T) {
	p := newEventsPipeline(t, time.Minute)
	call, err := p.sim.EndCall(context.Background(), vccsim.Webhooks{URL: p.url, ProcessingDelay: 1500 * time.Millisecond}, time.Minute, 40<<10)
	if err != nil || call.Delivered != 3 {
		t.Fatalf("EndCall = %+v, %v", call, err)
	}
	p.drain()
	sc, ok := p.sidecarOf(call.GUID)
	if !ok || sc.StoredVia != "event" {
		t.Fatalf("sidecar %+v (found %v)", sc, ok)
	}
	if sc.IngestedAt.Before(call.AvailableAt) {
		t.Fatal("stored before the content existed")
	}
	waiting := 0
	p.mu.Lock()
	for _, r := range p.results {
		if r.DeliveryCount != 1 {
			t.Errorf("delivery %s had count %d: waiting spent deliveries", r.MessageID, r.DeliveryCount)
		}
		if strings.Contains(string(r.ReturnValue), `"outcome":"waiting"`) {
			waiting++
		}
	}
	p.mu.Unlock()
	if waiting == 0 {
		t.Fatal("no poll: the content was there at once, the test tests nothing")
	}
	// Discover's later pass: complete, nothing downloaded again.
	p.enqueueDay(call.End.Truncate(24 * time.Hour))
	p.drain()
	if n := p.sim.Counters().ByEndpoint[vccsim.EndpointContentDownload]; n != 1 {
		t.Fatalf("%d downloads, want 1", n)
	}
	if sc2, _ := p.sidecarOf(call.GUID); sc2.StoredVia != "event" || !sc2.IngestedAt.Equal(sc.IngestedAt) {
		t.Fatalf("discover's pass rewrote the sidecar: %+v", sc2)
	}
	// The report tells the path per day.
	d := call.End.Truncate(24 * time.Hour)
	r, err := report.Build(context.Background(), report.Sources{VCC: p.client, Sink: p.blobs, State: p.blobs.State(), IsAudio: isAudio}, d, d.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if r.Total.ViaEvent != 1 || r.Total.ViaDiscover != 0 {
		t.Fatalf("report: stored via event %d, discover %d; want 1, 0", r.Total.ViaEvent, r.Total.ViaDiscover)
	}
	var table strings.Builder
	if err := report.WriteTable(&table, r); err != nil || !strings.Contains(table.String(), "Stored by path") {
		t.Fatalf("report table lacks the path section: %v\n%s", err, table.String())
	}
}

// No content within the horizon: a skip is recorded, nothing is
// dead-lettered.
func TestEventsPollHorizonRecordsASkip(t *testing.T) {
	p := newEventsPipeline(t, 800*time.Millisecond)
	guid := "0b0e4f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
	body := []byte(`{"specversion":"1.0","id":"e-1","type":"channel.disconnected","data":{"channel":{"interactionId":"` + guid + `"}}}`)
	if status, _ := p.post(webhook.Sign(p.key, body, time.Now(), time.Minute), body); status != 202 {
		t.Fatalf("status %d", status)
	}
	accepted := time.Now().UTC()
	p.drain()
	if dead := p.deadLetters(); len(dead) != 0 {
		t.Fatalf("%d dead letters", len(dead))
	}
	found := false
	for _, day := range []time.Time{accepted, accepted.Add(-time.Minute)} {
		data, _, ok, err := p.blobs.State().Load(context.Background(), records.SkippedName(day, guid))
		if err == nil && ok && strings.Contains(string(data), "no content within the horizon") {
			found = true
		}
	}
	if !found {
		t.Fatal("no skip record with the horizon as its reason")
	}
}

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
