// Package local is the local runner, "handler local": the whole pipeline on
// one machine. The custom handler serves in this process (as the process
// the Functions host starts and, after a timeout, kills and starts again),
// the host stand-in (shared/devhost) invokes it over the same HTTP protocol,
// and an embedded queue with Service Bus semantics stands in for Service Bus.
//
// Its API is small: Main runs the command; Run runs a window (--from/--to,
// or the sandbox's day) or, without one, on a schedule; Tally gathers the
// outcomes that PrintSummary and WriteSummaryJSON report. The flags and the
// resources are the operator commands' (shared/ops); the custom handler it
// serves is shared/customhandler, the very server the Functions host invokes.
//
// Where changes go: a change to how a local run proceeds or what its summary
// says goes here; a flag other commands take too goes to shared/ops.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/budget"
	"github.com/vcc-ingest/vcc-ingest/shared/customhandler"
	"github.com/vcc-ingest/vcc-ingest/shared/devhost"
	"github.com/vcc-ingest/vcc-ingest/shared/hostjson"
	"github.com/vcc-ingest/vcc-ingest/shared/logging"
	"github.com/vcc-ingest/vcc-ingest/shared/message"
	"github.com/vcc-ingest/vcc-ingest/shared/ops"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/discover"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/tenancy"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/startup"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

const localUsage = `Usage: handler local [flags]

Runs the whole pipeline on this machine: the custom handler, a stand-in for
the Functions host that invokes it over the same HTTP protocol, and an
embedded queue with Service Bus semantics in place of Service Bus.

  --from/--to   process one window and exit: status 0 when every recording is
                stored, 1 with a summary when anything was dead-lettered
  (no window)   run discover every --every and ingest continuously until stopped

VCC settings come from the same environment variables as in Azure
(VCC_TOKEN_URL, VCC_API_URL, VCC_CLIENT_ID, VCC_CLIENT_SECRET, ...), unless
--sandbox starts the VCC sandbox in-process. Recordings go to --out DIR, or
to the container of RECORDINGS_CONNECTION_STRING, or to an Azurite started
for the run (--azurite).

Flags:
`

// shutdownGrace is how long in-flight invocations may finish at the end.
const shutdownGrace = 30 * time.Second

// Options are the flags of "handler local".
type Options struct {
	ops.Flags
	Schedule   bool
	Azurite    bool
	Workers    int
	Every      time.Duration
	Idle       time.Duration
	LockPeriod time.Duration

	FunctionTimeout time.Duration
	JSON            bool
	// Audit runs the audit function once after the window (or, on the
	// schedule, at the start and then every AuditEvery).
	Audit      bool
	AuditEvery time.Duration
	// Listen, when set, serves the HTTP-triggered functions (POST
	// /api/vcc/events) on this address while the run lasts, through the
	// host stand-in as the Functions host would deliver them.
	Listen string
	// Instances is how many handler instances serve the run (--instances).
	Instances int

	// pacedAlone gives each instance a pacer of its own at the whole
	// budget instead of the account's shared budget: the static scheme
	// the shared budget replaced, kept to show in a test what it does.
	pacedAlone bool
}

