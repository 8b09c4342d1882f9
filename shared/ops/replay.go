package ops

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/replay"
)

const replayUsage = `Usage: handler replay [flags]

Lists the dead-lettered messages of the ingest queue: message id, queue
reason and description, delivery count, enqueued time, and the failure
ingest recorded for the interaction. Nothing changes unless --apply is given.

With --apply the selected dead letters go back onto the main queue, once the
cause is fixed. Each copy gets a new message id (<guid>.replay-<n>-<random>;
duplicate detection would drop the old one) and properties saying it is a
replay and how many times; a dead letter is removed only after its copy was
accepted, so an interruption loses nothing (run the command again).

The queue is Service Bus when ServiceBusConnection__fullyQualifiedNamespace
is set, otherwise the embedded queue of "handler local" under --data (stop
handler local first: one process at a time). Failure records are read from
the state container (RECORDINGS_*) or from --data/state.

Examples:
  handler replay                                  # list every dead letter
  handler replay --reason 503 --since 2026-11-02  # list a selection
  handler replay --apply --reason 503             # requeue it

Exit status: 0 done, 1 some replay failed, 2 bad usage or set-up.

Flags:
`

type replayOptions struct {
	ops          Flags
	apply, json  bool
	ids          string
	reason       string
	since, until string
	limit        int
}

// Replay is "handler replay".
func Replay(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	var o replayOptions
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, replayUsage); fs.PrintDefaults() }
	fs.BoolVar(&o.apply, "apply", false, "move the selected dead letters back onto the main queue (default: list only)")
	fs.StringVar(&o.ids, "id", "", "only these interaction guids or message ids (comma separated)")
	fs.StringVar(&o.reason, "reason", "", "only dead letters whose reason, description or recorded failure contains this text (case-insensitive)")
	fs.StringVar(&o.since, "since", "", "only messages enqueued at or after this time (RFC 3339 or YYYY-MM-DD)")
	fs.StringVar(&o.until, "until", "", "only messages enqueued before this time (RFC 3339 or YYYY-MM-DD)")
	fs.IntVar(&o.limit, "limit", 0, "at most this many dead letters (0: all)")
	fs.BoolVar(&o.json, "json", false, "print JSON instead of text")
	o.ops.DataFlag(fs)
	o.ops.TenantFlag(fs)
	if err := ParseArgs(fs, args); err != nil {
		return UsageError(err, stderr)
	}
	filter := replay.Filter{Reason: o.reason, Limit: o.limit}
	for _, id := range strings.Split(o.ids, ",") {
		if id = strings.TrimSpace(id); id != "" {
			filter.IDs = append(filter.IDs, id)
		}
	}
	var err error
	if o.since != "" {
		if filter.Since, err = ParseWhen("since", o.since); err != nil {
			return UsageError(err, stderr)
		}
	}
	if o.until != "" {
		if filter.Until, err = ParseWhen("until", o.until); err != nil {
			return UsageError(err, stderr)
		}
	}
	if o.limit < 0 {
		return UsageError(fmt.Errorf("--limit must not be negative"), stderr)
	}

	env, err := begin(o.ops, false, stdout, stderr, getenv)
	defer env.Close()
	if err == nil {
		err = env.openStore(ctx, o.ops, stateOnly)
	}
	if err == nil {
		err = env.openAccounts(ctx, o.ops, false, false)
	}
	if err == nil {
		err = env.openQueue(ctx, o.ops, nil)
	}
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 2
	}
	if env.Config.Tenant != "" {
		filter.Tenant = env.Config.Tenant
	}

	if !o.apply {
		entries, err := replay.List(ctx, env.Queue, env.State, filter)
		partial := errors.Is(err, queue.ErrTooManyDeadLetters)
		if err != nil && !partial {
			fmt.Fprintln(stderr, "error:", err)
			return 2
		}
		if partial {
			// The matches among the dead letters read are listed; say that
			// there are more, and fail, so no one takes the list as whole.
			defer fmt.Fprintln(stderr, "error:", err)
		}
		if o.json {
			out := map[string]any{"dryRun": true, "deadLetters": orEmpty(entries)}
			if partial {
				out["error"] = err.Error()
			}
			if status := writeJSON(stdout, stderr, out); status != 0 || !partial {
				return status
			}
			return 1
		}
		printDeadLetters(stdout, entries)
		if len(entries) > 0 {
			fmt.Fprintf(stdout, "\nDry run: nothing changed. Fix the cause, then add --apply (with the same filters) to requeue %s.\n", plural(len(entries), "dead letter"))
		}
		if partial {
			return 1
		}
		return 0
	}

	var done, total atomic.Int64
	started := time.Now()
	stop := func() {}
	if !o.json {
		stop = StartProgress(stdout, func() string {
			return fmt.Sprintf("replayed %d/%d  %s", done.Load(), total.Load(), time.Since(started).Round(time.Second))
		})
	}
	res, err := replay.Apply(ctx, env.Queue, env.State, filter, replay.Options{
		Progress: func(d, t int) { done.Store(int64(d)); total.Store(int64(t)) },
	})
	stop()
	if o.json {
		out := map[string]any{"dryRun": false, "matched": res.Matched, "replayed": orEmpty(res.Replayed), "notRemoved": orEmpty(res.NotRemoved)}
		if err != nil {
			out["error"] = err.Error()
		}
		if status := writeJSON(stdout, stderr, out); status != 0 {
			return status
		}
	} else {
		printReplayed(stdout, res)
	}
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
	if len(res.NotRemoved) > 0 {
		return 1
	}
	return 0
}

