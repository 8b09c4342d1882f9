package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// runSandbox serves the VCC sandbox until stopped and prints the settings
// that point the product at it.
func runSandbox(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: handler sandbox [flags]\n\nServes a stand-in for VCC (token endpoint, Interaction Content, Stats, User Admin)\nwith a generated contact centre, and prints the settings that point vcc-ingest at it.\n\nFlags:")
		fs.PrintDefaults()
	}
	addr := fs.String("addr", "127.0.0.1:8089", "listen address (loopback)")
	seed := fs.Int64("seed", 1, "seed of the generated contact centre")
	days := fs.Int("days", 1, "days of interactions")
	perDay := fs.Int("per-day", 200, "interactions per day")
	start := fs.String("start", "", "first day, YYYY-MM-DD (default: the sandbox's default day)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	opts := vccsim.Options{Seed: *seed, Days: *days, InteractionsPerDay: *perDay}
	if *start != "" {
		t, err := time.Parse("2006-01-02", *start)
		if err != nil {
			return fmt.Errorf("--start: %w", err)
		}
		opts.Start = t
	}
	return vccsim.RunStandalone(ctx, *addr, opts, stdout)
}
