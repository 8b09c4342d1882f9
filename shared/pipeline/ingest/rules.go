package ingest

import (
	"context"
	"errors"
	"log/slog"

	"github.com/vcc-ingest/vcc-ingest/shared/message"
	"github.com/vcc-ingest/vcc-ingest/shared/pace"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// work is one delivery on its way through the step: the message as it
// came, its decoded body, and a logger naming it.
type work struct {
	d    Delivery
	body message.Body
	log  *slog.Logger
}

// step handles one delivery.
type step func(ctx context.Context, w work) (records.Result, error)

// rule wraps a step with one concern, as a message middleware does.
type rule func(next step) step

// wrap is s inside rules, the first one outermost.
func wrap(s step, rules ...rule) step {
	for k := len(rules) - 1; k >= 0; k-- {
		s = rules[k](s)
	}
	return s
}

// refuseOtherTenant: a message naming another tenant can never be written
// with this tenant's adapters, a permanent failure.
func (i *Ingester) refuseOtherTenant(next step) step {
	return func(ctx context.Context, w work) (records.Result, error) {
		if w.body.Tenant != i.opts.Tenant {
			f := &Failure{InteractionID: w.body.InteractionID, Permanent: true, Reason: wrongTenant(w.body.Tenant, i.opts.Tenant)}
			w.log.Warn("ingest failed", "permanent", true, "reason", f.Reason)
			return records.Result{}, f
		}
		return next(ctx, w)
	}
}

// failKnownPermanent: a message already known to fail permanently is not
// retried against VCC; it fails at once until the queue dead-letters it.
// Only a redelivery of that same message counts: a new message with the
// same id (a backfill) starts its delivery count again and is tried.
func (i *Ingester) failKnownPermanent(next step) step {
	return func(ctx context.Context, w work) (records.Result, error) {
		d := w.d
		if rec, ok := i.failure(ctx, w.body.InteractionID); ok && rec.Permanent && rec.MessageID == d.MessageID && d.MessageID != "" && d.DeliveryCount > rec.DeliveryCount {
			return records.Result{}, &Failure{InteractionID: w.body.InteractionID, Permanent: true, Reason: rec.Reason + " (recorded earlier; awaiting dead-letter)"}
		}
		return next(ctx, w)
	}
}

// deferWhileUnavailable puts the work off (deferDelivery) while VCC is
// unavailable: when the breaker is open before it starts, and when the
// copy ends on VCC's unavailability.
func (i *Ingester) deferWhileUnavailable(next step) step {
	return func(ctx context.Context, w work) (records.Result, error) {
		if i.opts.Requeue != nil {
			if err := i.unavailable(); err != nil {
				return i.deferDelivery(ctx, w.d, w.body, err, w.log)
			}
		}
		res, err := next(ctx, w)
		if i.deferrable(ctx, err) {
			return i.deferDelivery(ctx, w.d, w.body, err, w.log)
		}
		return res, err
	}
}

// deferrable reports whether err is VCC's unavailability and the work can
// be put off for it (a queue to send the copy to, the invocation not cut
// short).
func (i *Ingester) deferrable(ctx context.Context, err error) bool {
	return err != nil && i.opts.Requeue != nil && errors.Is(err, vcc.ErrUnavailable) && ctx.Err() == nil
}

// paceWhileBudgetTaken puts the work off (paceLater) when the tenant's
// request budget is taken further ahead than PaceLimit, instead of holding
// an invocation while it frees up. What the VCC client knows without asking
// decides first; then the first call's slot is booked only within
// PaceLimit (pace.WithLimit), and a budget found taken when booking puts
// the work off to the slot it named, with nothing booked for it.
func (i *Ingester) paceWhileBudgetTaken(next step) step {
	return func(ctx context.Context, w work) (records.Result, error) {
		if i.opts.Requeue == nil || i.opts.PaceLimit <= 0 {
			return next(ctx, w)
		}
		if wait := i.pacerWait(); wait > i.opts.PaceLimit {
			return i.paceLater(ctx, w.d, w.body, wait, w.log)
		}
		res, err := next(pace.WithLimit(ctx, i.opts.PaceLimit), w)
		if te, ok := pace.Taken(err); ok && ctx.Err() == nil {
			return i.paceLater(ctx, w.d, w.body, te.Next.Sub(i.opts.Now()), w.log)
		}
		return res, err
	}
}

func isTaken(err error) bool {
	_, ok := pace.Taken(err)
	return ok
}

// pollUntilContent looks again later (pollLater) for an event's content
// that VCC does not list yet.
func (i *Ingester) pollUntilContent(next step) step {
	return func(ctx context.Context, w work) (records.Result, error) {
		res, err := next(ctx, w)
		if errors.Is(err, errNotYet) {
			return i.pollLater(ctx, w.d, w.body, w.log)
		}
		return res, err
	}
}

// recordOutcome classifies a failure of the copy, records it where replay
// and the reports find it, and logs it; a success clears an earlier record.
// What a rule outside puts off (content not there yet, VCC unavailable) is
// passed on unrecorded.
func (i *Ingester) recordOutcome(next step) step {
	return func(ctx context.Context, w work) (records.Result, error) {
		res, err := next(ctx, w)
		guid := w.body.InteractionID
		switch {
		case errors.Is(err, errNotYet) || i.deferrable(ctx, err):
			return res, err
		case isTaken(err):
			return res, err // put off by paceWhileBudgetTaken: nothing was tried
		case err != nil:
			var f *Failure
			if !errors.As(err, &f) {
				f = classify(guid, err)
			}
			f.InteractionID = guid
			if ctx.Err() != nil {
				// Cut short (the invocation deadline, a shutdown): whatever the
				// error says, the work was not tried to the end.
				f.Permanent = false
			}
			i.recordFailure(ctx, w.d, f, w.log)
			w.log.Warn("ingest failed", "permanent", f.Permanent, "reason", f.Reason)
			return records.Result{}, f
		}
		if err := i.state.Delete(ctx, records.FailureName(guid)); err != nil {
			w.log.Warn("failure record not cleared", "error", err)
		}
		res.Tenant = i.opts.Tenant
		w.log.Info("ingest done", "outcome", res.Outcome, "via", storedVia(w.body.Source), "direction", res.Direction, "recordings", res.Recordings, "copied", res.Copied, "bytes", res.Bytes, "reason", res.Reason)
		return res, nil
	}
}
