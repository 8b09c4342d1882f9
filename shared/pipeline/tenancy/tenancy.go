// Package tenancy is the orchestration every runner shares over the tenants
// a deployment serves: each tenant's steps built once over its own adapters
// (Steps), the set of one version of the tenants document (Set), where the
// set comes from (Fixed, or Live: the document in the state container), and
// discover and audit run over every tenant with a bounded fan-out, one
// tenant's failure stopping only that tenant.
package tenancy

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
	"golang.org/x/sync/errgroup"

	"github.com/vcc-ingest/vcc-ingest/shared/config"
	"github.com/vcc-ingest/vcc-ingest/shared/livetenants"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/audit"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/discover"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/events"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/ingest"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/sweep"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/report"
	"github.com/vcc-ingest/vcc-ingest/shared/startup"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/tenants"
)

// DiscoverParallel is how many tenants discover lists at once in one tick:
// each tenant's calls are held to its own budget, so the tick's length is
// set by the slowest tenants, not by their number.
const DiscoverParallel = 8

// AuditParallel is how many tenants are audited at once: each audit reads
// whole days of listings and of the store, so fewer than discover.
const AuditParallel = 4

// Steps are one tenant's steps, each over only that tenant's
// adapters (startup.Tenant): its VCC client, its prefix of the store, its state.
type Steps struct {
	ID       string
	Discover Discoverer
	Ingest   *ingest.Ingester
	Audit    Auditor
	// Events receives the tenant's webhooks (/api/vcc/events/<id>); nil
	// when the tenant has no webhook secret: its path refuses everything.
	Events *events.Receiver
	// Sweep runs the sweeps the tenant's events ask for; nil when its
	// events are one ingest message each (WEBHOOK_SWEEP=0).
	Sweep *sweep.Sweeper
}

// Discoverer is the discover step: one tenant's (*discover.Discoverer), or
// every tenant's (*Discover).
type Discoverer interface {
	Run(ctx context.Context, now time.Time, pastDue bool) (records.Run, error)
}

// Auditor is the audit step: one tenant's (*audit.Auditor), or every
// tenant's (*Audit).
type Auditor interface {
	Run(ctx context.Context, now time.Time) (records.Audit, error)
}

// newTenantSteps builds t's steps; a's queue is the deployment's one queue.
func NewSteps(a startup.Adapters, t startup.Tenant) Steps {
	s := Steps{
		ID:       t.ID,
		Discover: discover.New(t.VCC, a.Queue, t.State, DiscoverOptions(t.Config, t.Log)),
		Ingest:   ingest.New(t.VCC, t.Sink, t.State, IngestOptions(t.Config, a.Queue, t.Log)),
		Audit:    newAuditor(a, t),
	}
	s.Sweep = NewSweeper(t.Config, t.VCC, a.Queue, t.State, t.Log)
	if t.WebhookKey != nil {
		s.Events = events.New(a.Queue, events.Options{Key: t.WebhookKey, Types: t.Config.WebhookEvents,
			Settle: t.Config.WebhookSettle, SweepEvery: t.Config.WebhookSweep, Logger: t.Log, Tenant: t.ID})
	}
	return s
}

// NewSweeper is the sweep of cfg's tenant over its VCC lister and state;
// nil when its events do not ask for sweeps (WEBHOOK_SWEEP=0).
func NewSweeper(cfg config.Config, l discover.Lister, q queue.Sender, st store.State, log *slog.Logger) *sweep.Sweeper {
	if cfg.WebhookSweep <= 0 {
		return nil
	}
	return sweep.New(l, q, st, sweep.Options{Every: cfg.WebhookSweep, IsAudio: cfg.IsAudio, Logger: log, Tenant: cfg.Tenant})
}

// SweepLookup is src's tenants' sweeps, for sweep.Router.
func SweepLookup(src Source) func(context.Context, string) (*sweep.Sweeper, error) {
	return func(ctx context.Context, id string) (*sweep.Sweeper, error) {
		s, err := src.Lookup(ctx, id)
		if err != nil {
			return nil, err
		}
		return s.Sweep, nil
	}
}