// ParseFlags reads the flags of "handler local".
func ParseFlags(args []string, stderr io.Writer) (Options, error) {
	var o Options
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, localUsage); fs.PrintDefaults() }
	o.WindowFlags(fs, "window start, RFC 3339 (e.g. 2026-11-02T00:00:00Z) or YYYY-MM-DD (UTC)", "window end, exclusive")
	o.OutFlag(fs)
	o.DataFlag(fs)
	o.SandboxFlags(fs, 1)
	fs.BoolVar(&o.Schedule, "schedule", false, "with --sandbox: run on the schedule (the sandbox then holds yesterday and today) instead of one day")
	fs.BoolVar(&o.Azurite, "azurite", false, "start Azurite (npm ci --prefix infra/local) for the run and store recordings there")
	fs.IntVar(&o.Workers, "workers", 0, "concurrent ingest invocations (default host.json's maxConcurrentCalls, as the host)")
	fs.DurationVar(&o.FunctionTimeout, "function-timeout", 0, "the host's function timeout (default host.json's functionTimeout): an invocation past it restarts the handler, as in Azure")
	fs.DurationVar(&o.Every, "every", 15*time.Minute, "without a window: how often discover runs")
	fs.DurationVar(&o.Idle, "idle", time.Second, "a window run ends when the queue has been empty this long")
	fs.BoolVar(&o.JSON, "json", false, "print the summary as JSON on stdout (every dead letter included); progress goes to stderr")
	fs.DurationVar(&o.LockPeriod, "lock", 5*time.Minute, "message lock duration (the queue's lockDuration)")
	fs.BoolVar(&o.Audit, "audit", false, "also run the audit function (as its timer does): once after the window, or on the schedule at the start and every --audit-every; its result goes to the state (audits/yyyy/mm/dd/)")
	fs.DurationVar(&o.AuditEvery, "audit-every", 24*time.Hour, "without a window and with --audit: how often audit runs (in Azure: AUDIT_SCHEDULE)")
	fs.IntVar(&o.Instances, "instances", 1, "handler instances, as a scaled-out app runs them: each has its own VCC client (token, budget client, breaker) and --workers invocations, all served in this process behind the one host stand-in, over the one queue, booking each VCC account's one budget in the run's state")
	fs.StringVar(&o.Listen, "listen", "", "serve VCC webhooks (POST /api/vcc/events) on this address, e.g. 127.0.0.1:7071, while running; with --sandbox the sandbox sends its live calls' webhooks there")
	if err := ops.ParseArgs(fs, args); err != nil {
		return o, err
	}
	if (o.From == "") != (o.To == "") {
		return o, errors.New("--from and --to go together")
	}
	if o.Instances < 1 || o.Instances > maxInstances {
		return o, fmt.Errorf("--instances: %d, want 1 to %d", o.Instances, maxInstances)
	}
	return o, nil
}

// Main is "handler local" and returns the exit status: 0 all stored, 1
// something dead-lettered or failed, 2 bad usage or set-up.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	o, err := ParseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 2
	}
	status, err := Run(ctx, o, stdout, stderr, getenv)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		if status == 0 {
			status = 2
		}
	}
	return status
}

