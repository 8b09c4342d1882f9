package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/webhook"
)

// failingKey is a Key Vault that cannot be read, counting the attempts.
type failingKey struct{ reads atomic.Int32 }

func (f *failingKey) Secret(context.Context, bool) (secrets.Secret, error) {
	f.reads.Add(1)
	return secrets.Secret{}, errors.New("key vault: 403 forbidden")
}

type nopQueue struct{ sent atomic.Int32 }

func (q *nopQueue) SendBatch(_ context.Context, msgs []queue.Outgoing) error {
	q.sent.Add(int32(len(msgs)))
	return nil
}

// A tenant whose webhook secret cannot be read refuses a missing or
// malformed signature with 401, as an unknown tenant does, without reading
// the key; only a well-formed token reaches the key read, whose failure is
// 503 (VCC delivers again).
func TestUnreadableKeyRefusesMalformedSignaturesFirst(t *testing.T) {
	key := &failingKey{}
	q := &nopQueue{}
	r := New(q, Options{Key: key, Tenant: "acme"})
	body := []byte(`{"specversion":"1.0","id":"e-1","type":"channel.disconnected","source":"/vcc","data":{"channel":{"interactionId":"0b0e4f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"}}}`)
	for name, sig := range map[string]string{
		"none":       "",
		"not a jws":  "hello",
		"alg none":   "eyJhbGciOiJub25lIn0.e30.",
		"bearer":     "Bearer x.y.z",
		"short sig":  "eyJhbGciOiJIUzI1NiJ9.e30.c2hvcnQ",
		"three junk": "a.b.c",
	} {
		if out := r.Receive(context.Background(), sig, body); out.Status != 401 {
			t.Errorf("%s: %d (%s), want 401", name, out.Status, out.Reason)
		}
	}
	if n := key.reads.Load(); n != 0 {
		t.Fatalf("malformed signatures read the key %d times", n)
	}
	sig := webhook.Sign(secrets.New("whatever key"), body, time.Now(), 5*time.Minute)
	out := r.Receive(context.Background(), sig, body)
	if out.Status != 503 || !strings.Contains(out.Reason, "webhook secret unavailable") || key.reads.Load() != 1 {
		t.Fatalf("a well-formed token: %d (%s), %d key reads; want 503 after one read", out.Status, out.Reason, key.reads.Load())
	}
	if q.sent.Load() != 0 {
		t.Error("something was enqueued")
	}
}

// A valid, signed event of a type not of interest is answered 2xx (VCC
// retries anything else for 24 hours) whatever its data, and logged with its
// type; nothing is enqueued. Unsigned or badly signed, it is refused as any
// request is.
func TestIgnoredEventTypeIsAccepted(t *testing.T) {
	key := secrets.New("c3Vic2NyaXB0aW9uIHNlY3JldA==") // as stored: base64
	raw, err := webhook.DecodeSecret(key.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	q := &nopQueue{}
	r := New(q, Options{Key: secrets.Static(key), Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	presence := []byte(`{"specversion":"1.0","id":"e-7","type":"agent.presencechanged","source":"/vcc","time":"2026-11-22T10:00:00Z",` +
		`"data":{"agent":{"agentId":"a-1","presence":"Busy"}}}`)
	connected := []byte(`{"specversion":"1.0","id":"e-8","type":"channel.connected","source":"/vcc",` +
		`"data":{"channel":{"interactionId":"0b0e4f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"}}}`)
	for _, body := range [][]byte{presence, connected} {
		logs.Reset()
		out := r.Receive(context.Background(), webhook.Sign(raw, body, time.Now(), 5*time.Minute), body)
		var typ struct{ Type string }
		_ = json.Unmarshal(body, &typ)
		if out.Status < 200 || out.Status > 299 || !strings.Contains(out.Reason, typ.Type) || !strings.Contains(out.Reason, "ignored") {
			t.Errorf("%s: %d (%s), want 2xx, ignored", typ.Type, out.Status, out.Reason)
		}
		if !strings.Contains(logs.String(), `"msg":"webhook event ignored: type not of interest"`) || !strings.Contains(logs.String(), `"eventType":"`+typ.Type+`"`) {
			t.Errorf("%s: log %s", typ.Type, logs.String())
		}
		if out := r.Receive(context.Background(), "", body); out.Status != 401 {
			t.Errorf("%s unsigned: %d (%s), want 401", typ.Type, out.Status, out.Reason)
		}
		if out := r.Receive(context.Background(), webhook.Sign(secrets.New("another key"), body, time.Now(), 5*time.Minute), body); out.Status != 401 {
			t.Errorf("%s signed with another key: %d (%s), want 401", typ.Type, out.Status, out.Reason)
		}
	}
	// An event of interest still needs its interaction.
	disconnected := []byte(`{"specversion":"1.0","id":"e-9","type":"channel.disconnected","source":"/vcc","data":{"agent":{"agentId":"a-1"}}}`)
	if out := r.Receive(context.Background(), webhook.Sign(raw, disconnected, time.Now(), 5*time.Minute), disconnected); out.Status != 400 {
		t.Errorf("channel.disconnected without an interaction: %d (%s), want 400", out.Status, out.Reason)
	}
	if n := q.sent.Load(); n != 0 {
		t.Errorf("%d messages enqueued, want none", n)
	}
}
