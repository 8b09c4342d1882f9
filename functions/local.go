package main

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
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/vcc-ingest/vcc-ingest/functions/discover"
	"github.com/vcc-ingest/vcc-ingest/functions/ingest"
	"github.com/vcc-ingest/vcc-ingest/shared/azurite"
	"github.com/vcc-ingest/vcc-ingest/shared/config"
	"github.com/vcc-ingest/vcc-ingest/shared/devhost"
	"github.com/vcc-ingest/vcc-ingest/shared/hostjson"
	"github.com/vcc-ingest/vcc-ingest/shared/message"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
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

// localOptions are the flags of "handler local".
type localOptions struct {
	from, to   string
	out        string
	data       string
	sandbox    bool
	seed       int64
	perDay     int
	day        string
	faults     string
	schedule   bool
	azurite    bool
	workers    int
	every      time.Duration
	idle       time.Duration
	lockPeriod time.Duration

	functionTimeout time.Duration
	json            bool
}

func parseLocalFlags(args []string, stderr io.Writer) (localOptions, error) {
	var o localOptions
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, localUsage); fs.PrintDefaults() }
	fs.StringVar(&o.from, "from", "", "window start, RFC 3339 (e.g. 2026-11-02T00:00:00Z)")
	fs.StringVar(&o.to, "to", "", "window end, RFC 3339")
	fs.StringVar(&o.out, "out", "", "write recordings and interaction.json files under this directory instead of Blob Storage")
	fs.StringVar(&o.data, "data", ".local", "directory for the embedded queue and local state")
	fs.BoolVar(&o.sandbox, "sandbox", false, "start the VCC sandbox in-process and use it as VCC")
	fs.Int64Var(&o.seed, "seed", 1, "sandbox: seed of the generated contact centre")
	fs.IntVar(&o.perDay, "per-day", 200, "sandbox: interactions per day")
	fs.StringVar(&o.day, "day", "", "sandbox: the generated day, YYYY-MM-DD (default yesterday, UTC)")
	fs.BoolVar(&o.schedule, "schedule", false, "with --sandbox: run on the schedule (the sandbox then holds yesterday and today) instead of one day")
	fs.StringVar(&o.faults, "sandbox-faults", "", "sandbox: misbehaviour to inject, e.g. 5xx=0.1,429=0.05,truncate=0.02,redirect=0.01")
	fs.BoolVar(&o.azurite, "azurite", false, "start Azurite (npm ci --prefix infra/local) for the run and store recordings there")
	fs.IntVar(&o.workers, "workers", 0, "concurrent ingest invocations (default host.json's maxConcurrentCalls, as the host)")
	fs.DurationVar(&o.functionTimeout, "function-timeout", 0, "the host's function timeout (default host.json's functionTimeout): an invocation past it restarts the handler, as in Azure")
	fs.DurationVar(&o.every, "every", 15*time.Minute, "without a window: how often discover runs")
	fs.DurationVar(&o.idle, "idle", time.Second, "a window run ends when the queue has been empty this long")
	fs.BoolVar(&o.json, "json", false, "print the summary as JSON on stdout (every dead letter included); progress goes to stderr")
	fs.DurationVar(&o.lockPeriod, "lock", 5*time.Minute, "message lock duration (the queue's lockDuration)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if (o.from == "") != (o.to == "") {
		return o, errors.New("--from and --to go together")
	}
	return o, nil
}

// runLocal returns the exit status: 0 all stored, 1 something dead-lettered
// or failed, 2 bad usage or set-up.
func runLocal(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	o, err := parseLocalFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 2
	}
	status, err := localRun(ctx, o, stdout, stderr, getenv)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		if status == 0 {
			status = 2
		}
	}
	return status
}