// Run runs one window (--from/--to, or the sandbox's day) and reports it, or
// without a window runs on the schedule until ctx ends.
func Run(ctx context.Context, o Options, stdout, stderr io.Writer, getenv func(string) string) (int, error) {
	from, to, err := ops.ParseWindow(o.From, o.To)
	if err != nil {
		return 2, err
	}
	if err := o.CheckSandbox(); err != nil {
		return 2, err
	}
	jsonOut := stdout
	if o.JSON {
		stdout = stderr // progress and notes; the summary alone goes to stdout
	}
	if err := os.MkdirAll(o.Data, 0o755); err != nil {
		return 2, err
	}
	// Logs go to a file so the terminal shows progress and the summary.
	logPath := filepath.Join(o.Data, "run.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 2, err
	}
	defer logFile.Close()
	log := logging.New(logFile, logFile, slog.LevelInfo)

	if o.Sandbox && from.IsZero() && !o.Schedule {
		if from, err = o.SandboxStart(); err != nil {
			return 2, err
		}
		to = from.Add(24 * time.Hour)
	}
	if o.Schedule {
		o.SandboxDays = 2 // yesterday and today: the schedule's look-back finds work
	}
	need := ops.Need{
		VCC: true, Sink: true, State: true, Queue: true,
		Log: log, StaticSecret: true, Write: true,
		Embedded:   &queue.EmbeddedOptions{LockDuration: o.LockPeriod},
		AllTenants: true,
	}
	if o.Azurite {
		need.Azurite = filepath.Join(o.Data, "azurite")
	}
	env, err := ops.Open(ctx, o.Flags, need, stdout, stderr, getenv)
	if err != nil {
		return 2, err
	}
	defer env.Close()
	cfg, client, sink, state, q, where := env.Config, env.Client, env.Sink, env.State, env.Embedded, env.Where
	hs, err := hostjson.Find(getenv)
	if err != nil {
		return 2, err
	}
	if o.FunctionTimeout > 0 {
		hs.FunctionTimeout = o.FunctionTimeout
	}
	if o.Workers == 0 {
		o.Workers = hs.MaxConcurrentCalls
	}
	if n := q.ReleasedAtOpen(); n > 0 {
		fmt.Fprintf(stdout, "Resuming: %d messages an interrupted run had locked are back on the queue\n", n)
	}

	// Each instance its own VCC adapters; the first is env's own.
	instances := []instanceVCC{{client: client, tenants: env.Tenants}}
	budgetState := env.BudgetState()
	if o.pacedAlone {
		instances, budgetState = nil, nil
	}
	for len(instances) < max(o.Instances, 1) {
		in, err := newInstanceVCC(env, budgetState)
		if err != nil {
			return 2, err
		}
		instances = append(instances, in)
	}
	client = instances[0].client
	ts := newRunTenants(instances[0].tenants, sink, state)
	tally := NewTally()
	procs := make([]*HandlerProcess, len(instances))
	urls := make([]string, len(instances))
	for i, in := range instances {
		procs[i] = &HandlerProcess{Handler: customhandler.New(startup.Adapters{
			Config: cfg, Log: log.With("instance", i), VCC: in.client, Queue: q, Sink: sink, State: state, Deadline: hs.InvocationDeadline(),
			WebhookKey: secrets.Static(cfg.WebhookSecret), Tenants: in.tenants,
		}), Log: log}
		if urls[i], err = procs[i].Start(); err != nil {
			return 2, err
		}
		defer procs[i].Stop(shutdownGrace)
	}
	host := &devhost.Host{
		BaseURL:         urls[0],
		Instances:       urls[1:],
		Queue:           q,
		Workers:         o.Workers,
		Logger:          log,
		OnResult:        tally.Add,
		MaxLockRenewal:  hs.MaxAutoLockRenewal,
		FunctionTimeout: hs.FunctionTimeout,
		// As the host does after a timeout: kill the instance's handler,
		// failing what is in flight, and start it again.
		RestartInstance: func(_ context.Context, i int) (string, error) {
			procs[i].Stop(0)
			tally.restarted()
			return procs[i].Start()
		},
		// The run is not over while messages wait: scheduled copies (work
		// deferred while VCC is unavailable, or polls for a webhook's
		// content) and messages under a lock that has yet to expire.
		Pending: func() (int, error) {
			st, err := q.Stats()
			tally.waiting(st.Scheduled, st.Locked)
			return st.Active + st.Locked + st.Scheduled, err
		},
	}
	if err := host.WaitReady(ctx, 10*time.Second); err != nil {
		return 2, err
	}

	stopListen, err := listen(ctx, host, env, o, stdout, log)
	if err != nil {
		return 2, err
	}
	defer stopListen()

	stopProgress := ops.StartProgress(stdout, tally.Line)
	defer stopProgress()
	report := func(dead []DeadLetter, calls vcc.Counters, where string) {
		tally.setTenants(ts.ids, ts.failures)
		if most, ok := env.SandboxBusiestMinute(); ok {
			tally.setBusiestMinute(most)
		}
		tally.setBudget(budgetCounters(instances))
		if o.JSON {
			WriteSummaryJSON(jsonOut, tally, dead, calls, where)
			return
		}
		PrintSummary(stdout, tally, dead, filepath.Join(o.Data, DeadLettersFile), calls, where)
	}
	if from.IsZero() {
		status, err := scheduled(ctx, host, tally, o, stdout, log)
		stopProgress()
		dead, derr := listDeadLetters(context.WithoutCancel(ctx), q, ts.state, o.Data)
		if derr != nil {
			return 1, derr
		}
		report(dead, instancesCounters(instances), where)
		return status, err
	}
	fmt.Fprintf(stdout, "Window %s → %s; recordings to %s; logs in %s\n",
		from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), where, logPath)
	sent := &sentRecorder{Sender: q}
	if len(env.Tenants) == 0 {
		window := discover.New(client, sent, state, tenancy.DiscoverOptions(cfg, log))
		run, err := window.Enqueue(ctx, from.UTC(), to.UTC(), "local", time.Now())
		if err != nil {
			return 1, fmt.Errorf("discover: %w", err)
		}
		tally.setDiscovered(run.Found, run.Enqueued, run.NoAudio)
	} else if err := ts.discoverWindow(ctx, sent, from.UTC(), to.UTC(), tally); err != nil {
		return 1, err
	}
	if _, err := host.Drain(ctx, "ingest", o.Idle); err != nil && !errors.Is(err, context.Canceled) {
		return 1, err
	}
	// The window is done only when every interaction sent is complete or
	// dead-lettered. The queue drops a message whose id it saw within its
	// duplicate window (the same window exported again to another place):
	// those go again under new ids.
	missing, err := incomplete(context.WithoutCancel(ctx), q, ts.sink, sent.sent)
	if err != nil {
		return 1, err
	}
	if len(missing) > 0 && ctx.Err() == nil {
		if err := q.SendBatch(ctx, rerun(missing)); err != nil {
			return 1, fmt.Errorf("requeue %d interactions: %w", len(missing), err)
		}
		if _, err := host.Drain(ctx, "ingest", o.Idle); err != nil && !errors.Is(err, context.Canceled) {
			return 1, err
		}
		if missing, err = incomplete(context.WithoutCancel(ctx), q, ts.sink, sent.sent); err != nil {
			return 1, err
		}
	}
	stopProgress()
	if o.Audit && ctx.Err() == nil {
		if err := runAudit(ctx, host, stdout); err != nil {
			return 1, err
		}
	}
	dead, err := listDeadLetters(context.WithoutCancel(ctx), q, ts.state, o.Data)
	if err != nil {
		return 1, err
	}
	ts.failDeadLettered(dead)
	report(dead, instancesCounters(instances), where)
	if env.AzuriteDir != "" {
		fmt.Fprintf(stdout, "To browse them, serve that data again: node infra/local/node_modules/.bin/azurite-blob --location %s --skipApiVersionCheck --disableTelemetry\n", env.AzuriteDir)
	}
	if ctx.Err() != nil {
		return 1, errors.New("interrupted: run the same command again to finish (nothing is lost or copied twice)")
	}
	if len(dead) > 0 {
		fmt.Fprintf(stdout, "%d interactions were dead-lettered: fix the cause, then requeue them with `handler replay --apply`.\n", len(dead))
		return 1, nil
	}
	if len(missing) > 0 {
		fmt.Fprintf(stdout, "%d interactions of the window are not stored (first: %s); run the same command again.\n", len(missing), missing[0].ID)
		return 1, nil
	}
	if len(ts.failures) > 0 {
		fmt.Fprintf(stdout, "%d of %d tenants failed (the others are complete): %s\n", len(ts.failures), len(env.Tenants), ts.failedList())
		return 1, nil
	}
	return 0, nil
}

