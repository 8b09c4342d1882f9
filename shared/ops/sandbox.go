//go:build !product

package ops

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// Sandbox is "handler sandbox": it serves the VCC sandbox until stopped and prints the settings
// that point the product at it.
func Sandbox(ctx context.Context, args []string, stdout, stderr io.Writer, _ func(string) string) int {
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: handler sandbox [flags]\n\nServes a stand-in for VCC (token endpoint, Interaction Content, Stats, User Admin)\nwith a generated contact centre, and prints the settings that point vcc-ingest at it.\n\nFlags:")
		fs.PrintDefaults()
	}
	addr := fs.String("addr", "127.0.0.1:8089", "listen address (loopback)")
	seed := fs.Int64("seed", 1, "seed of the generated contact centre")
	days := fs.Int("days", 1, "days of interactions")
	perDay := fs.Int("per-day", 200, "interactions per day (0: none)")
	day := fs.String("day", "", "first day, YYYY-MM-DD (default: the sandbox's default day)")
	latency := fs.Duration("latency", 0, "added to every response, like a remote service's round trip")
	large := fs.Int64("add-recording", 0, "bytes of one more interaction's recording, an hour into the first day (0: none); e.g. to try a large one")
	outageAfter := fs.Duration("outage-after", 0, "with --outage: how long after start VCC goes down")
	outageFor := fs.Duration("outage", 0, "every API call answers 503 for this long (after --outage-after), as in a VCC outage")
	tokenLife := fs.Duration("token-lifetime", 0, "lifetime of issued tokens (default 2h, as VCC); e.g. 20s to watch renewals")
	rateLimit := fs.Int("rate-limit", 0, "answer 429 past this many API requests in any rolling minute (0: no limit; VCC's fair-usage budget is about 160)")
	inclusiveEnd := fs.Bool("inclusive-end", false, "listings include interactions starting exactly at end (one of VCC's documented forms)")
	if err := ParseArgs(fs, args); err != nil {
		return UsageError(err, stderr)
	}
	if *perDay < 0 || *large < 0 || *latency < 0 || *outageAfter < 0 || *outageFor < 0 || *tokenLife < 0 || *rateLimit < 0 {
		return UsageError(errors.New("--per-day, --add-recording, --latency, --outage, --outage-after, --token-lifetime and --rate-limit cannot be negative"), stderr)
	}
	opts := vccsim.Options{Seed: *seed, Days: *days, InteractionsPerDay: *perDay, Latency: *latency,
		Outage: vccsim.Outage{After: *outageAfter, Duration: *outageFor}, TokenLifetime: *tokenLife,
		RateLimitPerMinute: *rateLimit, Quirks: vccsim.Quirks{InclusiveEnd: *inclusiveEnd}}
	if *perDay == 0 {
		opts.InteractionsPerDay = -1 // the sandbox's "none"
	}
	if *day != "" {
		t, err := time.Parse(time.DateOnly, *day)
		if err != nil {
			return UsageError(fmt.Errorf("--day: %w", err), stderr)
		}
		opts.Start = t
	}
	var extra []vccsim.Extra
	if *large > 0 {
		extra = append(extra, vccsim.Extra{Start: opts.FirstDay().Add(time.Hour), Direction: "inbound", RecordingBytes: *large})
	}
	return Status(vccsim.RunStandalone(ctx, *addr, opts, extra, stdout), stderr)
}
