package sweep

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/ingest"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// Ingester is the ingest step (one tenant's, or the router to each
// tenant's).
type Ingester interface {
	Handle(ctx context.Context, d ingest.Delivery) (records.Result, error)
}

// Router is the ingest function's step: a sweep request goes to its
// tenant's Sweeper, every other message to Next.
type Router struct {
	Next Ingester
	// Lookup is tenant's Sweeper (ingest.ErrUnknownTenant for a tenant not
	// served, another error when that cannot be told now); a nil Sweeper
	// with no error: the tenant does not sweep.
	Lookup func(ctx context.Context, tenant string) (*Sweeper, error)
	Now    func() time.Time // nil: time.Now
}

func (r *Router) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

// Handle routes one delivery.
func (r *Router) Handle(ctx context.Context, d ingest.Delivery) (records.Result, error) {
	b, ok, err := Decode(d.Body)
	if !ok {
		return r.Next.Handle(ctx, d)
	}
	if err != nil {
		return records.Result{}, &ingest.Failure{Permanent: true, Reason: err.Error(), Err: err}
	}
	s, err := r.Lookup(ctx, b.Tenant)
	switch {
	case errors.Is(err, ingest.ErrUnknownTenant):
		// A removed tenant's sweep has nothing to do: not a failure.
		return records.Result{Outcome: records.Skipped, Tenant: b.Tenant, Reason: fmt.Sprintf("sweep of tenant %q, not served", b.Tenant)}, nil
	case err != nil:
		return records.Result{}, &ingest.Failure{Reason: "sweep: tenants document: " + err.Error(), Err: err}
	case s == nil:
		return records.Result{Outcome: records.Skipped, Tenant: b.Tenant, Reason: "sweep of a tenant that does not sweep"}, nil
	}
	out, err := s.Sweep(ctx, b, r.now())
	if err != nil {
		// As VCC's client classified it: a transient failure is delivered
		// again; either way discover remains the safety net.
		return records.Result{}, &ingest.Failure{Permanent: vcc.IsPermanent(err) && ctx.Err() == nil, Reason: err.Error(), Err: err}
	}
	return out.Result(b.Tenant), nil
}

// Only is the Lookup of a deployment of one tenant (id, "" for the single
// tenant of the VCC_* settings) sweeping with s (nil: not sweeping).
func Only(id string, s *Sweeper) func(context.Context, string) (*Sweeper, error) {
	return func(_ context.Context, tenant string) (*Sweeper, error) {
		if tenant != id {
			return nil, ingest.ErrUnknownTenant
		}
		return s, nil
	}
}