// sentRecorder remembers the messages a window run sent, to check at the
// end that each one's interaction is complete.
type sentRecorder struct {
	queue.Sender
	mu   sync.Mutex // tenants are discovered concurrently
	sent []queue.Outgoing
}

func (r *sentRecorder) SendBatch(ctx context.Context, msgs []queue.Outgoing) error {
	if err := r.Sender.SendBatch(ctx, msgs); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, msgs...)
	return nil
}

// incomplete returns the sent messages whose interaction has no sidecar and
// is not dead-lettered.
func incomplete(ctx context.Context, q *queue.Embedded, sinkFor func(tenant string) store.Sink, sent []queue.Outgoing) ([]queue.Outgoing, error) {
	dead, err := q.PeekDeadLetters(ctx, 100000)
	if err != nil {
		return nil, err
	}
	failed := map[string]bool{}
	for _, m := range dead {
		if b, err := message.Decode(m.Body); err == nil {
			failed[b.InteractionID] = true
		}
	}
	var missing []queue.Outgoing
	for _, m := range sent {
		b, err := message.Decode(m.Body)
		if err != nil || b.Start == nil || failed[b.InteractionID] {
			continue
		}
		sink := sinkFor(b.Tenant)
		if sink == nil {
			continue
		}
		_, found, err := sink.GetSidecar(ctx, store.SidecarName(*b.Start, b.InteractionID))
		if err != nil {
			return nil, err
		}
		if !found {
			missing = append(missing, m)
		}
	}
	return missing, nil
}

// rerun gives messages new ids so that the queue's duplicate detection
// lets them through.
func rerun(msgs []queue.Outgoing) []queue.Outgoing {
	suffix := fmt.Sprintf(".rerun-%d", time.Now().UnixNano())
	out := make([]queue.Outgoing, len(msgs))
	for i, m := range msgs {
		m.ID += suffix
		out[i] = m
	}
	return out
}

