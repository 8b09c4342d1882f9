package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/azurite"
	"github.com/vcc-ingest/vcc-ingest/shared/budget"
	"github.com/vcc-ingest/vcc-ingest/shared/config"
	"github.com/vcc-ingest/vcc-ingest/shared/devhost"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// A fleet is a scaled-out app in this process: handler instances, each with
// its own VCC clients and budget clients (as separate processes have them),
// behind host stand-ins over one queue, every account's calls booked in its
// one budget document in the state container. Instances start, stop and are
// killed while the fleet runs; what each did is kept for the figures.
type fleet struct {
	e       *env
	az      *azurite.Process
	rate    int
	sims    []*vccsim.Sim // one account per tenant; one for the single tenant
	tenants []string      // nil: the single-tenant handler
	blobs   *store.Blob
	q       *queue.Embedded
	log     *slog.Logger
	logf    *os.File

	mu      sync.Mutex
	all     []*fleetInstance // every instance ever started
	budgets []*budget.Budget // every budget client: instances', discover's, report's
	stored  map[string]int   // tenant/interaction → invocations that stored it
	// present is, per tenant/interaction, its recordings as the last
	// invocation to find them all in place counted them (stored or
	// complete): an invocation killed after copying some leaves the rest
	// to its redelivery, which copies only those.
	present    map[string]int
	copiedBy   map[string]int // tenant/interaction → recordings copied, over invocations
	copied     map[string]int // tenant → recordings copied
	deliveries int
	paced      int
	failed     int
	lastStored time.Time
	lastOf     map[string]time.Time // tenant → its last recording stored
}

// fleetInstance is one handler instance: its server and the time it was
// alive and busy (at least one invocation in flight).
type fleetInstance struct {
	addr string
	srv  *http.Server

	mu        sync.Mutex
	active    int
	busySince time.Time
	busy      time.Duration
	started   time.Time
	stopped   time.Time
}

func (in *fleetInstance) enter() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.active == 0 {
		in.busySince = time.Now()
	}
	in.active++
}

func (in *fleetInstance) leave() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.active--
	if in.active == 0 {
		in.busy += time.Since(in.busySince)
	}
}

// inFlight reports whether an invocation is running on the instance.
func (in *fleetInstance) inFlight() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.active > 0
}

// seconds are the instance's alive and busy seconds up to end.
func (in *fleetInstance) seconds(end time.Time) (alive, busy float64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	stop := in.stopped
	if stop.IsZero() || stop.After(end) {
		stop = end
	}
	b := in.busy
	if in.active > 0 {
		b += end.Sub(in.busySince)
	}
	return max(stop.Sub(in.started).Seconds(), 0), b.Seconds()
}

type fleetOptions struct {
	name    string
	rate    int      // each account's budget per minute
	tenants []string // nil: single tenant
	perDay  int      // interactions of each account's day
	seed    int64
}

func (e *env) newFleet(o fleetOptions) (*fleet, error) {
	dir, logf, log, err := e.scenarioDir(o.name)
	if err != nil {
		return nil, err
	}
	// An Azurite of the fleet's own, in memory: the fleet's thousands of
	// small writes would otherwise wait on this machine's disk, which Blob
	// Storage in Azure does not make the ingest wait for.
	az, err := azurite.Launch(context.Background(), filepath.Join(dir, "azurite"), false)
	if err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("azurite: %w", err)
	}
	f := &fleet{e: e, az: az, rate: o.rate, tenants: o.tenants, log: log, logf: logf,
		stored: map[string]int{}, copied: map[string]int{}, present: map[string]int{}, copiedBy: map[string]int{},
		lastOf: map[string]time.Time{}}
	ok := false
	defer func() {
		if !ok {
			f.close()
		}
	}()
	accounts := max(len(o.tenants), 1)
	for i := range accounts {
		// Each account's sandbox refuses what goes over the budget, so a
		// breach shows as 429s besides the arrival log.
		sim := vccsim.New(vccsim.Options{Seed: o.seed + int64(i), Start: day, InteractionsPerDay: o.perDay,
			Latency: e.opts.Latency, RateLimitPerMinute: o.rate,
			ClientID: fmt.Sprintf("client-%d", i), ClientSecret: fmt.Sprintf("secret-%d-%d", i, time.Now().UnixNano()%7919)})
		if err := sim.Start(); err != nil {
			return nil, err
		}
		f.sims = append(f.sims, sim)
	}
	if f.blobs, err = store.NewBlob(context.Background(), store.BlobConfig{ConnectionString: f.az.ConnectionString,
		Container: o.name + "-recordings", StateContainer: o.name + "-state", CreateContainers: true}); err != nil {
		return nil, err
	}
	if f.q, err = queue.OpenEmbedded(filepath.Join(dir, "queue.db"), queue.EmbeddedOptions{
		LockDuration: 5 * time.Minute, MaxDeliveryCount: config.DefaultMaxAttempts}); err != nil {
		return nil, err
	}
	ok = true
	return f, nil
}

