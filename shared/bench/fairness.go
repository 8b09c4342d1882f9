package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/devhost"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

const (
	fairnessBacklog = 10000 // tenant A's backfill
	fairnessFresh   = 50    // tenant B's day
	fairnessWorkers = 16    // host.json maxConcurrentCalls
	fairnessPeriod  = 15 * time.Minute
)

// 11. Fairness: tenant B's latency (its messages enqueued → its last
// recording stored) behind tenant A's backfill of 10,000 interactions,
// enqueued first, against B alone on an empty queue. Each tenant is its own
// sandbox account and client at the default budget (160/min), so A's budget
// is taken within seconds and the rest of its backlog must not hold the
// invocation slots. The run stops once B is stored (A's backfill goes on
// for an hour at its budget).
func fairness(ctx context.Context, e *env) ([]Result, error) {
	if e.product.TenantsHandler == nil || e.product.DiscoverTenant == nil {
		return nil, errors.New("the product does not serve tenants")
	}
	dir, logf, log, err := e.scenarioDir("fairness")
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	blobs, err := store.NewBlob(ctx, store.BlobConfig{ConnectionString: e.az.ConnectionString,
		Container: "fairness-recordings", StateContainer: "fairness-state", CreateContainers: true})
	if err != nil {
		return nil, err
	}
	simA := vccsim.New(vccsim.Options{Seed: 3, Start: day, InteractionsPerDay: fairnessBacklog, Latency: e.opts.Latency, ClientID: "client-a", ClientSecret: "secret-a-7731"})
	simB := vccsim.New(vccsim.Options{Seed: 4, Start: day, InteractionsPerDay: fairnessFresh, Latency: e.opts.Latency, ClientID: "client-b", ClientSecret: "secret-b-1193"})
	for _, s := range []*vccsim.Sim{simA, simB} {
		if err := s.Start(); err != nil {
			return nil, err
		}
		defer s.Close()
	}
	alone, _, err := fairnessRun(ctx, e, dir, "alone", blobs, log, nil, simB)
	if err != nil {
		return nil, fmt.Errorf("B alone: %w", err)
	}
	behind, aStored, err := fairnessRun(ctx, e, dir, "behind", blobs, log, simA, simB)
	if err != nil {
		return nil, fmt.Errorf("B behind A: %w", err)
	}
	res := Result{
		ID: "fairness.latency", Measure: "tenant B's latency behind tenant A's 10,000-interaction backfill, against B alone",
		Value: behind.Seconds(), Unit: "s", Goal: Goal{"<=", (alone + fairnessPeriod).Seconds()}, Valid: true,
		Note: fmt.Sprintf("B's %d-interaction day: %.1f s alone, %.1f s with A's %d messages enqueued first (A stored %d meanwhile at its budget); %d workers, 160 requests/min each tenant; goal: B alone plus one discover period (%s)",
			fairnessFresh, alone.Seconds(), behind.Seconds(), fairnessBacklog, aStored, fairnessWorkers, fairnessPeriod),
	}
	if !res.Goal.Check(res.Value) {
		res.Reason = "B waited longer than a discover period behind A"
	}
	return []Result{res}, nil
}