// scheduled runs discover every o.Every and ingests continuously until ctx ends.
func scheduled(ctx context.Context, host *devhost.Host, tally *Tally, o Options, stdout io.Writer, log *slog.Logger) (int, error) {
	fmt.Fprintf(stdout, "Running: discover every %s, %d ingest workers; Ctrl-C stops\n", o.Every, o.Workers)
	drainDone := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if _, err := host.Drain(ctx, "ingest", time.Hour); err != nil && ctx.Err() == nil {
				drainDone <- err
				return
			}
		}
		drainDone <- nil
	}()
	last := time.Now()
	tick := time.NewTicker(o.Every)
	defer tick.Stop()
	auditC := make(<-chan time.Time)
	if o.Audit {
		if err := runAudit(ctx, host, stdout); err != nil {
			log.Error("audit tick failed", "error", err)
		}
		at := time.NewTicker(max(o.AuditEvery, time.Second))
		defer at.Stop()
		auditC = at.C
	}
	for {
		rv, err := host.Tick(ctx, "discover", last, false)
		if err != nil && ctx.Err() == nil {
			log.Error("discover tick failed", "error", err)
		}
		var run records.Run
		if err == nil && json.Unmarshal(rv, &run) == nil {
			tally.addDiscovered(run.Found, run.Enqueued, run.NoAudio)
		}
		last = time.Now()
	wait:
		select {
		case <-ctx.Done():
			<-drainDone
			return 0, nil
		case err := <-drainDone:
			return 1, err
		case <-auditC:
			if err := runAudit(ctx, host, stdout); err != nil && ctx.Err() == nil {
				log.Error("audit tick failed", "error", err)
			}
			goto wait
		case <-tick.C:
		}
	}
}

// runAudit invokes the audit function as its timer does and prints its
// figures.
func runAudit(ctx context.Context, host *devhost.Host, stdout io.Writer) error {
	rv, err := host.Tick(ctx, "audit", time.Now().Add(-24*time.Hour), false)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	var a records.Audit
	if err := json.Unmarshal(rv, &a); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if len(a.Tenants) == 0 {
		printAudit(stdout, "Audit", a, records.AuditName(a.To))
		return nil
	}
	for _, t := range a.Tenants { // a tenants document: each tenant's own
		printAudit(stdout, "Audit of "+t.Tenant, t, store.TenantStatePrefix(t.Tenant)+records.AuditName(t.To))
	}
	return nil
}

// printAudit prints one audit's figures and where it is stored.
func printAudit(stdout io.Writer, title string, a records.Audit, where string) {
	fmt.Fprintf(stdout, "%s %s → %s: %d gaps (%d lines), %d hidden directions, %d hidden lines, %d hidden agents, %d dead letters; result in the state at %s\n",
		title, a.From.Format(time.DateOnly), a.To.Format(time.DateOnly), a.Gaps, a.LineGaps, len(a.HiddenDirections), len(a.HiddenLines), len(a.HiddenAgents), a.DeadLetters, where)
	for _, p := range a.Problems {
		fmt.Fprintf(stdout, "  problem: %s\n", p)
	}
}

// Tally gathers ingest outcomes for progress and the summary.
type Tally struct {
	mu                  sync.Mutex
	started             time.Time
	found, sent, noAud  int
	stored, complete    int
	skipped             map[string]int
	failedAttempts      int
	scheduled, locked   int
	recordings, bytes   int64
	byDirection         map[string]int
	lastFailureByReason map[string]int
	restarts            int
	deferred            int
	paced               int
	busiestMinute       int // the sandbox's most API calls in a rolling 60 s; 0: no sandbox
	budget              budget.Counters
	// With a tenants document: every tenant, the interactions stored (or
	// found complete) for each, and the failing ones with why.
	tenants        []string
	byTenant       map[string]int
	tenantFailures map[string]string
}

// NewTally starts a tally now.
func NewTally() *Tally {
	return &Tally{started: time.Now(), skipped: map[string]int{}, byDirection: map[string]int{}, lastFailureByReason: map[string]int{},
		byTenant: map[string]int{}, tenantFailures: map[string]string{}}
}

func (t *Tally) setDiscovered(found, sent, noAudio int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.found, t.sent, t.noAud = found, sent, noAudio
}

// setTenants notes the tenants of a run and the failing ones.
func (t *Tally) setTenants(ids []string, failures map[string]string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tenants = ids
	for id, why := range failures {
		t.tenantFailures[id] = why
	}
}

// setBudget notes what the run's shared budgets did.
func (t *Tally) setBudget(c budget.Counters) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.budget = c
}