// client is a new VCC client of account i booking its one budget, as every
// process (instance, discover, report) builds its own.
func (f *fleet) client(i int, log *slog.Logger) (*vcc.Client, error) {
	tenant := ""
	if f.tenants != nil {
		tenant = f.tenants[i]
	}
	b, err := budget.New(f.blobs.State(), tenant, f.rate, &budget.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.budgets = append(f.budgets, b)
	f.mu.Unlock()
	sim := f.sims[i]
	return vcc.New(vcc.Config{TokenURL: sim.TokenURL(), APIURL: sim.APIURL(), ClientID: sim.ClientID(),
		Secret: secrets.Static(secrets.New(sim.ClientSecret())), RatePerMinute: f.rate, Pacer: b, Logger: log})
}

// start starts a handler instance on addr ("127.0.0.1:0": a new port; an
// old instance's address: its replacement, as the platform starts one).
func (f *fleet) start(addr string) (*fleetInstance, error) {
	var h http.Handler
	if f.tenants == nil {
		c, err := f.client(0, f.log)
		if err != nil {
			return nil, err
		}
		h = f.e.product.Handler(c, f.q, f.blobs, f.log)
	} else {
		var ads []TenantAdapters
		for i, id := range f.tenants {
			tl := f.log.With("tenant", id)
			c, err := f.client(i, tl)
			if err != nil {
				return nil, err
			}
			ads = append(ads, TenantAdapters{ID: id, VCC: c, Sink: store.Prefixed(f.blobs, id+"/"),
				State: store.PrefixedState(f.blobs.State(), store.TenantStatePrefix(id)), Log: tl})
		}
		h = f.e.product.TenantsHandler(ads, f.q, f.blobs.State(), f.log)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	in := &fleetInstance{addr: ln.Addr().String(), started: time.Now()}
	in.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.enter()
		defer in.leave()
		h.ServeHTTP(w, r)
	})}
	go func() { _ = in.srv.Serve(ln) }()
	f.mu.Lock()
	f.all = append(f.all, in)
	f.mu.Unlock()
	return in, nil
}

// stop ends an instance: kill closes its connections mid-invocation (the
// process dies), otherwise it is stopped once its invocations ended.
func (in *fleetInstance) stop(kill bool) {
	if kill {
		_ = in.srv.Close()
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = in.srv.Shutdown(ctx)
		cancel()
	}
	in.mu.Lock()
	if in.stopped.IsZero() { // a killed instance stays dead from its kill
		in.stopped = time.Now()
	}
	in.mu.Unlock()
}

func (f *fleet) result(r devhost.Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deliveries++
	var res records.Result
	if !r.OK() || json.Unmarshal(r.ReturnValue, &res) != nil {
		f.failed++
		return
	}
	f.copied[res.Tenant] += res.Copied
	key := res.Tenant + "/" + res.InteractionID
	f.copiedBy[key] += res.Copied
	switch res.Outcome {
	case records.Stored:
		f.stored[key]++
		f.present[key] = res.Recordings
		f.lastStored = time.Now()
		f.lastOf[res.Tenant] = f.lastStored
	case records.Complete:
		f.present[key] = res.Recordings
	case records.Paced:
		f.paced++
	}
}