// fairnessRun enqueues a's day (when a is set) and then b's, each tenant
// under a prefix of its own for this run, and ingests until b's interactions
// are all stored; it returns b's latency and how many of a's were stored.
func fairnessRun(ctx context.Context, e *env, dir, name string, blobs *store.Blob, log *slog.Logger, a, b *vccsim.Sim) (time.Duration, int, error) {
	q, err := queue.OpenEmbedded(filepath.Join(dir, name+".db"), queue.EmbeddedOptions{LockDuration: 5 * time.Minute, MaxDeliveryCount: 10})
	if err != nil {
		return 0, 0, err
	}
	defer q.Close()
	type tenant struct {
		sim *vccsim.Sim
		ad  TenantAdapters
	}
	var ts []tenant
	for _, s := range []*vccsim.Sim{a, b} {
		if s == nil {
			continue
		}
		id := name + "-a"
		if s == b {
			id = name + "-b"
		}
		ad, err := tenantAdapters(id, s, 160, blobs, log)
		if err != nil {
			return 0, 0, err
		}
		ts = append(ts, tenant{sim: s, ad: ad})
	}
	ads := make([]TenantAdapters, len(ts))
	for i, t := range ts {
		ads[i] = t.ad
	}
	base, stop, err := serveTenants(e, ads, q, blobs, log)
	if err != nil {
		return 0, 0, err
	}
	defer stop()
	bID := ts[len(ts)-1].ad.ID
	var mu sync.Mutex
	stored := map[string]int{}
	bDone := make(chan struct{})
	wantB := map[string]bool{}
	for _, r := range b.Recordings() {
		if r.Visible && isAudio(r.Type) && r.Audio {
			wantB[r.InteractionGUID] = true
		}
	}
	host := &devhost.Host{BaseURL: base, Queue: q, Workers: fairnessWorkers, Logger: log,
		OnResult: func(r devhost.Result) {
			var res records.Result
			if !r.OK() || json.Unmarshal(r.ReturnValue, &res) != nil || (res.Outcome != records.Stored && res.Outcome != records.Complete) {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			stored[res.Tenant]++
			if res.Tenant == bID && stored[bID] == len(wantB) {
				close(bDone)
			}
		}}
	if err := host.WaitReady(ctx, 10*time.Second); err != nil {
		return 0, 0, err
	}
	var bEnqueued time.Time
	for _, t := range ts {
		if t.sim == b {
			bEnqueued = time.Now()
		}
		if _, err := e.product.DiscoverTenant(t.ad.ID, t.ad.VCC, q, t.ad.State, t.ad.Log).Enqueue(ctx, day, day.Add(24*time.Hour), "bench", time.Now()); err != nil {
			return 0, 0, err
		}
	}
	dctx, cancel := context.WithTimeout(ctx, fairnessPeriod+5*time.Minute)
	defer cancel()
	drained := make(chan error, 1)
	go func() { _, err := host.Drain(dctx, "ingest", time.Hour); drained <- err }()
	var latency time.Duration
	select {
	case <-bDone:
		latency = time.Since(bEnqueued)
	case <-dctx.Done():
		latency = time.Since(bEnqueued)
	case err := <-drained:
		if err != nil && !errors.Is(err, context.Canceled) {
			return 0, 0, err
		}
		latency = time.Since(bEnqueued)
	}
	cancel()
	<-drained
	mu.Lock()
	defer mu.Unlock()
	if stored[bID] < len(wantB) {
		return latency, 0, fmt.Errorf("only %d of B's %d interactions stored in %v", stored[bID], len(wantB), latency)
	}
	aStored := 0
	if a != nil {
		aStored = stored[ts[0].ad.ID]
	}
	return latency, aStored, nil
}

// tenantAdapters is one tenant's adapters over its sandbox account: its own
// client at its budget, its prefix of blobs and of their state.
func tenantAdapters(id string, sim *vccsim.Sim, ratePerMinute int, blobs *store.Blob, log *slog.Logger) (TenantAdapters, error) {
	tl := log.With("tenant", id)
	client, err := vcc.New(vcc.Config{TokenURL: sim.TokenURL(), APIURL: sim.APIURL(), ClientID: sim.ClientID(),
		Secret: secrets.Static(secrets.New(sim.ClientSecret())), RatePerMinute: ratePerMinute, Logger: tl})
	if err != nil {
		return TenantAdapters{}, err
	}
	return TenantAdapters{ID: id, VCC: client, Sink: store.Prefixed(blobs, id+"/"),
		State: store.PrefixedState(blobs.State(), store.TenantStatePrefix(id)), Log: tl}, nil
}

// serveTenants serves the product's tenants handler over ads on a port of
// its own; it returns the base URL and how to stop it.
func serveTenants(e *env, ads []TenantAdapters, q *queue.Embedded, blobs *store.Blob, log *slog.Logger) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: e.product.TenantsHandler(ads, q, blobs.State(), log), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}