// setBusiestMinute notes the sandbox's most API calls in a rolling 60 s.
func (t *Tally) setBusiestMinute(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.busiestMinute = n
}

// restarted notes a restart of the handler after a timeout.
func (t *Tally) restarted() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.restarts++
}

// waiting notes the messages a run waits for (shown in progress).
func (t *Tally) waiting(scheduled, locked int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.scheduled, t.locked = scheduled, locked
}

func (t *Tally) addDiscovered(found, sent, noAudio int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.found += found
	t.sent += sent
	t.noAud += noAudio
}

// Add counts one invocation's result (devhost.Host.OnResult).
func (t *Tally) Add(r devhost.Result) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !r.OK() {
		t.failedAttempts++
		var f records.InvocationFailure
		_ = json.Unmarshal(r.ReturnValue, &f)
		t.lastFailureByReason[ops.ShortReason(f.Error)]++
		return
	}
	var res records.Result
	_ = json.Unmarshal(r.ReturnValue, &res)
	switch res.Outcome {
	case records.Stored:
		t.stored++
		t.byTenant[res.Tenant]++
	case records.Complete:
		t.complete++
		t.byTenant[res.Tenant]++
	case records.Skipped:
		t.skipped[res.Reason]++
		return
	case records.Deferred:
		t.deferred++
		return
	case records.Paced:
		t.paced++
		return
	}
	t.recordings += int64(res.Copied)
	t.bytes += res.Bytes
	t.byDirection[res.Direction]++
}

// putOffsPerStored is how many times, on average, an interaction stored
// now was put off to its budget's next slot (t.mu held).
func (t *Tally) putOffsPerStored() float64 {
	return float64(t.paced) / float64(max(t.stored, 1))
}

// Line is the progress line.
func (t *Tally) Line() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	elapsed := time.Since(t.started).Seconds()
	done := t.stored + t.complete
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done) / elapsed
	}
	line := fmt.Sprintf("discovered %d  stored %d/%d  failed attempts %d  %.1f interactions/s  %s",
		t.found, done, t.sent, t.failedAttempts, rate, humanBytes(t.bytes))
	if t.scheduled > 0 {
		line += fmt.Sprintf("  (%d scheduled for later: deferred while VCC is unavailable, or polling for content)", t.scheduled)
	}
	if t.locked > 0 {
		line += fmt.Sprintf("  (%d locked, back when their lock expires)", t.locked)
	}
	return line
}

// DeadLetter is one dead-lettered interaction of a local run.
type DeadLetter struct {
	Tenant        string `json:"tenant,omitempty"`
	InteractionID string `json:"interactionId"`
	MessageID     string `json:"messageId"`
	Reason        string `json:"reason"`
}

// DeadLettersFile, under --data, lists every dead letter of the last run.
const DeadLettersFile = "dead-letters.json"

// ListDeadLetters lists the queue's dead letters, each with the ingest failure
// recorded for its interaction when there is one (the queue's own reason,
// such as MaxDeliveryCountExceeded, says only that retries ran out), and
// writes them all to DeadLettersFile.
func ListDeadLetters(ctx context.Context, q *queue.Embedded, state store.State, dataDir string) ([]DeadLetter, error) {
	return listDeadLetters(ctx, q, func(string) store.State { return state }, dataDir)
}

// listDeadLetters is ListDeadLetters with each message's failure record
// read from its tenant's state (stateFor("") for the deployment's own).
func listDeadLetters(ctx context.Context, q *queue.Embedded, stateFor func(tenant string) store.State, dataDir string) ([]DeadLetter, error) {
	msgs, err := q.PeekDeadLetters(ctx, 1000000)
	if err != nil {
		return nil, err
	}
	out := make([]DeadLetter, 0, len(msgs))
	for _, m := range msgs {
		d := DeadLetter{MessageID: m.ID, Reason: m.DeadLetterReason}
		if m.DeadLetterDescription != "" {
			d.Reason += ": " + m.DeadLetterDescription
		}
		if body, err := message.Decode(m.Body); err == nil {
			d.InteractionID, d.Tenant = body.InteractionID, body.Tenant
			state := stateFor(body.Tenant)
			if state == nil {
				state = stateFor("")
			}
			if data, _, found, err := state.Load(ctx, records.FailureName(body.InteractionID)); err == nil && found {
				var rec records.FailureRecord
				if json.Unmarshal(data, &rec) == nil && rec.Reason != "" {
					d.Reason = rec.Reason
				}
			}
		}
		out = append(out, d)
	}
	data, _ := json.MarshalIndent(out, "", "  ")
	if err := os.WriteFile(filepath.Join(dataDir, DeadLettersFile), append(data, '\n'), 0o644); err != nil {
		return out, err
	}
	return out, nil
}

