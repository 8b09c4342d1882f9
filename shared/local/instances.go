package local

import (
	"fmt"

	"github.com/vcc-ingest/vcc-ingest/shared/budget"
	"github.com/vcc-ingest/vcc-ingest/shared/ops"
	"github.com/vcc-ingest/vcc-ingest/shared/startup"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// maxInstances bounds --instances: the templates' scale-out cap is 40.
const maxInstances = 64

// instanceVCC is one handler instance's own VCC adapters, as a separate
// process of a scaled-out app has them: the single account's client, or
// each tenant's, with its own token, budget client and breaker. The
// instances of a run share no VCC state: only the account's budget, booked
// in budgetState (nil: each instance paces alone, at the whole budget).
type instanceVCC struct {
	client  *vcc.Client
	tenants []startup.Tenant
}

// pacers are the instance's VCC pacers: its client's, or each tenant's.
func (in instanceVCC) pacers() []vcc.Pacer {
	var out []vcc.Pacer
	if in.client != nil {
		out = append(out, in.client.Pacer())
	}
	for _, t := range in.tenants {
		out = append(out, t.VCC.Pacer())
	}
	return out
}

// budgetCounters sums what the instances' shared budgets did (none when
// each paces alone).
func budgetCounters(ins []instanceVCC) (sum budget.Counters) {
	for _, in := range ins {
		for _, p := range in.pacers() {
			b, ok := p.(*budget.Budget)
			if !ok {
				continue
			}
			c := b.Counters()
			sum.Loads += c.Loads
			sum.Saves += c.Saves
			sum.Conflicts += c.Conflicts
			sum.Booked += c.Booked
			sum.Handed += c.Handed
			sum.Lost += c.Lost
		}
	}
	return sum
}

// newInstanceVCC builds an instance's VCC adapters over env's settings.
func newInstanceVCC(env *ops.Env, budgetState store.State) (instanceVCC, error) {
	var in instanceVCC
	if env.Client != nil {
		vc := env.VCCConfig
		var err error
		if vc.Pacer, err = startup.Pacer(budgetState, "", vc.RatePerMinute, vc.Logger); err != nil {
			return in, err
		}
		if in.client, err = vcc.New(vc); err != nil {
			return in, err
		}
	}
	for _, t := range env.Tenants {
		vc := t.VCCConfig
		var err error
		if vc.Pacer, err = startup.Pacer(budgetState, t.ID, vc.RatePerMinute, t.Log); err != nil {
			return in, fmt.Errorf("tenant %s: %w", t.ID, err)
		}
		if t.VCC, err = vcc.New(vc); err != nil {
			return in, fmt.Errorf("tenant %s: %w", t.ID, err)
		}
		t.VCCConfig = vc
		in.tenants = append(in.tenants, t)
	}
	return in, nil
}

// counters are the VCC calls of every instance: each one's client, or
// each of its tenants', summed.
func instancesCounters(ins []instanceVCC) vcc.Counters {
	sum := vcc.Counters{Calls: map[string]int64{}}
	add := func(c vcc.Counters) {
		for k, v := range c.Calls {
			sum.Calls[k] += v
		}
		sum.Retries += c.Retries
		sum.Throttled += c.Throttled
		sum.TokenRequests += c.TokenRequests
		sum.Invalid += c.Invalid
		sum.FailedFast += c.FailedFast
		sum.OutOfWindow += c.OutOfWindow
	}
	for _, in := range ins {
		if in.client != nil {
			add(in.client.Counters())
		}
		for _, t := range in.tenants {
			add(t.VCC.Counters())
		}
	}
	return sum
}