func printDeadLetters(w io.Writer, entries []replay.Entry) {
	if len(entries) == 0 {
		fmt.Fprintln(w, "No dead letters match.")
		return
	}
	fmt.Fprintf(w, "%s:\n", plural(len(entries), "dead letter"))
	reasons := map[string]int{}
	for _, e := range entries {
		fmt.Fprintf(w, "\n  %s", e.MessageID)
		if e.InteractionID != "" && !strings.EqualFold(e.InteractionID, e.MessageID) {
			fmt.Fprintf(w, "  (interaction %s)", e.InteractionID)
		}
		fmt.Fprintf(w, "\n    enqueued %s, %s", e.EnqueuedAt.UTC().Format(time.RFC3339), plural(e.DeliveryCount, "delivery"))
		if e.ReplayCount > 0 {
			fmt.Fprintf(w, ", replayed %d times before", e.ReplayCount)
		}
		reason := e.Reason
		if e.Description != "" {
			reason += ": " + e.Description
		}
		fmt.Fprintf(w, "\n    dead-lettered: %s\n", reason)
		if f := e.Failure; f != nil {
			kind := "transient"
			if f.Permanent {
				kind = "permanent"
			}
			fmt.Fprintf(w, "    ingest failure (%s, delivery %d, %s): %s\n", kind, f.DeliveryCount, f.At.UTC().Format(time.RFC3339), f.Reason)
			reasons[ShortReason(f.Reason)]++
		} else {
			fmt.Fprintln(w, "    ingest failure: none recorded")
			reasons[ShortReason(reason)]++
		}
	}
	fmt.Fprintln(w, "\nBy cause:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range SortedKeys(reasons) {
		fmt.Fprintf(tw, "  %s\t%d\n", r, reasons[r])
	}
	tw.Flush()
}

func printReplayed(w io.Writer, res replay.Result) {
	if res.Matched == 0 {
		fmt.Fprintln(w, "No dead letters match: nothing replayed.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "dead letter\tnew message id\treplay")
	for _, e := range res.Replayed {
		fmt.Fprintf(tw, "%s\t%s\t%d\n", e.MessageID, e.NewMessageID, e.ReplayCount+1)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nReplayed %d of %d matching dead letters onto the main queue.\n", len(res.Replayed), res.Matched)
	if len(res.NotRemoved) > 0 {
		fmt.Fprintf(w, "%s sent again but still in the dead-letter queue (lock lost): replaying them again later is harmless.\n", plural(len(res.NotRemoved), "dead letter"))
	}
}

func writeJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 2
	}
	return 0
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	if strings.HasSuffix(what, "y") {
		return fmt.Sprintf("%d %sies", n, what[:len(what)-1])
	}
	return fmt.Sprintf("%d %ss", n, what)
}
