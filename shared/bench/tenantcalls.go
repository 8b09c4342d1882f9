package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/config"
	"github.com/vcc-ingest/vcc-ingest/shared/devhost"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// Calls per recording over tenants: the same contact centre served as one
// tenant and as each of several, each then its own account.
const (
	tenantCallsTenants = 4
	tenantCallsPerDay  = 250
	tenantCallsSeed    = 21
)

// 12. VCC calls per stored recording when one deployment serves several
// tenants, against the same contact centre served alone in the same run.
// Every tenant is its own sandbox account (its own server, credential and
// counters) generated from the same seed, so each does exactly the work
// the single tenant does: the ratio shows what serving tenants adds —
// routing, per-tenant clients and directories, prefixes — in VCC calls,
// and that identical interaction ids in two accounts are neither merged by
// the queue's duplicate detection nor stored over each other.
func tenantCalls(ctx context.Context, e *env) ([]Result, error) {
	if e.product.TenantsHandler == nil || e.product.DiscoverTenant == nil {
		return nil, errors.New("the product does not serve tenants")
	}
	simOpts := func(id string) vccsim.Options {
		return vccsim.Options{Seed: tenantCallsSeed, Start: day, InteractionsPerDay: tenantCallsPerDay, Latency: e.opts.Latency,
			ClientID: "client-" + id, ClientSecret: fmt.Sprintf("secret-%s-%d", id, time.Now().UnixNano()%7919)}
	}

	// The baseline: one tenant, the single-tenant handler.
	p, err := e.newPipeline(ctx, pipelineOptions{name: "tenantcalls-single", sim: simOpts("single"), ratePerMinute: unpacedBudget, workers: 8})
	if err != nil {
		return nil, err
	}
	defer p.close()
	if _, err := p.disc.Enqueue(ctx, day, day.Add(24*time.Hour), "bench", time.Now()); err != nil {
		return nil, fmt.Errorf("single tenant: discover: %w", err)
	}
	if err := p.drain(ctx, time.Second); err != nil {
		return nil, err
	}
	baseCopied, _, baseFailed := p.tally()
	want := p.expectedRecordings()
	if baseCopied != want {
		return nil, fmt.Errorf("single tenant: %d of %d recordings stored (%d failed invocations)", baseCopied, want, baseFailed)
	}
	_, baseCalls := apiCalls(p.sim.Counters())
	base := float64(baseCalls) / float64(baseCopied)

	// The same contact centre as each of several tenants.
	dir, logf, log, err := e.scenarioDir("tenantcalls")
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	blobs, err := store.NewBlob(ctx, store.BlobConfig{ConnectionString: e.az.ConnectionString,
		Container: "tenantcalls-recordings", StateContainer: "tenantcalls-state", CreateContainers: true})
	if err != nil {
		return nil, err
	}
	q, err := queue.OpenEmbedded(filepath.Join(dir, "queue.db"), queue.EmbeddedOptions{LockDuration: 5 * time.Minute, MaxDeliveryCount: config.DefaultMaxAttempts})
	if err != nil {
		return nil, err
	}
	defer q.Close()
	var sims []*vccsim.Sim
	defer func() {
		for _, s := range sims {
			s.Close()
		}
	}()
	var ads []TenantAdapters
	for i := 1; i <= tenantCallsTenants; i++ {
		id := fmt.Sprintf("tenant-%d", i)
		sim := vccsim.New(simOpts(id))
		if err := sim.Start(); err != nil {
			return nil, err
		}
		sims = append(sims, sim)
		ad, err := tenantAdapters(id, sim, unpacedBudget, blobs, log)
		if err != nil {
			return nil, err
		}
		ads = append(ads, ad)
	}
	url, stop, err := serveTenants(e, ads, q, blobs, log)
	if err != nil {
		return nil, err
	}
	defer stop()
	var mu sync.Mutex
	copied := map[string]int{}
	failed := 0
	host := &devhost.Host{BaseURL: url, Queue: q, Workers: 8, Logger: log,
		OnResult: func(r devhost.Result) {
			mu.Lock()
			defer mu.Unlock()
			var res records.Result
			if !r.OK() || json.Unmarshal(r.ReturnValue, &res) != nil {
				failed++
				return
			}
			copied[res.Tenant] += res.Copied
		}}
	if err := host.WaitReady(ctx, 10*time.Second); err != nil {
		return nil, err
	}
	for _, a := range ads {
		if _, err := e.product.DiscoverTenant(a.ID, a.VCC, q, a.State, a.Log).Enqueue(ctx, day, day.Add(24*time.Hour), "bench", time.Now()); err != nil {
			return nil, fmt.Errorf("tenant %s: discover: %w", a.ID, err)
		}
	}
	if _, err := host.Drain(ctx, "ingest", time.Second); err != nil && !errors.Is(err, context.Canceled) {
		return nil, err
	}

	var calls, tokens int64
	total := 0
	var short []string
	for i, s := range sims {
		c := s.Counters()
		_, n := apiCalls(c)
		calls += n
		tokens += c.TokenRequests
		id := ads[i].ID
		total += copied[id]
		if copied[id] != want {
			short = append(short, fmt.Sprintf("%s %d of %d", id, copied[id], want))
		}
	}
	per := float64(calls) / float64(max(total, 1))
	ratio := per / base
	note := fmt.Sprintf("%d tenants, each its own sandbox account generated from the same seed as the single tenant (%d interactions, %d recordings each): %d API calls for %d recordings; alone %d calls for %d recordings (%.3f per recording); %d token requests (one a tenant); client budget %d/min so that calls, not pacing, are counted",
		tenantCallsTenants, tenantCallsPerDay, want, calls, total, baseCalls, baseCopied, base, tokens, unpacedBudget)
	perRow := Result{ID: "tenants.calls-per-recording", Measure: "VCC calls per stored recording over 4 tenants",
		Value: per, Unit: "calls", Goal: Goal{"<=", 1.05}, Valid: total > 0, Note: note}
	ratioRow := Result{ID: "tenants.calls-ratio", Measure: "calls per recording over 4 tenants ÷ the same contact centre alone",
		Value: ratio, Unit: "", Goal: Goal{"<=", 1.01}, Valid: total > 0, Note: "same run, same data per tenant"}
	switch {
	case len(short) > 0:
		perRow.Reason = fmt.Sprintf("not every tenant's recordings were stored: %v (%d failed invocations)", short, failed)
		ratioRow.Reason = perRow.Reason
	case tokens != tenantCallsTenants:
		ratioRow.Reason = fmt.Sprintf("%d token requests for %d tenants", tokens, tenantCallsTenants)
	}
	return []Result{perRow, ratioRow}, nil
}
