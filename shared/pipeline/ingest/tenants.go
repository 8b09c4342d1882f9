package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/message"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
)

// Tenants routes each delivery to the Ingester of the tenant its message
// names. Each tenant's Ingester holds only that tenant's VCC client, sink
// (its prefix) and state, and refuses a message for another tenant, so a
// message can never be written under another tenant's prefix.
//
// A message naming no tenant, or one the tenants document does not list (a
// removed tenant, a crafted message), is a permanent failure with that
// reason, recorded in the deployment's own state (failures/<guid>.json at
// the state container's root, where no tenant's records are): the queue
// dead-letters it.
type Tenants struct {
	// Lookup is the Ingester of the tenant id: ErrUnknownTenant when the
	// tenants document does not list it, another error when the document
	// cannot be read now (a transient failure: the message is retried).
	Lookup func(ctx context.Context, id string) (*Ingester, error)
	State  store.State // the deployment's state (not a tenant's)
	Logger *slog.Logger
	Now    func() time.Time
	// Requeue, when set, puts a delivery off while the tenants document
	// cannot be read (a scheduled copy, as while VCC is unavailable, up to
	// DeferralHorizon), so that a document unreadable for a while spends
	// no delivery count; nil fails the delivery transiently instead.
	Requeue         queue.Sender
	DeferralHorizon time.Duration
}

// ErrUnknownTenant is Lookup's answer for a tenant the document lacks.
var ErrUnknownTenant = errors.New("unknown tenant")

// ByID is a Lookup over a fixed set of tenants.
func ByID(m map[string]*Ingester) func(context.Context, string) (*Ingester, error) {
	return func(_ context.Context, id string) (*Ingester, error) {
		if in, ok := m[id]; ok {
			return in, nil
		}
		return nil, ErrUnknownTenant
	}
}

// Handle processes one delivery with its tenant's Ingester.
func (t *Tenants) Handle(ctx context.Context, d Delivery) (records.Result, error) {
	body, err := message.Decode(d.Body)
	if err != nil {
		return records.Result{}, &Failure{Permanent: true, Reason: err.Error(), Err: err}
	}
	reason := fmt.Sprintf("unknown tenant %q: not in the tenants document (removed, or never added)", body.Tenant)
	if body.Tenant != "" {
		in, err := t.Lookup(ctx, body.Tenant)
		if err == nil {
			return in.Handle(ctx, d)
		}
		if !errors.Is(err, ErrUnknownTenant) {
			if t.Requeue != nil {
				d0 := New(nil, nil, t.State, Options{Requeue: t.Requeue, DeferralHorizon: t.DeferralHorizon, Now: t.Now, Logger: t.Logger})
				return d0.deferWhile(ctx, d, body, "tenants document unreadable", err, t.log(body, d))
			}
			return records.Result{}, &Failure{InteractionID: body.InteractionID, Reason: "tenants document: " + err.Error(), Err: err}
		}
		if err != ErrUnknownTenant {
			reason = err.Error() // the lookup knows more (e.g. removed from the document)
		}
	} else {
		reason = "message names no tenant, and this deployment serves several (a tenants document)"
	}
	f := &Failure{InteractionID: body.InteractionID, Permanent: true, Reason: reason}
	log := t.log(body, d)
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	if t.State != nil {
		rec, _ := json.Marshal(records.FailureRecord{InteractionID: body.InteractionID, MessageID: d.MessageID, Permanent: true,
			Reason: reason, DeliveryCount: d.DeliveryCount, At: now().UTC()})
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := t.State.Put(wctx, records.FailureName(body.InteractionID), rec); err != nil {
			log.Warn("failure record not written", "error", err)
		}
	}
	log.Warn("ingest failed", "permanent", true, "reason", reason)
	return records.Result{}, f
}

// log is the router's logger for one delivery.
func (t *Tenants) log(body message.Body, d Delivery) *slog.Logger {
	log := t.Logger
	if log == nil {
		log = slog.Default()
	}
	return log.With("tenant", body.Tenant, "interactionId", body.InteractionID, "messageId", d.MessageID, "deliveryCount", d.DeliveryCount)
}
