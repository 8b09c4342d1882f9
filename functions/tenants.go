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

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/vcc-ingest/vcc-ingest/functions/audit"
	"github.com/vcc-ingest/vcc-ingest/functions/discover"
	"github.com/vcc-ingest/vcc-ingest/functions/events"
	"github.com/vcc-ingest/vcc-ingest/functions/ingest"
	"github.com/vcc-ingest/vcc-ingest/shared/livetenants"
	"github.com/vcc-ingest/vcc-ingest/shared/ops"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/report"
	"github.com/vcc-ingest/vcc-ingest/shared/tenants"
)

// discoverParallel is how many tenants discover lists at once in one tick:
// each tenant's calls are held to its own budget, so the tick's length is
// set by the slowest tenants, not by their number.
const discoverParallel = 8

// auditParallel is how many tenants are audited at once: each audit reads
// whole days of listings and of the store, so fewer than discover.
const auditParallel = 4

// tenantSteps are one tenant's steps, each over only that tenant's
// adapters (ops.Tenant): its VCC client, its prefix of the store, its state.
type tenantSteps struct {
	id       string
	discover discoverer
	ingest   *ingest.Ingester
	audit    auditor
	// events receives the tenant's webhooks (/api/vcc/events/<id>); nil
	// when the tenant has no webhook secret: its path refuses everything.
	events *events.Receiver
}

// newTenantSteps builds t's steps; a's queue is the deployment's one queue.
func newTenantSteps(a ops.Adapters, t ops.Tenant) tenantSteps {
	s := tenantSteps{
		id:       t.ID,
		discover: discover.New(t.VCC, a.Queue, t.State, discoverOptions(t.Config, t.Log)),
		ingest:   ingest.New(t.VCC, t.Sink, t.State, ingestOptions(t.Config, a.Queue, t.Log)),
		audit:    newTenantAuditor(a, t),
	}
	if t.WebhookKey != nil {
		s.events = events.New(a.Queue, events.Options{Key: t.WebhookKey, Types: t.Config.WebhookEvents,
			Settle: t.Config.WebhookSettle, Logger: t.Log, Tenant: t.ID})
	}
	return s
}

// newTenantAuditor is t's audit: its VCC client, its prefix of the store,
// its state (the result under tenants/<id>/audits/), its owner, and only
// its dead letters of the deployment's one queue. Its event names the
// tenant itself, so it gets the deployment's logger (t's names it too).
func newTenantAuditor(a ops.Adapters, t ops.Tenant) *audit.Auditor {
	dead, _ := a.Queue.(report.Peeker)
	return audit.New(t.VCC, t.Sink, t.State, dead, audit.Options{
		Days: t.Config.AuditDays, OwnerUserID: t.Config.OwnerUserID, IsAudio: t.Config.IsAudio, Logger: a.Log, Tenant: t.ID,
	})
}

// tenantSet is the tenants of one version of the tenants document, in the
// document's order.
type tenantSet struct {
	version string // the document's version (its ETag); "" for a fixed set
	list    []*tenantSteps
	byID    map[string]*tenantSteps
	// stale is why a newer document is not served (invalid, deleted): this
	// older version is, and discover fails after running it, naming why.
	stale error
}