// newAuditor is t's audit: its VCC client, its prefix of the store,
// its state (the result under tenants/<id>/audits/), its owner, and only
// its dead letters of the deployment's one queue. Its event names the
// tenant itself, so it gets the deployment's logger (t's names it too).
func newAuditor(a startup.Adapters, t startup.Tenant) *audit.Auditor {
	dead, _ := a.Queue.(report.Peeker)
	return audit.New(t.VCC, t.Sink, t.State, dead, audit.Options{
		Days: t.Config.AuditDays, OwnerUserID: t.Config.OwnerUserID, IsAudio: t.Config.IsAudio, Logger: a.Log, Tenant: t.ID,
	})
}

// Set is the tenants of one version of the tenants document, in the
// document's order.
type Set struct {
	Version string // the document's version (its ETag); "" for a fixed set
	List    []*Steps
	byID    map[string]*Steps
	// Stale is why a newer document is not served (invalid, deleted): this
	// older version is, and discover fails after running it, naming why.
	Stale error
}

func NewSet(version string, steps []*Steps) *Set {
	s := &Set{Version: version, List: steps, byID: map[string]*Steps{}}
	for _, st := range steps {
		s.byID[st.ID] = st
	}
	return s
}

// Source is the tenants the handler serves now.
type Source interface {
	// Current is the set to serve; it may re-read the tenants document.
	Current(ctx context.Context) (*Set, error)
	// Lookup is id's steps: ingest.ErrUnknownTenant when the document does
	// not list it (a source that re-reads the document does so first: the
	// tenant may have been added since), another error when the document
	// cannot be read.
	Lookup(ctx context.Context, id string) (*Steps, error)
	// Served is id's steps in the set served now, never waiting for a
	// forced read: the events path, where the answer's time must not tell
	// whether id is a tenant. Errors as Lookup's.
	Served(ctx context.Context, id string) (*Steps, error)
}

// Fixed is a set that never changes (a local run's document).
type Fixed struct{ Set *Set }

func (f Fixed) Current(context.Context) (*Set, error) { return f.Set, nil }

func (f Fixed) Lookup(_ context.Context, id string) (*Steps, error) {
	if s, ok := f.Set.byID[id]; ok {
		return s, nil
	}
	return nil, ingest.ErrUnknownTenant
}

func (f Fixed) Served(ctx context.Context, id string) (*Steps, error) {
	return f.Lookup(ctx, id)
}

// Live is the tenants document in the state container
// (VCC_TENANTS_BLOB) as the Function App serves it: re-read on demand by
// livetenants, each tenant's steps built once and kept while its entry is
// unchanged.
type Live struct {
	src *livetenants.Source[*Steps]

	mu  sync.Mutex
	v   *livetenants.Version[*Steps] // the version set was made of
	set *Set
}

// NewLive serves the document cfg.TenantsBlob of a's state. Each
// tenant's secret is VCC_CLIENT_SECRET_<ID> when set (a local run of
// serve), otherwise the Key Vault secret secretName, read with cred at the
// tenant's first VCC call; a tenant with neither makes its version invalid.
// The whole document is checked as a local run's is (cfg.WithTenants: no
// two tenants with the same webhook secret) before any tenant is built.
func NewLive(a startup.Adapters, getenv func(string) string, cred azcore.TokenCredential) *Live {
	cfg := a.Config
	check := func(doc tenants.Document) error {
		_, errs := cfg.WithTenants(doc, getenv)
		return errors.Join(errs...)
	}
	build := func(t tenants.Tenant) (*Steps, error) {
		tc, errs := cfg.WithTenants(tenants.Document{Tenants: []tenants.Tenant{t}}, getenv)
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		tn, err := startup.NewTenant(tc, t, startup.TenantBase{Log: a.Log, Sink: a.Sink, State: a.State, VCC: true, Budget: a.State, Credential: cred})
		if err != nil {
			return nil, err
		}
		steps := NewSteps(a, tn)
		return &steps, nil
	}
	return &Live{src: livetenants.New(livetenants.Options[*Steps]{
		State: a.State, Name: cfg.TenantsBlob, Refresh: cfg.TenantsRefresh, Check: check, Build: build, Log: a.Log,
		Hosts: cfg.TenantHosts(false), // the Function App: never loopback
	})}
}

