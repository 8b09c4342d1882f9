package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/config"
	"github.com/vcc-ingest/vcc-ingest/shared/customhandler"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/discover"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/tenancy"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/startup"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// Main is "handler bench": it measures the product against the VCC sandbox and Azurite
// (shared/bench) and prints the table; the figures go to bench.json.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, _ func(string) string) int {
	if err := run(ctx, args, stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: handler bench [flags]\n\nMeasures VCC calls per recording, throughput under a rate budget, streaming memory,\ncopy throughput, discovery, cold start, small windows, the budget over any rolling\nminute, a VCC outage and webhook latency against the VCC sandbox and Azurite.\n\nFlags:")
		fs.PrintDefaults()
	}
	dir := fs.String("dir", ".local/bench", "directory for the run's data, logs and bench.json (emptied first)")
	latency := fs.Duration("latency", 50*time.Millisecond, "sandbox latency per request")
	only := fs.String("only", "", "comma-separated scenario ids to run (calls, rate, memory, copy, discovery, coldstart, smallwindow, rolling, outage, webhooks, tenants, fairness, tenantcalls, budget-one, budget-many, budget-churn, budget-tenants)")
	outage := fs.Duration("outage", 30*time.Minute, "how long VCC is down in the outage scenario")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file (for go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	opts := Options{Dir: *dir, Latency: *latency, Progress: stderr, Outage: *outage}
	if *only != "" {
		opts.Only = strings.Split(*only, ",")
	}
	// The product's defaults, as a fresh deployment has them (audio types,
	// webhook settle and poll horizon, deferral horizon); the bench's own
	// VCC sandbox and stores are given to each scenario.
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"VCC_CLIENT_ID": "bench", "VCC_CLIENT_SECRET": "bench"}[k]
	})
	if err != nil {
		return fmt.Errorf("default configuration: %w", err)
	}
	webhookKey := secrets.Static(secrets.New(vccsim.DefaultWebhookSecret))
	product := Product{
		Executable: exe,
		Discover: func(v *vcc.Client, q *queue.Embedded, st store.State, log *slog.Logger) Enqueuer {
			return discover.New(v, q, st, tenancy.DiscoverOptions(cfg, log))
		},
		DiscoverTenant: func(tenant string, v *vcc.Client, q *queue.Embedded, st store.State, log *slog.Logger) Enqueuer {
			tc := cfg
			tc.Tenant = tenant
			return discover.New(v, q, st, tenancy.DiscoverOptions(tc, log))
		},
		TenantsHandler: func(ts []TenantAdapters, q *queue.Embedded, root store.State, log *slog.Logger) http.Handler {
			a := startup.Adapters{Config: cfg, Log: log, Queue: q, State: root}
			for _, t := range ts {
				tc := cfg
				tc.Tenant = t.ID
				a.Tenants = append(a.Tenants, startup.Tenant{ID: t.ID, Config: tc, VCC: t.VCC, Sink: t.Sink, State: t.State, Log: t.Log})
			}
			return customhandler.New(a)
		},
		Handler: func(v *vcc.Client, q *queue.Embedded, blobs *store.Blob, log *slog.Logger) http.Handler {
			return customhandler.New(startup.Adapters{Config: cfg, Log: log, VCC: v, Queue: q, Sink: blobs, State: blobs.State(), WebhookKey: webhookKey})
		},
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rep, path, err := Run(ctx, opts, product)
	if err != nil {
		return err
	}
	PrintTable(stdout, rep)
	fmt.Fprintf(stdout, "\nFigures written to %s\n", path)
	return nil
}
