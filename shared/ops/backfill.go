package ops

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/discover"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/tenancy"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

const backfillUsage = `Usage: handler backfill --from TIME --to TIME [flags]

Enqueues one message per interaction with audio that started in the window,
exactly as discover does, without touching discover's checkpoint: for a
period discover never covered, or one to fetch again after a fix (for
example a feature permission switched on). A window of any length is read
a day at a time, within the VCC APIs' window limits. Interactions already
stored are not copied again (ingest finds them complete).

Messages use the interaction guid as message id, so an interaction enqueued
within the queue's duplicate-detection window is dropped by the queue; to
retry dead-lettered interactions use "handler replay" instead.

The queue is Service Bus when ServiceBusConnection__fullyQualifiedNamespace
is set, otherwise the embedded queue of "handler local" under --data (its
next run ingests them).

Examples:
  handler backfill --from 2026-10-01 --to 2026-11-01 --dry-run
  handler backfill --from 2026-10-01T00:00:00Z --to 2026-10-02T12:00:00Z

Exit status: 0 done, 1 failed part way (run it again: nothing is lost or
copied twice), 2 bad usage or set-up.

Flags:
`

// Backfill is "handler backfill": the discover step over a window.
func Backfill(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	var o Flags
	var dryRun bool
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, backfillUsage); fs.PrintDefaults() }
	o.WindowFlags(fs, "window start (RFC 3339 or YYYY-MM-DD, UTC); required unless --sandbox", "window end, exclusive (RFC 3339 or YYYY-MM-DD, UTC)")
	fs.BoolVar(&dryRun, "dry-run", false, "list and count only: nothing is sent")
	o.DataFlag(fs)
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

	env, err := begin(o, true, stdout, stderr, getenv)
	defer env.Close()
	if err == nil && !dryRun {
		err = env.openStore(ctx, o, stateOnly)
	}
	if err == nil {
		err = env.openAccounts(ctx, o, true, false)
	}
	if err == nil && !dryRun {
		err = env.openQueue(ctx, o, nil)
	}
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 2
	}

	// Dry run: the same listing and filtering, with the sends and the run
	// record discarded.
	sender := &countingSender{}
	var state store.State = discardState{}
	if !dryRun {
		sender.next, state = env.Queue, env.State
	}
	lister := &countingLister{Lister: env.Client}
	d := discover.New(lister, sender, state, tenancy.DiscoverOptions(env.Config, env.Log))

	verb := "Enqueuing"
	if dryRun {
		verb = "Counting (dry run)"
	}
	fmt.Fprintf(stdout, "%s interactions of %s → %s\n", verb, start.Format(time.RFC3339), end.Format(time.RFC3339))
	began := time.Now()
	days := int(end.Sub(start).Hours()/24 + 0.999)
	stop := StartProgress(stdout, func() string {
		return fmt.Sprintf("listed %d interactions  enqueued %d  (%d days in all)  %s",
			lister.listed.Load(), sender.sent.Load(), days, time.Since(began).Round(time.Second))
	})
	run, err := d.Enqueue(ctx, start, end, "backfill", time.Now())
	stop()
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\nInteractions with content found\t%d\n", run.Found)
	fmt.Fprintf(tw, "Without audio (not enqueued)\t%d\n", run.NoAudio)
	if dryRun {
		fmt.Fprintf(tw, "Would enqueue\t%d\n", run.Found-run.NoAudio)
	} else {
		fmt.Fprintf(tw, "Sent to the queue\t%d in %d sends (the queue drops ids it saw within its duplicate-detection window)\n", run.Enqueued, run.Sends)
	}
	fmt.Fprintf(tw, "Took\t%s\n", time.Since(began).Round(time.Millisecond))
	tw.Flush()
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		fmt.Fprintln(stderr, "Run the same command again: what was enqueued is de-duplicated by the queue.")
		return 1
	}
	if !dryRun && env.Config.ServiceBusNamespace == "" {
		fmt.Fprintf(stdout, "The messages wait in %s/queue.db: \"handler local --data %s\" ingests them.\n", o.Data, o.Data)
	}
	return 0
}

// countingLister counts listed interactions, for progress.
type countingLister struct {
	discover.Lister
	listed atomic.Int64
}

func (l *countingLister) ListInteractions(ctx context.Context, start, end time.Time, fn func(vcc.Interaction) error) error {
	return l.Lister.ListInteractions(ctx, start, end, func(in vcc.Interaction) error {
		l.listed.Add(1)
		return fn(in)
	})
}

// countingSender counts messages and passes them on (to nothing in a dry run).
type countingSender struct {
	next queue.Sender
	sent atomic.Int64
}

func (s *countingSender) SendBatch(ctx context.Context, msgs []queue.Outgoing) error {
	if s.next != nil {
		if err := s.next.SendBatch(ctx, msgs); err != nil {
			return err
		}
	}
	s.sent.Add(int64(len(msgs)))
	return nil
}

// discardState is the state of a dry run: no checkpoint, no run record.
type discardState struct{}

func (discardState) Load(context.Context, string) ([]byte, string, bool, error) {
	return nil, "", false, nil
}
func (discardState) Save(context.Context, string, []byte, string) (string, error) { return "", nil }
func (discardState) Put(context.Context, string, []byte) error                    { return nil }
func (discardState) Delete(context.Context, string) error                         { return nil }
func (discardState) List(context.Context, string, func(string) error) error       { return nil }
