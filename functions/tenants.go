package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/records"
)

// discoverParallel is how many tenants discover lists at once in one tick:
// each tenant's calls are held to its own budget, so the tick's length is
// set by the slowest tenants, not by their number.
const discoverParallel = 8

type tenantDiscover struct {
	id string
	d  discoverer
}

// tenantsDiscover runs every tenant's discovery each tick. One tenant's
// failure (a bad secret, its VCC down, a missing permission) stops only that
// tenant: the others run and advance their own checkpoints, and the tick
// then fails naming the tenants that failed and why.
type tenantsDiscover struct {
	tenants  []tenantDiscover
	log      *slog.Logger
	parallel int
}

// Run discovers every tenant; the run returned sums theirs and lists each.
func (t *tenantsDiscover) Run(ctx context.Context, now time.Time, pastDue bool) (records.Run, error) {
	runs := make([]records.Run, len(t.tenants))
	errs := make([]error, len(t.tenants))
	sem := make(chan struct{}, max(t.parallel, 1))
	var wg sync.WaitGroup
	for i, td := range t.tenants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			run, err := td.d.Run(ctx, now, pastDue)
			run.Tenant = td.id
			if err != nil {
				run.Error = err.Error()
				errs[i] = fmt.Errorf("tenant %s: %w", td.id, err)
				t.log.Error("discover failed", "tenant", td.id, "error", err)
			}
			runs[i] = run
		}()
	}
	wg.Wait()
	total := records.Run{Source: "discover", PastDue: pastDue, StartedAt: now.UTC(), FinishedAt: time.Now().UTC(), Tenants: runs}
	var failed []string
	for i, r := range runs {
		total.Found += r.Found
		total.Enqueued += r.Enqueued
		total.NoAudio += r.NoAudio
		total.Sends += r.Sends
		total.Chunks += r.Chunks
		total.WithStats += r.WithStats
		if total.Start.IsZero() || r.Start.Before(total.Start) && !r.Start.IsZero() {
			total.Start = r.Start
		}
		if r.End.After(total.End) {
			total.End = r.End
		}
		if errs[i] != nil {
			failed = append(failed, t.tenants[i].id)
		}
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		total.Error = fmt.Sprintf("%d of %d tenants failed: %s", len(failed), len(runs), strings.Join(failed, ", "))
		return total, errors.Join(errs...)
	}
	return total, nil
}
