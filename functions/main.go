// Command handler is vcc-ingest's one binary: the Azure Functions custom
// handler (no subcommand, or "serve"), and the operator commands.
//
// Package main is the command table (here) and the Functions server's
// process (serve.go: settings to adapters through shared/startup, the
// routes of shared/customhandler, listening and shutdown as the host runs
// it). The local tools — the local runner, the VCC sandbox, the bench — are
// added by tools.go, which the deployed build (-tags product, make package)
// leaves out, so the package in Azure carries none of their code.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/vcc-ingest/vcc-ingest/shared/ops"
)

// command is one subcommand: its name, its one-line usage and what runs
// it. Every command takes its arguments, output streams and settings, and
// returns its exit status: 0 done, 1 failed (what failed on stderr), 2 a
// usage or configuration error.
type command struct {
	name, args, summary string
	run                 func(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int
}

// commands are the product's: what runs in Azure and the operator commands
// run against a deployment. tools.go appends the local tools.
var commands = []command{
	{"serve", "", "run as the Azure Functions custom handler (what the host starts; the default)", runServe},
	{"replay", "...", "list dead-lettered messages; --apply requeues them", ops.Replay},
	{"backfill", "...", "enqueue every interaction of a window", ops.Backfill},
	{"doctor", "...", "check the VCC credential's scopes, API versions and permissions", ops.Doctor},
	{"report", "...", "reconcile VCC with what was stored, per day", ops.Report},
	{"tenants", "...", "check, get and push the tenants document the Function App serves", ops.Tenants},
}

const usageFooter = `
Settings come from the environment; see README.md. As the custom handler,
logs are JSON lines: errors on stderr, everything else on stdout (the host
records each stderr line as an error). The other commands print their
results on stdout and their logs (JSON, warnings and errors) on stderr;
handler local writes its logs to <--data>/run.log. Each command's flags:
handler <command> -h.
`

// usage lists every command of this build.
func usage() string {
	var b strings.Builder
	b.WriteString("vcc-ingest copies call recordings from Vonage Contact Center into Azure Blob Storage.\n\nUsage:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  handler %-12s %s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
	}
	b.WriteString(usageFooter)
	return b.String()
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// run dispatches a subcommand and returns its exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	name := "serve"
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	switch name {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage())
		return 0
	}
	for _, c := range commands {
		if c.name == name {
			return c.run(ctx, args, stdout, stderr, getenv)
		}
	}
	fmt.Fprintf(stderr, "unknown command %q\n\n%s", name, usage())
	return 2
}
