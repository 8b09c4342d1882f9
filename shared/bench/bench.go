// Package bench measures the product's claims — frugal with the VCC rate
// budget, fast, streaming in constant memory, quick to start — against the
// VCC sandbox (with per-request latency) and Azurite, and reports each
// figure next to its goal. It is a benchmark, not a test: a missed goal is
// reported as missed, with the reason, and never turned into a pass by
// changing what is measured.
//
// The product's own wiring (the steps and the custom handler's routes) lives
// under functions/, which no package under shared/ imports, so the caller
// passes it in as a Product; scenarios that need a whole process (peak
// memory, cold start) run the product's executable.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/azurite"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// Product is what the harness needs of the product.
type Product struct {
	// Discover is the discover step over the pipeline's VCC client, queue
	// and state, with the product's default options.
	Discover func(v *vcc.Client, q *queue.Embedded, st store.State, log *slog.Logger) Enqueuer
	// DiscoverTenant is Discover for one tenant of a tenants document (its
	// messages carry the tenant).
	DiscoverTenant func(tenant string, v *vcc.Client, q *queue.Embedded, st store.State, log *slog.Logger) Enqueuer
	// TenantsHandler is the custom handler over a tenants document: each
	// tenant's adapters, the queue, and the deployment's own state.
	TenantsHandler func(tenants []TenantAdapters, q *queue.Embedded, root store.State, log *slog.Logger) http.Handler
	// Handler is the custom handler's HTTP surface over the two steps, as
	// the Functions host (or the local host stand-in) invokes it.
	Handler func(v *vcc.Client, q *queue.Embedded, blobs *store.Blob, log *slog.Logger) http.Handler
	// Executable is the product binary (bin/handler), run as a child for
	// peak memory ("local") and cold start ("serve").
	Executable string
}

// TenantAdapters are one tenant's adapters, as the product builds them.
type TenantAdapters struct {
	ID    string
	VCC   *vcc.Client
	Sink  store.Sink
	State store.State
	Log   *slog.Logger
}

// Enqueuer discovers one window (the discover step's Enqueue).
type Enqueuer interface {
	Enqueue(ctx context.Context, start, end time.Time, source string, now time.Time) (records.Run, error)
}

// Options tune a run. Zero values take the defaults used for the figures
// in the README.
type Options struct {
	// Dir holds the run's data, logs and bench.json (default .local/bench).
	Dir string
	// Latency is the sandbox's per-request latency (default 50ms, a VCC
	// region reached from an Azure region nearby).
	Latency time.Duration
	// Only runs the scenarios whose ids contain one of these strings.
	Only []string
	// Progress receives a line per scenario as it starts (nil: silent).
	Progress io.Writer
	// Outage is how long VCC is down in the outage scenario (default 30m).
	Outage time.Duration
}

func (o Options) withDefaults() Options {
	if o.Dir == "" {
		o.Dir = filepath.Join(".local", "bench")
	}
	if o.Latency <= 0 {
		o.Latency = 50 * time.Millisecond
	}
	if o.Outage <= 0 {
		o.Outage = 30 * time.Minute
	}
	return o
}

// Result is one measured figure and its goal.
type Result struct {
	ID      string  `json:"id"`
	Measure string  `json:"measure"`
	Value   float64 `json:"value"`
	Unit    string  `json:"unit"`
	Goal    Goal    `json:"goal"`
	Met     bool    `json:"met"`
	// Reason says why a goal was missed (or why there is no figure).
	Reason string `json:"reason,omitempty"`
	// Note says how the figure was obtained.
	Note string `json:"note,omitempty"`
	// Valid is false when the scenario failed before producing the figure.
	Valid bool `json:"valid"`
}

// Goal is a bound on a figure.
type Goal struct {
	Op    string  `json:"op,omitempty"` // "<=", ">=", "<" or "=="; "" for a figure without a goal
	Limit float64 `json:"limit,omitempty"`
}

// Check reports whether v meets the goal.
func (g Goal) Check(v float64) bool {
	switch g.Op {
	case "<=":
		return v <= g.Limit
	case "<":
		return v < g.Limit
	case ">=":
		return v >= g.Limit
	case "==":
		return v == g.Limit
	}
	return false
}

func (g Goal) String() string {
	if g.Op == "" {
		return "—"
	}
	op := map[string]string{"<=": "≤", ">=": "≥", "<": "<", "==": "="}[g.Op]
	return op + " " + trimFloat(g.Limit)
}

// Report is a whole run: the machine, the settings and the figures.
type Report struct {
	Machine  Machine           `json:"machine"`
	Started  time.Time         `json:"started"`
	Duration string            `json:"duration"`
	Settings map[string]any    `json:"settings"`
	Results  []Result          `json:"results"`
	Timings  map[string]string `json:"scenarioTimings"`
}

// Machine describes where the figures come from.
type Machine struct {
	CPUs      int     `json:"nproc"`
	CPUModel  string  `json:"cpuModel"`
	MemoryGiB float64 `json:"memoryGiB"`
	OS        string  `json:"os"`
	Go        string  `json:"go"`
}

// scenario measures one claim; it returns its rows (a failed scenario
// returns an error and the harness records it as a missed row).
type scenario struct {
	id, title string
	run       func(ctx context.Context, e *env) ([]Result, error)
}