// drain delivers to instances until the queue stays empty or ctx ends (a
// phase of the run: ending by ctx is not an error).
func (f *fleet) drain(ctx context.Context, instances []*fleetInstance, workers int) error {
	urls := make([]string, len(instances))
	for i, in := range instances {
		urls[i] = "http://" + in.addr
	}
	host := &devhost.Host{BaseURL: urls[0], Instances: urls[1:], Queue: f.q, Workers: workers, Logger: f.log, OnResult: f.result,
		Pending: func() (int, error) {
			st, err := f.q.Stats()
			return st.Active + st.Locked + st.Scheduled, err
		}}
	if err := host.WaitReady(ctx, 10*time.Second); err != nil {
		return err
	}
	_, err := host.Drain(ctx, "ingest", 2*time.Second)
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// discover lists account i's day and enqueues it with a client of its own,
// booking the account's budget like every other process.
func (f *fleet) discover(ctx context.Context, i int) (records.Run, error) {
	c, err := f.client(i, f.log)
	if err != nil {
		return records.Run{}, err
	}
	var d Enqueuer
	if f.tenants == nil {
		d = f.e.product.Discover(c, f.q, f.blobs.State(), f.log)
	} else {
		id := f.tenants[i]
		d = f.e.product.DiscoverTenant(id, c, f.q, store.PrefixedState(f.blobs.State(), store.TenantStatePrefix(id)), f.log.With("tenant", id))
	}
	return d.Enqueue(ctx, day, day.Add(24*time.Hour), "bench", time.Now())
}

// expected is account i's count of audio recordings visible to the
// credential: what a complete run stores.
func (f *fleet) expected(i int) int {
	n := 0
	for _, r := range f.sims[i].Recordings() {
		if r.Visible && isAudio(r.Type) && r.Audio {
			n++
		}
	}
	return n
}

// inPlace counts the recordings in place and the interactions stored
// twice (by two invocations, or more copies than recordings); f.mu held.
func (f *fleet) inPlace() (present, twice int) {
	for key, n := range f.stored {
		if n > 1 || f.copiedBy[key] > f.present[key] {
			twice++
		}
	}
	for _, n := range f.present {
		present += n
	}
	return present, twice
}

// fleetFigures are what a run of a fleet measured, per account and over all.
type fleetFigures struct {
	seconds      float64   // start → last recording stored
	ownSeconds   []float64 // per account: start → its last recording stored
	calls        []int     // API calls reaching each account (arrival log)
	busiest      []int     // most calls in any rolling 60 s, per account
	refused      []int64   // 429s the sandbox answered, per account
	copied       []int     // recordings copied, per account
	expected     []int
	storedTwice  int // interactions stored by more than one invocation, or more recordings copied than they have
	present      int // recordings in place, as the interactions' last invocations counted them
	deliveries   int
	paced        int
	failed       int
	deadLetters  int
	budget       budget.Counters
	alive, busy  float64 // instance-seconds
	instances    int     // instances started (replacements included)
	totalCalls   int
	totalCopied  int
	totalWanted  int
	idealSeconds float64 // the calls of the busiest account at its budget
}

func (f *fleet) figures(start time.Time) fleetFigures {
	f.mu.Lock()
	defer f.mu.Unlock()
	end := f.lastStored
	if end.IsZero() {
		end = time.Now()
	}
	var g fleetFigures
	g.seconds = end.Sub(start).Seconds()
	for i, sim := range f.sims {
		arr := apiArrivals(sim, start, time.Now())
		g.calls = append(g.calls, len(arr))
		g.busiest = append(g.busiest, vccsim.MaxInWindow(arr, time.Minute))
		g.refused = append(g.refused, sim.RateLimited())
		tenant := ""
		if f.tenants != nil {
			tenant = f.tenants[i]
		}
		g.copied = append(g.copied, f.copied[tenant])
		own := g.seconds
		if t, ok := f.lastOf[tenant]; ok {
			own = t.Sub(start).Seconds()
		}
		g.ownSeconds = append(g.ownSeconds, own)
		g.expected = append(g.expected, f.expected(i))
		g.totalCalls += len(arr)
		g.totalCopied += f.copied[tenant]
		g.totalWanted += g.expected[i]
		g.idealSeconds = max(g.idealSeconds, float64(len(arr))/float64(f.rate)*60)
	}
	g.present, g.storedTwice = f.inPlace()
	g.deliveries, g.paced, g.failed = f.deliveries, f.paced, f.failed
	if st, err := f.q.Stats(); err == nil {
		g.deadLetters = st.DeadLettered
	}
	for _, b := range f.budgets {
		c := b.Counters()
		g.budget.Loads += c.Loads
		g.budget.Saves += c.Saves
		g.budget.Conflicts += c.Conflicts
		g.budget.Booked += c.Booked
		g.budget.Handed += c.Handed
		g.budget.Lost += c.Lost
	}
	for _, in := range f.all {
		a, b := in.seconds(end)
		g.alive += a
		g.busy += b
	}
	g.instances = len(f.all)
	return g
}

// fraction is account i's throughput against its ideal: its calls at the
// budget's pace (calls ÷ budget) over the time the run took.
func (g fleetFigures) fraction(i int, rate int) float64 {
	return float64(g.calls[i]) / float64(rate) * 60 / g.accountSeconds(i)
}

// accountSeconds is the time account i's work took: to its own last
// recording stored. An account done early had nothing left to call VCC for.
func (g fleetFigures) accountSeconds(i int) float64 {
	if i < len(g.ownSeconds) && g.ownSeconds[i] > 0 {
		return g.ownSeconds[i]
	}
	return g.seconds
}

// complete says what is missing, "" when every account's recordings were
// stored once, with no dead letter.
func (g fleetFigures) complete() string {
	switch {
	case g.present != g.totalWanted:
		return fmt.Sprintf("%d of %d recordings stored (%d failed invocations, %d dead letters)", g.present, g.totalWanted, g.failed, g.deadLetters)
	case g.deadLetters > 0:
		return fmt.Sprintf("%d dead letters", g.deadLetters)
	case g.storedTwice > 0:
		return fmt.Sprintf("%d interactions stored twice", g.storedTwice)
	}
	return ""
}

func (f *fleet) stopAll() {
	f.mu.Lock()
	all := append([]*fleetInstance(nil), f.all...)
	f.mu.Unlock()
	for _, in := range all {
		in.mu.Lock()
		done := !in.stopped.IsZero()
		in.mu.Unlock()
		if !done {
			in.stop(true)
		}
	}
}

func (f *fleet) close() {
	f.stopAll()
	if f.q != nil {
		_ = f.q.Close()
	}
	for _, s := range f.sims {
		s.Close()
	}
	if f.az != nil {
		_ = f.az.Stop()
	}
	_ = f.logf.Close()
}