// deadListed is how many dead letters the summary names one by one.
const deadListed = 20

// PrintSummary prints the summary of a run as a table; deadFile is where
// every dead letter is listed.
func PrintSummary(w io.Writer, t *Tally, deadList []DeadLetter, deadFile string, calls vcc.Counters, where string) {
	dead := map[string]int{}
	for _, d := range deadList {
		dead[ops.ShortReason(d.Reason)]++
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\nSummary (%s)\t\n", time.Since(t.started).Round(100*time.Millisecond))
	fmt.Fprintf(tw, "  interactions found\t%d\n", t.found)
	fmt.Fprintf(tw, "  without audio (skipped at discovery)\t%d\n", t.noAud)
	fmt.Fprintf(tw, "  enqueued\t%d\n", t.sent)
	fmt.Fprintf(tw, "  stored now\t%d\n", t.stored)
	fmt.Fprintf(tw, "  already complete\t%d\n", t.complete)
	fmt.Fprintf(tw, "  recordings copied\t%d\n", t.recordings)
	fmt.Fprintf(tw, "  bytes copied\t%s\n", humanBytes(t.bytes))
	for _, d := range ops.SortedKeys(t.byDirection) {
		fmt.Fprintf(tw, "  direction %s\t%d\n", d, t.byDirection[d])
	}
	for _, r := range ops.SortedKeys(t.skipped) {
		fmt.Fprintf(tw, "  skipped: %s\t%d\n", r, t.skipped[r])
	}
	fmt.Fprintf(tw, "  failed attempts (retried)\t%d\n", t.failedAttempts)
	if t.deferred > 0 {
		fmt.Fprintf(tw, "  deferred while VCC was unavailable\t%d\n", t.deferred)
	}
	if t.paced > 0 {
		fmt.Fprintf(tw, "  put off while the VCC budget was taken\t%d (%.2f per interaction stored)\n", t.paced, t.putOffsPerStored())
	}
	total := 0
	for _, n := range dead {
		total += n
	}
	fmt.Fprintf(tw, "  dead-lettered\t%d\n", total)
	for _, r := range ops.SortedKeys(dead) {
		fmt.Fprintf(tw, "    %s\t%d\n", r, dead[r])
	}
	for _, r := range ops.SortedKeys(t.lastFailureByReason) {
		fmt.Fprintf(tw, "    attempt failed: %s\t%d\n", r, t.lastFailureByReason[r])
	}
	if t.restarts > 0 {
		fmt.Fprintf(tw, "  handler restarts (an invocation passed functionTimeout)\t%d\n", t.restarts)
	}
	if len(t.tenants) > 0 {
		fmt.Fprintf(tw, "Tenants (%d, %d failed)\t\n", len(t.tenants), len(t.tenantFailures))
		for _, id := range t.tenants {
			if why, failed := t.tenantFailures[id]; failed {
				fmt.Fprintf(tw, "  %s\tFAILED: %s\n", id, why)
				continue
			}
			fmt.Fprintf(tw, "  %s\tstored %d\n", id, t.byTenant[id])
		}
	}
	fmt.Fprintln(tw, "VCC calls\t")
	for _, e := range ops.SortedKeys(calls.Calls) {
		if calls.Calls[e] > 0 { // only the endpoints called (--json keeps every one, for machines)
			fmt.Fprintf(tw, "  %s\t%d\n", e, calls.Calls[e])
		}
	}
	fmt.Fprintf(tw, "  retries / 429s / tokens\t%d / %d / %d\n", calls.Retries, calls.Throttled, calls.TokenRequests)
	if t.busiestMinute > 0 {
		fmt.Fprintf(tw, "  most in any rolling 60 s (the sandbox's arrivals)\t%d\n", t.busiestMinute)
	}
	if b := t.budget; b.Booked > 0 {
		fmt.Fprintf(tw, "  budget: storage operations per call / slots lost\t%.2f / %d\n", budgetOpsPerCall(b), b.Lost)
	}
	if t.recordings > 0 || t.complete > 0 {
		fmt.Fprintf(tw, "Recordings in\t%s\n", where)
	}
	tw.Flush()
	if len(deadList) == 0 {
		return
	}
	fmt.Fprintln(w, "Dead-lettered interactions:")
	for i, d := range deadList {
		if i == deadListed {
			fmt.Fprintf(w, "  … and %d more\n", len(deadList)-deadListed)
			break
		}
		id := d.InteractionID
		if id == "" {
			id = "message " + d.MessageID
		}
		if d.Tenant != "" {
			id = d.Tenant + " " + id
		}
		fmt.Fprintf(w, "  %s  %s\n", id, ops.ShortReason(d.Reason))
	}
	fmt.Fprintf(w, "All of them, with the full reasons, in %s (and with --json).\n", deadFile)
}

// SummaryJSON is the summary --json prints.
type SummaryJSON struct {
	Seconds          float64          `json:"seconds"`
	Found            int              `json:"found"`
	NoAudio          int              `json:"noAudio"`
	Enqueued         int              `json:"enqueued"`
	Stored           int              `json:"stored"`
	AlreadyComplete  int              `json:"alreadyComplete"`
	Recordings       int64            `json:"recordingsCopied"`
	Bytes            int64            `json:"bytesCopied"`
	ByDirection      map[string]int   `json:"byDirection"`
	Skipped          map[string]int   `json:"skipped"`
	FailedAttempts   int              `json:"failedAttempts"`
	HandlerRestarts  int              `json:"handlerRestarts"`
	Deferred         int              `json:"deferred"`
	Paced            int              `json:"paced,omitempty"`
	PacedPerStored   float64          `json:"pacedPerStored,omitempty"` // put-offs per interaction stored now
	DeadLetters      []DeadLetter     `json:"deadLetters"`
	VCCCalls         map[string]int64 `json:"vccCalls"` // every endpoint, 0 when not called: stable keys
	VCCRetries       int64            `json:"vccRetries"`
	VCCThrottled     int64            `json:"vccThrottled"`
	VCCTokenRequests int64            `json:"vccTokenRequests"`
	// VCCBusiestMinute is, with --sandbox, the most API calls that reached
	// a sandbox account in any rolling 60 s (its arrival log).
	VCCBusiestMinute int `json:"vccBusiestMinute,omitempty"`
	// Budget is what the shared budgets did: storage operations (loads,
	// saves, failed saves) and slots booked, used and lost.
	Budget budget.Counters `json:"budget"`
	Where  string          `json:"recordingsIn"`
	// With a tenants document: interactions stored or complete per tenant,
	// and each failing tenant with why.
	Tenants       map[string]int    `json:"tenants,omitempty"`
	FailedTenants map[string]string `json:"failedTenants,omitempty"`
}

// WriteSummaryJSON writes the summary of --json.
func WriteSummaryJSON(w io.Writer, t *Tally, dead []DeadLetter, calls vcc.Counters, where string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := SummaryJSON{
		Seconds: time.Since(t.started).Seconds(), Found: t.found, NoAudio: t.noAud, Enqueued: t.sent,
		Stored: t.stored, AlreadyComplete: t.complete, Recordings: t.recordings, Bytes: t.bytes,
		ByDirection: t.byDirection, Skipped: t.skipped, FailedAttempts: t.failedAttempts, HandlerRestarts: t.restarts, Deferred: t.deferred, Paced: t.paced, PacedPerStored: t.putOffsPerStored(),
		DeadLetters: dead, VCCCalls: calls.Calls, VCCRetries: calls.Retries, VCCThrottled: calls.Throttled,
		VCCTokenRequests: calls.TokenRequests, VCCBusiestMinute: t.busiestMinute, Budget: t.budget, Where: where,
	}
	if len(t.tenants) > 0 {
		s.Tenants = map[string]int{}
		for _, id := range t.tenants {
			if _, failed := t.tenantFailures[id]; !failed {
				s.Tenants[id] = t.byTenant[id]
			}
		}
		s.FailedTenants = t.tenantFailures
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s)
}

// budgetOpsPerCall is the budget's storage operations per slot used.
func budgetOpsPerCall(c budget.Counters) float64 {
	return float64(c.Loads+c.Saves) / float64(max(c.Handed, 1))
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