func localRun(ctx context.Context, o localOptions, stdout, stderr io.Writer, getenv func(string) string) (int, error) {
	jsonOut := stdout
	if o.json {
		stdout = stderr // progress and notes; the summary alone goes to stdout
	}
	if err := os.MkdirAll(o.data, 0o755); err != nil {
		return 2, err
	}
	// Logs go to a file so the terminal shows progress and the summary.
	logPath := filepath.Join(o.data, "run.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 2, err
	}
	defer logFile.Close()
	log := newLogger(logFile)

	env := overlayEnv(getenv)
	var sim *vccsim.Sim
	var from, to time.Time
	if o.sandbox {
		day := time.Now().UTC().Truncate(24 * time.Hour).Add(-24 * time.Hour)
		if o.day != "" {
			if day, err = time.Parse("2006-01-02", o.day); err != nil {
				return 2, fmt.Errorf("--day: %w", err)
			}
		}
		days := 1
		if o.schedule {
			days = 2 // yesterday and today: the schedule's look-back finds work
		}
		faults, err := parseFaults(o.faults)
		if err != nil {
			return 2, fmt.Errorf("--sandbox-faults: %w", err)
		}
		sim = vccsim.New(vccsim.Options{Seed: o.seed, Start: day, Days: days, InteractionsPerDay: o.perDay, Faults: faults})
		if err := sim.Start(); err != nil {
			return 2, fmt.Errorf("sandbox: %w", err)
		}
		defer sim.Close()
		env.set("VCC_TOKEN_URL", sim.TokenURL())
		env.set("VCC_API_URL", sim.APIURL())
		env.set("VCC_CLIENT_ID", sim.ClientID())
		env.set("VCC_CLIENT_SECRET", sim.ClientSecret())
		if !o.schedule {
			from, to = day, day.Add(24*time.Hour)
		}
		fmt.Fprintf(stdout, "VCC sandbox at %s (seed %d, %d interactions a day)\n", sim.APIURL(), o.seed, o.perDay)
	}
	if o.from != "" {
		if from, err = time.Parse(time.RFC3339, o.from); err != nil {
			return 2, fmt.Errorf("--from: %w", err)
		}
		if to, err = time.Parse(time.RFC3339, o.to); err != nil {
			return 2, fmt.Errorf("--to: %w", err)
		}
		if !to.After(from) {
			return 2, errors.New("--to must be after --from")
		}
	}

	azuriteDir := ""
	if o.azurite && o.out == "" {
		az, err := azurite.Launch(ctx, filepath.Join(o.data, "azurite"), true)
		if err != nil {
			return 2, fmt.Errorf("azurite: %w", err)
		}
		defer az.Stop()
		env.set("RECORDINGS_CONNECTION_STRING", az.ConnectionString)
		azuriteDir = filepath.Join(o.data, "azurite")
		fmt.Fprintf(stdout, "Azurite at %s (data in %s)\n", az.BlobURL, azuriteDir)
	}
	if env.get("VCC_CLIENT_SECRET") == "" {
		return 2, errors.New("VCC_CLIENT_SECRET: required for a local run (or use --sandbox)")
	}
	cfg, err := config.Load(env.get)
	if err != nil {
		return 2, fmt.Errorf("configuration:\n%w", err)
	}
	hs, err := hostjson.Find(env.get)
	if err != nil {
		return 2, err
	}
	if o.functionTimeout > 0 {
		hs.FunctionTimeout = o.functionTimeout
	}
	if o.workers == 0 {
		o.workers = hs.MaxConcurrentCalls
	}

	vccCfg := cfg.VCC
	vccCfg.Secret = secrets.Static(cfg.ClientSecret)
	vccCfg.Logger = log
	client, err := vcc.New(vccCfg)
	if err != nil {
		return 2, err
	}

	var sink store.Sink
	var state store.State
	where := ""
	switch {
	case o.out != "":
		dir := store.NewDir(o.out)
		sink, state = dir, store.NewDirState(filepath.Join(o.data, "state"))
		where = o.out
	case cfg.RecordingsConnectionString != "" || cfg.RecordingsAccountURL != "":
		var cred azcore.TokenCredential
		if cfg.RecordingsAccountURL != "" {
			if cred, err = credential(cfg); err != nil {
				return 2, err
			}
		}
		blobs, err := store.NewBlob(ctx, store.BlobConfig{
			ConnectionString: cfg.RecordingsConnectionString,
			AccountURL:       cfg.RecordingsAccountURL,
			Credential:       cred,
			Container:        cfg.RecordingsContainer,
			StateContainer:   cfg.StateContainer,
			CreateContainers: cfg.RecordingsConnectionString != "",
		})
		if err != nil {
			return 2, err
		}
		sink, state = blobs, blobs.State()
		where = "container " + cfg.RecordingsContainer
		if azuriteDir != "" {
			where += " (Azurite data in " + azuriteDir + ")"
		}
	default:
		return 2, errors.New("nowhere to store recordings: give --out DIR, --azurite, RECORDINGS_CONNECTION_STRING or RECORDINGS_ACCOUNT_URL")
	}

	q, err := queue.OpenEmbedded(filepath.Join(o.data, "queue.db"), queue.EmbeddedOptions{
		LockDuration:     o.lockPeriod,
		MaxDeliveryCount: cfg.MaxAttempts,
	})
	if err != nil {
		return 2, err
	}
	defer q.Close()
	if n := q.ReleasedAtOpen(); n > 0 {
		fmt.Fprintf(stdout, "Resuming: %d messages an interrupted run had locked are back on the queue\n", n)
	}

	srv := &server{
		discover: discover.New(client, q, state, discoverOptions(cfg, log)),
		ingest:   ingest.New(client, sink, state, ingest.Options{IsAudio: cfg.IsAudio, Logger: log}),
		log:      log,
		now:      time.Now,
		deadline: hs.InvocationDeadline(),
	}
	proc := &handlerProcess{handler: srv.handler(), log: log}
	baseURL, err := proc.start()
	if err != nil {
		return 2, err
	}
	defer proc.stop(shutdownGrace)
	tally := newTally()
	host := &devhost.Host{
		BaseURL:         baseURL,
		Queue:           q,
		Workers:         o.workers,
		Logger:          log,
		OnResult:        tally.add,
		MaxLockRenewal:  hs.MaxAutoLockRenewal,
		FunctionTimeout: hs.FunctionTimeout,
		// As the host does after a timeout: kill the handler, failing what
		// is in flight, and start it again.
		Restart: func(context.Context) (string, error) {
			proc.stop(0)
			tally.restarted()
			return proc.start()
		},
		// Messages an interrupted run had locked come back when their lock
		// expires: the run is not over until they are done too.
		Pending: func() (int, error) {
			st, err := q.Stats()
			return st.Active + st.Locked, err
		},
		OnWait: tally.waiting,
	}
	if err := host.WaitReady(ctx, 10*time.Second); err != nil {
		return 2, err
	}

	stopProgress := startProgress(stdout, tally.line)
	defer stopProgress()
	report := func(dead []deadLetter, calls vcc.Counters, where string) {
		if o.json {
			writeSummaryJSON(jsonOut, tally, dead, calls, where)
			return
		}
		printSummary(stdout, tally, dead, calls, where)
	}
	if from.IsZero() {
		status, err := scheduled(ctx, host, tally, o, stdout, log)
		stopProgress()
		dead, derr := listDeadLetters(context.WithoutCancel(ctx), q, state, o.data)
		if derr != nil {
			return 1, derr
		}
		report(dead, client.Counters(), where)
		return status, err
	}
	fmt.Fprintf(stdout, "Window %s → %s; recordings to %s; logs in %s\n",
		from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), where, logPath)
	sent := &sentRecorder{Sender: q}
	window := discover.New(client, sent, state, discoverOptions(cfg, log))
	run, err := window.Enqueue(ctx, from.UTC(), to.UTC(), "local", time.Now())
	if err != nil {
		return 1, fmt.Errorf("discover: %w", err)
	}
	tally.setDiscovered(run.Found, run.Enqueued, run.NoAudio)
	if _, err := host.Drain(ctx, "ingest", o.idle); err != nil && !errors.Is(err, context.Canceled) {
		return 1, err
	}
	// The window is done only when every interaction sent is complete or
	// dead-lettered. The queue drops a message whose id it saw within its
	// duplicate window (the same window exported again to another place):
	// those go again under new ids.
	missing, err := incomplete(context.WithoutCancel(ctx), q, sink, sent.sent)
	if err != nil {
		return 1, err
	}
	if len(missing) > 0 && ctx.Err() == nil {
		if err := q.SendBatch(ctx, rerun(missing)); err != nil {
			return 1, fmt.Errorf("requeue %d interactions: %w", len(missing), err)
		}
		if _, err := host.Drain(ctx, "ingest", o.idle); err != nil && !errors.Is(err, context.Canceled) {
			return 1, err
		}
		if missing, err = incomplete(context.WithoutCancel(ctx), q, sink, sent.sent); err != nil {
			return 1, err
		}
	}
	stopProgress()
	dead, err := listDeadLetters(context.WithoutCancel(ctx), q, state, o.data)
	if err != nil {
		return 1, err
	}
	report(dead, client.Counters(), where)
	if azuriteDir != "" {
		fmt.Fprintf(stdout, "To browse them, serve that data again: node infra/local/node_modules/.bin/azurite-blob --location %s --skipApiVersionCheck --disableTelemetry\n", azuriteDir)
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
	return 0, nil
}

