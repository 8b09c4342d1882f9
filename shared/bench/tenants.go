package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/message"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// Many tenants: how many tenants one discover tick covers.
const (
	benchTenants        = 100
	tenantsPerDay       = 200 // one listing page a tenant
	tenantsParallel     = 8   // as the custom handler's discover tick (shared/pipeline/tenancy)
	tenantsTimerPeriod  = 15 * time.Minute
	tenantsDefaultRate  = 160
	tenantsTickWindowed = 24 * time.Hour // a whole day per tenant: more than a tick's window
)

// 10. 100 tenants, each its own sandbox account (server, credential,
// contact centre) at the sandbox latency and the default budget, each
// discovered over a whole day (more than a tick's window) by its own
// client, eight tenants at a time as the discover tick runs them, into one
// embedded queue. The figure is the wall time against the timer period.
func manyTenants(ctx context.Context, e *env) ([]Result, error) {
	if e.product.DiscoverTenant == nil {
		return nil, fmt.Errorf("the product does not discover per tenant")
	}
	dir, logf, log, err := e.scenarioDir("tenants")
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	q, err := queue.OpenEmbedded(filepath.Join(dir, "queue.db"), queue.EmbeddedOptions{LockDuration: time.Minute, MaxDeliveryCount: 10})
	if err != nil {
		return nil, err
	}
	defer q.Close()
	state := store.NewDirState(filepath.Join(dir, "state"))
	type tenant struct {
		id   string
		sim  *vccsim.Sim
		disc Enqueuer
	}
	var ts []tenant
	defer func() {
		for _, t := range ts {
			t.sim.Close()
		}
	}()
	for i := 1; i <= benchTenants; i++ {
		id := fmt.Sprintf("tenant-%03d", i)
		sim := vccsim.New(vccsim.Options{Seed: int64(i), Start: day, InteractionsPerDay: tenantsPerDay, Latency: e.opts.Latency,
			ClientID: "client-" + id, ClientSecret: fmt.Sprintf("secret-%s-%d", id, time.Now().UnixNano()%7919)})
		if err := sim.Start(); err != nil {
			return nil, err
		}
		tl := log.With("tenant", id)
		client, err := vcc.New(vcc.Config{TokenURL: sim.TokenURL(), APIURL: sim.APIURL(), ClientID: sim.ClientID(),
			Secret: secrets.Static(secrets.New(sim.ClientSecret())), RatePerMinute: tenantsDefaultRate, Logger: tl})
		if err != nil {
			sim.Close()
			return nil, err
		}
		ts = append(ts, tenant{id: id, sim: sim, disc: e.product.DiscoverTenant(id, client, q, store.PrefixedState(state, store.TenantStatePrefix(id)), tl)})
	}
	began := time.Now()
	sem := make(chan struct{}, tenantsParallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var found, enqueued, failed int
	for _, t := range ts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			run, err := t.disc.Enqueue(ctx, day, day.Add(tenantsTickWindowed), "bench", time.Now())
			mu.Lock()
			defer mu.Unlock()
			found += run.Found
			enqueued += run.Enqueued
			if err != nil {
				failed++
			}
		}()
	}
	wg.Wait()
	took := time.Since(began)
	// Every message carries its tenant; none is dropped as another's.
	st, err := q.Stats()
	if err != nil {
		return nil, err
	}
	msgs, err := q.Receive(ctx, 1, time.Second)
	stamped := err == nil && len(msgs) == 1
	if stamped {
		b, derr := message.Decode(msgs[0].Body)
		stamped = derr == nil && b.Tenant != ""
	}
	res := Result{
		ID: "tenants.discover-100", Measure: "100 tenants discovered, one tick (each a whole sandbox day, 8 at a time)",
		Value: took.Seconds(), Unit: "s", Goal: Goal{"<=", tenantsTimerPeriod.Seconds()}, Valid: true,
		Note: fmt.Sprintf("%d tenants, each its own sandbox account (%v latency) and client at %d requests/min; %d interactions listed, %d enqueued (%d on the queue); %d tenants failed; goal: the %s timer period",
			benchTenants, e.opts.Latency, tenantsDefaultRate, found, enqueued, st.Active, failed, tenantsTimerPeriod),
	}
	switch {
	case failed > 0:
		res.Reason = fmt.Sprintf("%d tenants failed", failed)
	case !stamped:
		res.Reason = "a message does not carry its tenant"
	case enqueued == 0 || st.Active != enqueued:
		res.Reason = fmt.Sprintf("%d enqueued, %d on the queue: messages of different tenants were taken for duplicates", enqueued, st.Active)
	case !res.Goal.Check(res.Value):
		res.Reason = "longer than the timer period"
	}
	return []Result{res}, nil
}