func newTenantSet(version string, steps []*tenantSteps) *tenantSet {
	s := &tenantSet{version: version, list: steps, byID: map[string]*tenantSteps{}}
	for _, st := range steps {
		s.byID[st.id] = st
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
	// Served is id's steps in the set served now, never waiting for a
	// forced read: the events path, where the answer's time must not tell
	// whether id is a tenant. Errors as Lookup's.
	Served(ctx context.Context, id string) (*tenantSteps, error)
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

func (f fixedTenants) Served(ctx context.Context, id string) (*tenantSteps, error) {
	return f.Lookup(ctx, id)
}

// liveTenants is the tenants document in the state container
// (VCC_TENANTS_BLOB) as the Function App serves it: re-read on demand by
// livetenants, each tenant's steps built once and kept while its entry is
// unchanged.
type liveTenants struct {
	src *livetenants.Source[*tenantSteps]

	mu  sync.Mutex
	v   *livetenants.Version[*tenantSteps] // the version set was made of
	set *tenantSet
}

// newLiveTenants serves the document cfg.TenantsBlob of a's state. Each
// tenant's secret is VCC_CLIENT_SECRET_<ID> when set (a local run of
// serve), otherwise the Key Vault secret secretName, read with cred at the
// tenant's first VCC call; a tenant with neither makes its version invalid.
// The whole document is checked as a local run's is (cfg.WithTenants: no
// two tenants with the same webhook secret) before any tenant is built.
func newLiveTenants(a ops.Adapters, getenv func(string) string, cred azcore.TokenCredential) *liveTenants {
	cfg := a.Config
	check := func(doc tenants.Document) error {
		_, errs := cfg.WithTenants(doc, getenv)
		return errors.Join(errs...)
	}
	build := func(t tenants.Tenant) (*tenantSteps, error) {
		tc, errs := cfg.WithTenants(tenants.Document{Tenants: []tenants.Tenant{t}}, getenv)
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		tn, err := ops.NewTenant(tc, t, ops.TenantBase{Log: a.Log, Sink: a.Sink, State: a.State, VCC: true, Credential: cred})
		if err != nil {
			return nil, err
		}
		steps := newTenantSteps(a, tn)
		return &steps, nil
	}
	return &liveTenants{src: livetenants.New(livetenants.Options[*tenantSteps]{
		State: a.State, Name: cfg.TenantsBlob, Refresh: cfg.TenantsRefresh, Check: check, Build: build, Log: a.Log,
		Hosts: cfg.TenantHosts(false), // the Function App: never loopback
	})}
}

func (l *liveTenants) Current(ctx context.Context) (*tenantSet, error) {
	v, problem := l.src.Current(ctx)
	if v == nil {
		return nil, problem
	}
	set := l.setOf(v)
	if problem != nil {
		stale := *set
		stale.stale = problem
		return &stale, nil
	}
	return set, nil
}

func (l *liveTenants) Lookup(ctx context.Context, id string) (*tenantSteps, error) {
	return unknownAsIngest(l.src.Lookup(ctx, id))
}

func (l *liveTenants) Served(ctx context.Context, id string) (*tenantSteps, error) {
	return unknownAsIngest(l.src.Served(ctx, id))
}

// unknownAsIngest marks livetenants' unknown tenant as ingest's.
func unknownAsIngest(s *tenantSteps, err error) (*tenantSteps, error) {
	if ue := (*livetenants.UnknownError)(nil); errors.As(err, &ue) {
		return nil, fmt.Errorf("%w: %w", ingest.ErrUnknownTenant, err)
	}
	return s, err
}

// setOf is v as a tenantSet, made once per version.
func (l *liveTenants) setOf(v *livetenants.Version[*tenantSteps]) *tenantSet {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.v != v {
		steps := make([]*tenantSteps, len(v.Tenants))
		for i, e := range v.Tenants {
			steps[i] = e.Value
		}
		l.v, l.set = v, newTenantSet(v.ETag, steps)
	}
	return l.set
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
		err = fmt.Errorf("no tenants served: %w", err)
		return records.Run{Source: "discover", PastDue: pastDue, StartedAt: now.UTC(), FinishedAt: time.Now().UTC(),
			Error: err.Error()}, err
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
				t.log.Error("discover failed", "function", "discover", "tenant", td.id, "error", err)
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
	var problems []string
	if len(failed) > 0 {
		sort.Strings(failed)
		problems = append(problems, fmt.Sprintf("%d of %d tenants failed: %s", len(failed), len(runs), strings.Join(failed, ", ")))
	}
	if set.stale != nil {
		// The tenants ran; the tick still fails, so the discover-failure
		// alert names the document an operator has to fix.
		stale := fmt.Errorf("%w; the tenants of version %s were served", set.stale, set.version)
		problems = append(problems, stale.Error())
		errs = append(errs, stale)
	}
	if len(problems) > 0 {
		total.Error = strings.Join(problems, "; ")
		return total, errors.Join(errs...)
	}
	return total, nil
}

// tenantsAudit audits every tenant of the source, each with its own client,
// prefix of the store and state, a few at a time. One tenant's failure
// stops only that tenant: the others are audited and stored, and the run
// then fails naming the failing tenants and why (the failure alert).
type tenantsAudit struct {
	tenants  tenantSource
	log      *slog.Logger
	parallel int
}

// Run audits every tenant; the result returned sums theirs and lists each.
func (t *tenantsAudit) Run(ctx context.Context, now time.Time) (records.Audit, error) {
	set, err := t.tenants.Current(ctx)
	if err != nil {
		return records.Audit{GeneratedAt: now.UTC(), Error: "tenants document: " + err.Error()}, fmt.Errorf("tenants document: %w", err)
	}
	results := make([]records.Audit, len(set.list))
	errs := make([]error, len(set.list))
	sem := make(chan struct{}, max(t.parallel, 1))
	var wg sync.WaitGroup
	for i, ts := range set.list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			res, err := ts.audit.Run(ctx, now)
			res.Tenant, res.Report, res.Doctor = ts.id, nil, nil // each stored in full in its tenant's state
			if err != nil {
				res.Error = err.Error()
				errs[i] = fmt.Errorf("tenant %s: %w", ts.id, err)
				t.log.Error("audit failed", "function", "audit", "tenant", ts.id, "error", err)
			}
			results[i] = res
		}()
	}
	wg.Wait()
	total := records.Audit{GeneratedAt: now.UTC(), Tenants: results,
		HiddenDirections: []string{}, HiddenLines: []string{}, HiddenAgents: []string{}, Problems: []string{}, Unchecked: []string{}}
	var failed []string
	for i, r := range results {
		if errs[i] != nil {
			failed = append(failed, set.list[i].id)
			continue
		}
		if total.From.IsZero() {
			total.From, total.To = r.From, r.To
		}
		total.Gaps += r.Gaps
		total.LineGaps += r.LineGaps
		total.Missing += r.Missing
		total.DeadLetters += r.DeadLetters
		total.PermissionIssue = total.PermissionIssue || r.PermissionIssue
		for _, x := range []struct{ to, from *[]string }{
			{&total.HiddenDirections, &r.HiddenDirections}, {&total.HiddenLines, &r.HiddenLines}, {&total.HiddenAgents, &r.HiddenAgents},
			{&total.Problems, &r.Problems}, {&total.Unchecked, &r.Unchecked},
		} {
			for _, v := range *x.from {
				*x.to = append(*x.to, r.Tenant+": "+v)
			}
		}
	}
	if set.stale != nil {
		// The version served was audited; the newer document an operator
		// has to fix is named with the findings (discover's tick fails on it).
		total.Problems = append(total.Problems, fmt.Sprintf("tenants document: %v; the tenants of version %s were audited", set.stale, set.version))
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		total.Error = fmt.Sprintf("%d of %d tenants failed: %s", len(failed), len(results), strings.Join(failed, ", "))
		return total, errors.Join(errs...)
	}
	return total, nil
}