// sentRecorder remembers the messages a window run sent, to check at the
// end that each one's interaction is complete.
type sentRecorder struct {
	discover.Sender
	sent []queue.Outgoing
}

func (r *sentRecorder) SendBatch(ctx context.Context, msgs []queue.Outgoing) error {
	if err := r.Sender.SendBatch(ctx, msgs); err != nil {
		return err
	}
	r.sent = append(r.sent, msgs...)
	return nil
}

// incomplete returns the sent messages whose interaction has no sidecar and
// is not dead-lettered.
func incomplete(ctx context.Context, q *queue.Embedded, sink store.Sink, sent []queue.Outgoing) ([]queue.Outgoing, error) {
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

// scheduled runs discover every o.every and ingests continuously until ctx ends.
func scheduled(ctx context.Context, host *devhost.Host, tally *tally, o localOptions, stdout io.Writer, log *slog.Logger) (int, error) {
	fmt.Fprintf(stdout, "Running: discover every %s, %d ingest workers; Ctrl-C stops\n", o.every, o.workers)
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
	tick := time.NewTicker(o.every)
	defer tick.Stop()
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
		select {
		case <-ctx.Done():
			<-drainDone
			return 0, nil
		case err := <-drainDone:
			return 1, err
		case <-tick.C:
		}
	}
}

