package sweep

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/message"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/ingest"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
)

type nextStep struct{ got []string }

func (n *nextStep) Handle(_ context.Context, d ingest.Delivery) (records.Result, error) {
	n.got = append(n.got, d.MessageID)
	return records.Result{Outcome: records.Stored}, nil
}

// The ingest function's router: a sweep request is its tenant's sweep, any
// other message goes on to ingest; a removed tenant's request is skipped,
// a malformed one a permanent failure.
func TestRouterSendsSweepRequestsToTheirTenant(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	v := &fakeVCC{now: func() time.Time { return now }}
	q := newFakeQueue(func() time.Time { return now })
	s := New(v, q, store.NewDirState(t.TempDir()), Options{Tenant: "acme", Logger: quiet})
	next := &nextStep{}
	r := &Router{Next: next, Lookup: Only("acme", s), Now: func() time.Time { return now }}

	req, _ := Request("acme", now, 0, 0)
	res, err := r.Handle(context.Background(), ingest.Delivery{MessageID: req.ID, Body: req.Body})
	if err != nil || res.Outcome != records.Swept || v.api != 2 || len(next.got) != 0 {
		t.Fatalf("sweep request: %+v %v, %d VCC calls, passed on %v", res, err, v.api, next.got)
	}
	body, _ := message.Encode(message.Body{InteractionID: guid(0), Tenant: "acme"})
	if _, err := r.Handle(context.Background(), ingest.Delivery{MessageID: "acme:" + guid(0), Body: body}); err != nil || len(next.got) != 1 {
		t.Fatalf("an interaction's message: %v, passed on %v", err, next.got)
	}
	other, _ := Request("globex", now, 0, 0)
	if res, err := r.Handle(context.Background(), ingest.Delivery{Body: other.Body}); err != nil || res.Outcome != records.Skipped || v.api != 2 {
		t.Fatalf("another tenant's request: %+v %v", res, err)
	}
	var f *ingest.Failure
	if _, err := r.Handle(context.Background(), ingest.Delivery{Body: []byte(`{"v":1,"kind":"sweep","tenant":"acme"}`)}); !errors.As(err, &f) || !f.Permanent {
		t.Fatalf("a request without its slot: %v, want a permanent failure", err)
	}
}
