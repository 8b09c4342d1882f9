package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vcc-ingest/vcc-ingest/functions/discover"
	"github.com/vcc-ingest/vcc-ingest/functions/ingest"
	"github.com/vcc-ingest/vcc-ingest/shared/ops"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
)

// discoverParallel is how many tenants discover lists at once in one tick:
// each tenant's calls are held to its own budget, so the tick's length is
// set by the slowest tenants, not by their number.
const discoverParallel = 8

// tenantSteps are one tenant's steps, each over only that tenant's
// adapters (ops.Tenant): its VCC client, its prefix of the store, its state.
type tenantSteps struct {
	id       string
	discover discoverer
	ingest   *ingest.Ingester
}

// newTenantSteps builds t's steps; a's queue is the deployment's one queue.
func newTenantSteps(a ops.Adapters, t ops.Tenant) tenantSteps {
	return tenantSteps{
		id:       t.ID,
		discover: discover.New(t.VCC, a.Queue, t.State, discoverOptions(t.Config, t.Log)),
		ingest:   ingest.New(t.VCC, t.Sink, t.State, ingestOptions(t.Config, a.Queue, t.Log)),
	}
}

// tenantSet is the tenants of one version of the tenants document, in the
// document's order.
type tenantSet struct {
	version string // the document's version (its ETag); "" for a fixed set
	list    []*tenantSteps
	byID    map[string]*tenantSteps
}

func newTenantSet(version string, steps []tenantSteps) *tenantSet {
	s := &tenantSet{version: version, byID: map[string]*tenantSteps{}}
	for i := range steps {
		s.list = append(s.list, &steps[i])
		s.byID[steps[i].id] = &steps[i]
	}
	return s
}

// tenantSource is the tenants the handler serves now.
type tenantSource interface {
	// Current is the set to serve; it may re-read the tenants document.
	Current(ctx context.Context) (*tenantSet, error)
	// Lookup is id's steps: ingest.ErrUnknownTenant when the document does
	// not list it (a source that re-reads the document does so first: the
	// tenant may have been added since), another error when the document
	// cannot be read.
	Lookup(ctx context.Context, id string) (*tenantSteps, error)
}

// fixedTenants is a set that never changes (a local run's document).
type fixedTenants struct{ set *tenantSet }

func (f fixedTenants) Current(context.Context) (*tenantSet, error) { return f.set, nil }

func (f fixedTenants) Lookup(_ context.Context, id string) (*tenantSteps, error) {
	if s, ok := f.set.byID[id]; ok {
		return s, nil
	}
	return nil, ingest.ErrUnknownTenant
}

// ingestLookup is the ingest router's Lookup over src.
func ingestLookup(src tenantSource) func(context.Context, string) (*ingest.Ingester, error) {
	return func(ctx context.Context, id string) (*ingest.Ingester, error) {
		s, err := src.Lookup(ctx, id)
		if err != nil {
			return nil, err
		}
		return s.ingest, nil
	}
}

// tenantsDiscover runs every tenant's discovery each tick. One tenant's
// failure (a bad secret, its VCC down, a missing permission) stops only that
// tenant: the others run and advance their own checkpoints, and the tick
// then fails naming the tenants that failed and why.
type tenantsDiscover struct {
	tenants  tenantSource
	log      *slog.Logger
	parallel int
}

// Run discovers every tenant; the run returned sums theirs and lists each.
func (t *tenantsDiscover) Run(ctx context.Context, now time.Time, pastDue bool) (records.Run, error) {
	set, err := t.tenants.Current(ctx)
	if err != nil {
		return records.Run{Source: "discover", PastDue: pastDue, StartedAt: now.UTC(), FinishedAt: time.Now().UTC(),
			Error: "tenants document: " + err.Error()}, fmt.Errorf("tenants document: %w", err)
	}
	runs := make([]records.Run, len(set.list))
	errs := make([]error, len(set.list))
	sem := make(chan struct{}, max(t.parallel, 1))
	var wg sync.WaitGroup
	for i, td := range set.list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			run, err := td.discover.Run(ctx, now, pastDue)
			run.Tenant = td.id
			if err != nil {
				run.Error = err.Error()
				errs[i] = fmt.Errorf("tenant %s: %w", td.id, err)
				t.log.Error("discover failed", "tenant", td.id, "error", err)
			}
			runs[i] = run
		}()
	}
	wg.Wait()
	total := records.Run{Source: "discover", PastDue: pastDue, StartedAt: now.UTC(), FinishedAt: time.Now().UTC(), Tenants: runs}
	var failed []string
	for i, r := range runs {
		total.Found += r.Found
		total.Enqueued += r.Enqueued
		total.NoAudio += r.NoAudio
		total.Sends += r.Sends
		total.Chunks += r.Chunks
		total.WithStats += r.WithStats
		if total.Start.IsZero() || r.Start.Before(total.Start) && !r.Start.IsZero() {
			total.Start = r.Start
		}
		if r.End.After(total.End) {
			total.End = r.End
		}
		if errs[i] != nil {
			failed = append(failed, set.list[i].id)
		}
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		total.Error = fmt.Sprintf("%d of %d tenants failed: %s", len(failed), len(runs), strings.Join(failed, ", "))
		return total, errors.Join(errs...)
	}
	return total, nil
}