// overlay is the process environment with local overrides on top.
type overlay struct {
	base func(string) string
	over map[string]string
}

func overlayEnv(base func(string) string) *overlay {
	return &overlay{base: base, over: map[string]string{}}
}
func (e *overlay) set(k, v string) { e.over[k] = v }
func (e *overlay) get(k string) string {
	if v, ok := e.over[k]; ok {
		return v
	}
	return e.base(k)
}

// tally gathers ingest outcomes for progress and the summary.
type tally struct {
	mu                  sync.Mutex
	started             time.Time
	found, sent, noAud  int
	stored, complete    int
	skipped             map[string]int
	failedAttempts      int
	pending             int
	recordings, bytes   int64
	byDirection         map[string]int
	lastFailureByReason map[string]int
	restarts            int
}

func newTally() *tally {
	return &tally{started: time.Now(), skipped: map[string]int{}, byDirection: map[string]int{}, lastFailureByReason: map[string]int{}}
}

func (t *tally) setDiscovered(found, sent, noAudio int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.found, t.sent, t.noAud = found, sent, noAudio
}

// restarted notes a restart of the handler after a timeout.
func (t *tally) restarted() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.restarts++
}

// waiting notes messages locked by an interrupted run (shown in progress).
func (t *tally) waiting(pending int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending = pending
}