func (l *Live) Current(ctx context.Context) (*Set, error) {
	v, problem := l.src.Current(ctx)
	if v == nil {
		return nil, problem
	}
	set := l.setOf(v)
	if problem != nil {
		stale := *set
		stale.Stale = problem
		return &stale, nil
	}
	return set, nil
}

func (l *Live) Lookup(ctx context.Context, id string) (*Steps, error) {
	return unknownAsIngest(l.src.Lookup(ctx, id))
}

func (l *Live) Served(ctx context.Context, id string) (*Steps, error) {
	return unknownAsIngest(l.src.Served(ctx, id))
}

// unknownAsIngest marks livetenants' unknown tenant as ingest's.
func unknownAsIngest(s *Steps, err error) (*Steps, error) {
	if ue := (*livetenants.UnknownError)(nil); errors.As(err, &ue) {
		return nil, fmt.Errorf("%w: %w", ingest.ErrUnknownTenant, err)
	}
	return s, err
}

// setOf is v as a Set, made once per version.
func (l *Live) setOf(v *livetenants.Version[*Steps]) *Set {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.v != v {
		steps := make([]*Steps, len(v.Tenants))
		for i, e := range v.Tenants {
			steps[i] = e.Value
		}
		l.v, l.set = v, NewSet(v.ETag, steps)
	}
	return l.set
}

// IngestLookup is the ingest router's Lookup over src.
func IngestLookup(src Source) func(context.Context, string) (*ingest.Ingester, error) {
	return func(ctx context.Context, id string) (*ingest.Ingester, error) {
		s, err := src.Lookup(ctx, id)
		if err != nil {
			return nil, err
		}
		return s.Ingest, nil
	}
}

// Discover runs every tenant's discovery each tick. One tenant's
// failure (a bad secret, its VCC down, a missing permission) stops only that
// tenant: the others run and advance their own checkpoints, and the tick
// then fails naming the tenants that failed and why.
type Discover struct {
	Tenants  Source
	Log      *slog.Logger
	Parallel int
}

// Run discovers every tenant; the run returned sums theirs and lists each.
func (t *Discover) Run(ctx context.Context, now time.Time, pastDue bool) (records.Run, error) {
	set, err := t.Tenants.Current(ctx)
	if err != nil {
		err = fmt.Errorf("no tenants served: %w", err)
		return records.Run{Source: "discover", PastDue: pastDue, StartedAt: now.UTC(), FinishedAt: time.Now().UTC(),
			Error: err.Error()}, err
	}
	runs := make([]records.Run, len(set.List))
	errs := make([]error, len(set.List))
	ForEach(len(set.List), t.Parallel, func(i int) {
		td := set.List[i]
		run, err := td.Discover.Run(ctx, now, pastDue)
		run.Tenant = td.ID
		if err != nil {
			run.Error = err.Error()
			errs[i] = fmt.Errorf("tenant %s: %w", td.ID, err)
			t.Log.Error("discover failed", "function", "discover", "tenant", td.ID, "error", err)
		}
		runs[i] = run
	})
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
			failed = append(failed, set.List[i].ID)
		}
	}
	var problems []string
	if len(failed) > 0 {
		sort.Strings(failed)
		problems = append(problems, fmt.Sprintf("%d of %d tenants failed: %s", len(failed), len(runs), strings.Join(failed, ", ")))
	}
	if set.Stale != nil {
		// The tenants ran; the tick still fails, so the discover-failure
		// alert names the document an operator has to fix.
		stale := fmt.Errorf("%w; the tenants of version %s were served", set.Stale, set.Version)
		problems = append(problems, stale.Error())
		errs = append(errs, stale)
	}
	if len(problems) > 0 {
		total.Error = strings.Join(problems, "; ")
		return total, errors.Join(errs...)
	}
	return total, nil
}

