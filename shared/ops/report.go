package ops

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/report"
)

const reportUsage = `Usage: handler report --from DATE --to DATE [flags]

Reconciles, per UTC day and direction: interactions VCC knows (Stats),
interactions with content (Interaction Content) and with audio, recordings
stored (interaction.json sidecars under yyyy/mm/dd/), interactions skipped
with a reason, failing (a failure record) and dead-lettered. A row is a gap
when an interaction with audio is neither stored nor skipped, or when VCC
lists no content at all for a direction Stats has many of (a feature
permission is probably off: see handler doctor).

Recordings are read from --out DIR (a "handler local --out" export, state
under --data) or from Blob Storage (RECORDINGS_*); dead letters from Service
Bus or the embedded queue under --data. The window is widened to whole days.

Examples:
  handler report --from 2026-11-01 --to 2026-11-08
  handler report --from 2026-11-01 --to 2026-11-08 --html coverage.html
  handler report --sandbox --out .local/export     # after handler local --sandbox --out .local/export

Exit status: 0 no gaps, 1 gaps found, 2 could not report.

Flags:
`

// Report is "handler report".
func Report(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	var o Flags
	var htmlFile string
	var asJSON bool
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, reportUsage); fs.PrintDefaults() }
	o.WindowFlags(fs, "first day (YYYY-MM-DD or RFC 3339, UTC); required unless --sandbox", "end, exclusive (YYYY-MM-DD or RFC 3339, UTC)")
	fs.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	fs.StringVar(&htmlFile, "html", "", "also write a self-contained page with a chart of coverage per day to this file")
	o.DataFlag(fs)
	o.OutFlag(fs)
	o.TenantFlag(fs)
	o.SandboxFlags(fs, 1)
	if err := ParseArgs(fs, args); err != nil {
		return UsageError(err, stderr)
	}
	start, end, err := o.Window()
	if err != nil {
		return UsageError(err, stderr)
	}
	if err := o.CheckSandbox(); err != nil {
		return UsageError(err, stderr)
	}

	info := stdout
	if asJSON {
		info = stderr
	}
	env, err := begin(o, true, info, stderr, getenv)
	defer env.Close()
	if err == nil {
		err = env.openStore(ctx, o, readRecordings)
	}
	if err == nil {
		err = env.openAccounts(ctx, o, true, false)
	}
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 2
	}
	src := report.Sources{VCC: env.Client, Sink: env.Sink, State: env.State, Runs: env.State, IsAudio: env.Config.IsAudio, Tenant: env.Config.Tenant}
	// The dead letters are worth having but not essential: the embedded
	// queue is held by a running "handler local", Service Bus may refuse.
	if err := env.openQueue(ctx, o, nil); err != nil {
		fmt.Fprintln(stderr, "warning: dead letters not counted:", err)
	} else {
		src.Queue = env.Queue
	}
	var mu sync.Mutex
	step := "starting"
	src.Progress = func(s string) { mu.Lock(); step = s; mu.Unlock() }
	began := time.Now()
	stop := func() {}
	if !asJSON {
		stop = StartProgress(stdout, func() string {
			mu.Lock()
			defer mu.Unlock()
			return fmt.Sprintf("reading %s  %s", step, time.Since(began).Round(time.Second))
		})
	}
	r, err := report.Build(ctx, src, start, end)
	stop()
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 2
	}
	if asJSON {
		if err := report.WriteJSON(stdout, r); err != nil {
			fmt.Fprintln(stderr, "error:", err)
			return 2
		}
	} else if err := report.WriteTable(stdout, r); err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 2
	}
	if htmlFile != "" {
		var page bytes.Buffer
		if err := report.WriteHTML(&page, r); err != nil {
			fmt.Fprintln(stderr, "error:", err)
			return 2
		}
		if err := os.WriteFile(htmlFile, page.Bytes(), 0o644); err != nil {
			fmt.Fprintln(stderr, "error:", err)
			return 2
		}
		fmt.Fprintf(info, "Coverage page written to %s\n", htmlFile)
	}
	if r.Gaps > 0 {
		return 1
	}
	return 0
}