func (t *tally) addDiscovered(found, sent, noAudio int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.found += found
	t.sent += sent
	t.noAud += noAudio
}

func (t *tally) add(r devhost.Result) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !r.OK() {
		t.failedAttempts++
		var f records.InvocationFailure
		_ = json.Unmarshal(r.ReturnValue, &f)
		t.lastFailureByReason[shortReason(f.Error)]++
		return
	}
	var res records.Result
	_ = json.Unmarshal(r.ReturnValue, &res)
	switch res.Outcome {
	case records.Stored:
		t.stored++
	case records.Complete:
		t.complete++
	case records.Skipped:
		t.skipped[res.Reason]++
		return
	}
	t.recordings += int64(res.Copied)
	t.bytes += res.Bytes
	t.byDirection[res.Direction]++
}

var (
	blobNamePattern  = regexp.MustCompile(`\d{4}/\d{2}/\d{2}/[0-9a-fA-F-]{36}/[^\s:]+`)
	byteCountPattern = regexp.MustCompile(`\d+ bytes`)
	guidPattern      = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
)

// shortReason turns a failure message into a summary line: the same cause
// for many interactions reads as one line with a count.
func shortReason(s string) string {
	if i := strings.Index(s, ": "); i > 0 && strings.HasPrefix(s, "ingest ") {
		s = s[i+2:]
	}
	s = blobNamePattern.ReplaceAllString(s, "<recording>")
	s = guidPattern.ReplaceAllString(s, "<interaction>")
	s = byteCountPattern.ReplaceAllString(s, "N bytes")
	// Keep the beginning (what was being done) and the end (the root cause).
	if r := []rune(s); len(r) > 90 {
		s = string(r[:34]) + " … " + string(r[len(r)-53:])
	}
	return s
}

func (t *tally) line() string {
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
	if t.pending > 0 {
		line += fmt.Sprintf("  (waiting for %d messages locked by an interrupted run; their lock expires within --lock)", t.pending)
	}
	return line
}

// deadLetter is one dead-lettered interaction of a local run.
type deadLetter struct {
	InteractionID string `json:"interactionId"`
	MessageID     string `json:"messageId"`
	Reason        string `json:"reason"`
}

// deadLettersFile, under --data, lists every dead letter of the last run.
const deadLettersFile = "dead-letters.json"