func scenarios() []scenario {
	return []scenario{
		{"calls", "VCC calls per stored recording (1,000-interaction day)", callsPerRecording},
		{"rate", "throughput under a rate budget", rateBudget},
		{"memory", "streaming memory (peak RSS of handler local)", streamingMemory},
		{"copy", "copy throughput vs raw GET→PUT", copyThroughput},
		{"discovery", "discovery of a 100,000-interaction window", discovery},
		{"coldstart", "cold start of handler serve", coldStart},
		{"smallwindow", "a 50-interaction window at the default budget", smallWindow},
		{"rolling", "the budget over any rolling minute, 20-second tokens", rollingBudget},
		{"outage", "a VCC outage in the middle of a window", outage},
		{"webhooks", "webhook latency: recording in VCC to sidecar stored", webhookLatency},
		{"tenants", "100 tenants discovered in one timer period", manyTenants},
		{"fairness", "tenant B's latency while tenant A backfills 10,000 interactions", fairness},
		{"tenantcalls", "VCC calls per stored recording over 4 tenants, against one", tenantCalls},
		{"budget-one", "one instance on a backlog at the shared budget", budgetOne},
		{"budget-many", "8 instances, discover and report on one budget", budgetMany},
		{"budget-churn", "instances 1 → 8 → 2, one killed mid-copy, on one budget", budgetChurn},
		{"budget-tenants", "4 tenants, each its own budget, on 8 instances", budgetTenants},
	}
}

// env is what every scenario shares: options, the product, one Azurite.
type env struct {
	opts    Options
	product Product
	az      *azurite.Process
	// callsPerRecording is scenario "calls"'s figure, the cost that the
	// rate-budget scenario's ideal throughput is computed from.
	callsPerRecording float64
}

// Run runs the scenarios and returns the report; it also writes
// bench.json into opts.Dir. An error means the harness itself could not
// run (Azurite missing, unwritable directory); a failing scenario is a row.
func Run(ctx context.Context, opts Options, product Product) (Report, string, error) {
	opts = opts.withDefaults()
	rep := Report{Machine: ReadMachine(), Started: time.Now().UTC(), Timings: map[string]string{},
		Settings: map[string]any{"sandboxLatency": opts.Latency.String()}}
	if err := os.RemoveAll(opts.Dir); err != nil {
		return rep, "", err
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return rep, "", err
	}
	az, err := azurite.Launch(ctx, filepath.Join(opts.Dir, "azurite"), true)
	if err != nil {
		return rep, "", fmt.Errorf("azurite: %w", err)
	}
	defer az.Stop()
	e := &env{opts: opts, product: product, az: az}
	for _, s := range scenarios() {
		if !selected(s.id, opts.Only) {
			continue
		}
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "… %s\n", s.title)
		}
		began := time.Now()
		rows, err := s.run(ctx, e)
		rep.Timings[s.id] = time.Since(began).Round(100 * time.Millisecond).String()
		if err != nil {
			rows = append(rows, Result{ID: s.id, Measure: s.title, Reason: "scenario failed: " + err.Error()})
		}
		for _, r := range rows {
			r.Met = r.Valid && r.Reason == "" && (r.Goal.Op == "" || r.Goal.Check(r.Value))
			if r.Valid && !r.Met && r.Reason == "" {
				r.Reason = fmt.Sprintf("%s %s is outside the goal %s", trimFloat(r.Value), r.Unit, r.Goal)
			}
			rep.Results = append(rep.Results, r)
		}
		if ctx.Err() != nil {
			return rep, "", ctx.Err()
		}
	}
	rep.Duration = time.Since(rep.Started).Round(time.Second).String()
	path := filepath.Join(opts.Dir, "bench.json")
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return rep, "", err
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return rep, "", err
	}
	return rep, path, nil
}

func selected(id string, only []string) bool {
	if len(only) == 0 {
		return true
	}
	for _, o := range only {
		if o != "" && strings.Contains(id, o) {
			return true
		}
	}
	return false
}

// PrintTable writes the report as a table: figure, goal, met, and the
// reason for every missed goal.
func PrintTable(w io.Writer, rep Report) {
	m := rep.Machine
	fmt.Fprintf(w, "Machine: %d CPUs, %s, %.1f GiB memory, %s, %s\n", m.CPUs, m.CPUModel, m.MemoryGiB, m.OS, m.Go)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Measure\tFigure\tGoal\tMet\t")
	for _, r := range rep.Results {
		fig := "—"
		if r.Valid {
			fig = trimFloat(r.Value) + " " + r.Unit
		}
		met := "missed"
		switch {
		case r.Met && r.Goal.Op == "":
			met = ""
		case r.Met:
			met = "met"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", r.Measure, strings.TrimSpace(fig), r.Goal, met)
	}
	tw.Flush()
	for _, r := range rep.Results {
		if r.Note != "" || r.Reason != "" {
			fmt.Fprintf(w, "\n%s:", r.Measure)
			if r.Note != "" {
				fmt.Fprintf(w, "\n  how: %s", r.Note)
			}
			if r.Reason != "" {
				fmt.Fprintf(w, "\n  missed because: %s", r.Reason)
			}
			fmt.Fprintln(w)
		}
	}
}

// trimFloat prints a figure with at most three decimals and no trailing zeros.
func trimFloat(v float64) string {
	s := fmt.Sprintf("%.3f", v)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// ReadMachine describes this machine from /proc (Linux); fields it cannot
// read stay empty.
func ReadMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = cpuModel(string(data))
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemoryGiB = memTotalGiB(string(data))
	}
	return m
}

func cpuModel(cpuinfo string) string {
	for _, line := range strings.Split(cpuinfo, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}

func memTotalGiB(meminfo string) float64 {
	for _, line := range strings.Split(meminfo, "\n") {
		var kb float64
		if _, err := fmt.Sscanf(line, "MemTotal: %f kB", &kb); err == nil {
			return float64(int(kb/(1<<20)*10+0.5)) / 10
		}
	}
	return 0
}
