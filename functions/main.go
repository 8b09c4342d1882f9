// Command handler is vcc-ingest's one binary: the Azure Functions custom
// handler (no subcommand, or "serve"), and the operator commands.
//
// Package main is only the dispatch (main.go), the Functions server
// (server.go: one route per function folder) and its start-up as the host
// runs it (serve.go). The steps are functions/<name>/ next to their
// function.json; the local runner is shared/local; the operator commands and
// the flags and wiring they share are shared/ops. Those packages get the
// steps from here (steps()), since nothing under shared/ imports functions/.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/vcc-ingest/vcc-ingest/shared/bench"
	"github.com/vcc-ingest/vcc-ingest/shared/local"
	"github.com/vcc-ingest/vcc-ingest/shared/ops"
)

const usage = `vcc-ingest copies call recordings from Vonage Contact Center into Azure Blob Storage.

Usage:
  handler [serve]      run as the Azure Functions custom handler (what the host starts)
  handler local ...    run the whole pipeline on this machine (see handler local -h)
  handler sandbox ...  run the VCC sandbox, a stand-in for VCC (see handler sandbox -h)
  handler replay ...   list dead-lettered messages; --apply requeues them (see handler replay -h)
  handler backfill ... enqueue every interaction of a window (see handler backfill -h)
  handler doctor ...   check the VCC credential's scopes, API versions and permissions (see handler doctor -h)
  handler report ...   reconcile VCC with what was stored, per day (see handler report -h)
  handler tenants ...  check, get and push the tenants document the Function App serves (see handler tenants -h)

Settings come from the environment; see README.md. As the custom handler,
logs are JSON lines: errors on stderr, everything else on stdout (the host
records each stderr line as an error). The operator commands print their
results on stdout and their logs (JSON, warnings and errors) on stderr;
handler local writes its logs to <--data>/run.log.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// run dispatches a subcommand and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = runServe(ctx, getenv, stdout, stderr)
	case "local":
		return local.Main(ctx, args, stdout, stderr, getenv)
	case "sandbox":
		err = ops.Sandbox(ctx, args, stdout, stderr)
	case "bench":
		err = bench.Main(ctx, args, stdout, stderr)
	case "replay":
		return ops.Replay(ctx, args, stdout, stderr, getenv)
	case "backfill":
		return ops.Backfill(ctx, args, stdout, stderr, getenv)
	case "doctor":
		return ops.Doctor(ctx, args, stdout, stderr, getenv)
	case "report":
		return ops.Report(ctx, args, stdout, stderr, getenv)
	case "tenants":
		return ops.Tenants(ctx, args, stdout, stderr, getenv)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
	return 0
}