// listDeadLetters lists the queue's dead letters, each with the ingest failure
// recorded for its interaction when there is one (the queue's own reason,
// such as MaxDeliveryCountExceeded, says only that retries ran out), and
// writes them all to deadLettersFile.
func listDeadLetters(ctx context.Context, q *queue.Embedded, state store.State, dataDir string) ([]deadLetter, error) {
	msgs, err := q.PeekDeadLetters(ctx, 1000000)
	if err != nil {
		return nil, err
	}
	out := make([]deadLetter, 0, len(msgs))
	for _, m := range msgs {
		d := deadLetter{MessageID: m.ID, Reason: m.DeadLetterReason}
		if m.DeadLetterDescription != "" {
			d.Reason += ": " + m.DeadLetterDescription
		}
		if body, err := message.Decode(m.Body); err == nil {
			d.InteractionID = body.InteractionID
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
	if err := os.WriteFile(filepath.Join(dataDir, deadLettersFile), append(data, '\n'), 0o644); err != nil {
		return out, err
	}
	return out, nil
}

// deadListed is how many dead letters the summary names one by one.
const deadListed = 20

func printSummary(w io.Writer, t *tally, deadList []deadLetter, calls vcc.Counters, where string) {
	dead := map[string]int{}
	for _, d := range deadList {
		dead[shortReason(d.Reason)]++
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
	for _, d := range sortedKeys(t.byDirection) {
		fmt.Fprintf(tw, "  direction %s\t%d\n", d, t.byDirection[d])
	}
	for _, r := range sortedKeys(t.skipped) {
		fmt.Fprintf(tw, "  skipped: %s\t%d\n", r, t.skipped[r])
	}
	fmt.Fprintf(tw, "  failed attempts (retried)\t%d\n", t.failedAttempts)
	total := 0
	for _, n := range dead {
		total += n
	}
	fmt.Fprintf(tw, "  dead-lettered\t%d\n", total)
	for _, r := range sortedKeys(dead) {
		fmt.Fprintf(tw, "    %s\t%d\n", r, dead[r])
	}
	for _, r := range sortedKeys(t.lastFailureByReason) {
		fmt.Fprintf(tw, "    attempt failed: %s\t%d\n", r, t.lastFailureByReason[r])
	}
	if t.restarts > 0 {
		fmt.Fprintf(tw, "  handler restarts (an invocation passed functionTimeout)\t%d\n", t.restarts)
	}
	fmt.Fprintln(tw, "VCC calls\t")
	for _, e := range sortedKeys(calls.Calls) {
		fmt.Fprintf(tw, "  %s\t%d\n", e, calls.Calls[e])
	}
	fmt.Fprintf(tw, "  retries / 429s / tokens\t%d / %d / %d\n", calls.Retries, calls.Throttled, calls.TokenRequests)
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
		fmt.Fprintf(w, "  %s  %s\n", id, d.Reason)
	}
	fmt.Fprintf(w, "All of them in %s (and with --json).\n", deadLettersFile+" under --data")
}

// summaryJSON is the summary of --json.
type summaryJSON struct {
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
	DeadLetters      []deadLetter     `json:"deadLetters"`
	VCCCalls         map[string]int64 `json:"vccCalls"`
	VCCRetries       int64            `json:"vccRetries"`
	VCCThrottled     int64            `json:"vccThrottled"`
	VCCTokenRequests int64            `json:"vccTokenRequests"`
	Where            string           `json:"recordingsIn"`
}

func writeSummaryJSON(w io.Writer, t *tally, dead []deadLetter, calls vcc.Counters, where string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := summaryJSON{
		Seconds: time.Since(t.started).Seconds(), Found: t.found, NoAudio: t.noAud, Enqueued: t.sent,
		Stored: t.stored, AlreadyComplete: t.complete, Recordings: t.recordings, Bytes: t.bytes,
		ByDirection: t.byDirection, Skipped: t.skipped, FailedAttempts: t.failedAttempts, HandlerRestarts: t.restarts,
		DeadLetters: dead, VCCCalls: calls.Calls, VCCRetries: calls.Retries, VCCThrottled: calls.Throttled,
		VCCTokenRequests: calls.TokenRequests, Where: where,
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
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

// parseFaults reads "name=probability,..." for the sandbox's fault injection.
func parseFaults(spec string) (vccsim.Faults, error) {
	var f vccsim.Faults
	if strings.TrimSpace(spec) == "" {
		return f, nil
	}
	fields := map[string]*float64{
		"5xx": &f.Status5xx, "429": &f.Throttle, "429-no-retry-after": &f.ThrottleNoRetryAfter,
		"truncate": &f.Truncate, "truncate-no-length": &f.TruncateNoLength, "redirect": &f.Redirect,
	}
	for _, part := range strings.Split(spec, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		target, known := fields[name]
		if !ok || !known {
			return f, fmt.Errorf("%q: want one of 5xx, 429, 429-no-retry-after, truncate, truncate-no-length, redirect = probability", part)
		}
		p, err := strconv.ParseFloat(value, 64)
		if err != nil || p < 0 || p > 1 {
			return f, fmt.Errorf("%q: probability must be between 0 and 1", part)
		}
		*target = p
	}
	return f, nil
}