// Audit audits every tenant of the source, each with its own client,
// prefix of the store and state, a few at a time. One tenant's failure
// stops only that tenant: the others are audited and stored, and the run
// then fails naming the failing tenants and why (the failure alert).
type Audit struct {
	Tenants  Source
	Log      *slog.Logger
	Parallel int
}

// Run audits every tenant; the result returned sums theirs and lists each.
func (t *Audit) Run(ctx context.Context, now time.Time) (records.Audit, error) {
	set, err := t.Tenants.Current(ctx)
	if err != nil {
		return records.Audit{GeneratedAt: now.UTC(), Error: "tenants document: " + err.Error()}, fmt.Errorf("tenants document: %w", err)
	}
	results := make([]records.Audit, len(set.List))
	errs := make([]error, len(set.List))
	ForEach(len(set.List), t.Parallel, func(i int) {
		ts := set.List[i]
		res, err := ts.Audit.Run(ctx, now)
		res.Tenant, res.Report, res.Doctor = ts.ID, nil, nil // each stored in full in its tenant's state
		if err != nil {
			res.Error = err.Error()
			errs[i] = fmt.Errorf("tenant %s: %w", ts.ID, err)
			t.Log.Error("audit failed", "function", "audit", "tenant", ts.ID, "error", err)
		}
		results[i] = res
	})
	total := records.Audit{GeneratedAt: now.UTC(), Tenants: results,
		HiddenDirections: []string{}, HiddenLines: []string{}, HiddenAgents: []string{}, Problems: []string{}, Unchecked: []string{}}
	var failed []string
	for i, r := range results {
		if errs[i] != nil {
			failed = append(failed, set.List[i].ID)
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
	if set.Stale != nil {
		// The version served was audited; the newer document an operator
		// has to fix is named with the findings (discover's tick fails on it).
		total.Problems = append(total.Problems, fmt.Sprintf("tenants document: %v; the tenants of version %s were audited", set.Stale, set.Version))
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		total.Error = fmt.Sprintf("%d of %d tenants failed: %s", len(failed), len(results), strings.Join(failed, ", "))
		return total, errors.Join(errs...)
	}
	return total, nil
}

// DiscoverOptions are discover's options over a tenant's settings (or the
// single account's) and logger.
func DiscoverOptions(cfg config.Config, log *slog.Logger) discover.Options {
	return discover.Options{
		Lookback: cfg.DiscoverLookback,
		Overlap:  cfg.DiscoverOverlap,
		Settle:   cfg.DiscoverSettle,
		IsAudio:  cfg.IsAudio,
		Logger:   log,
		Tenant:   cfg.Tenant,
	}
}

// IngestOptions are ingest's options over a tenant's settings and logger.
func IngestOptions(cfg config.Config, q queue.Sender, log *slog.Logger) ingest.Options {
	return ingest.Options{IsAudio: cfg.IsAudio, Logger: log, Requeue: q, DeferralHorizon: cfg.DeferralHorizon,
		PollHorizon: cfg.WebhookPollHorizon, Tenant: cfg.Tenant, PaceLimit: ingest.DefaultPaceLimit}
}

// ForEach runs fn(0) … fn(n-1), at most limit at once (at least one), and
// returns when all have: the one bounded fan-out over tenants.
func ForEach(n, limit int, fn func(i int)) {
	var g errgroup.Group
	g.SetLimit(max(limit, 1))
	for i := range n {
		g.Go(func() error { fn(i); return nil })
	}
	_ = g.Wait()
}
