package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/devhost"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// The webhook scenario's rows: calls ending at a steady pace for
// webhookRowLength each, then a peak over the budget.
const (
	webhookRowLength = 3 * time.Minute
	peakPerMinute    = 200
	peakLength       = 5 * time.Minute
	// Discover's defaults, for the discover-only latency of the same calls.
	discoverEvery  = 15 * time.Minute
	discoverSettle = 10 * time.Minute
)

// webhookRates are the steady rows: live calls ending per minute.
var webhookRates = []int{40, 80, 120}

// eventsFunction is the HTTP-triggered function as function.json routes it.
var eventsFunction = devhost.HTTPFunction{Name: "events", Method: http.MethodPost, Path: "/api/vcc/events"}

// webhookRow is what one stretch of live calls gave.
type webhookRow struct {
	perMinute, calls, missing, refused int
	latency, model                     []float64 // s, sorted: recording in VCC → stored; discover alone (modelled)
	apiCalls                           int64
	rolling                            int           // most API calls in any rolling minute
	drain                              time.Duration // last call ended → last recording stored
	rateLimited                        int64
}

func (r webhookRow) perRecording() float64 {
	return float64(r.apiCalls) / float64(max(len(r.latency), 1))
}

// Live calls ending at the rows' paces, each announced by the sandbox's
// signed webhooks, its recording appearing in VCC 5 to 150 s after the call
// (VCC's processing time is not documented): the time from the recording's
// appearance to its sidecar stored, through the events function with the
// product's defaults (events ask for sweeps of the recent window), at the
// default budget of 160 calls a minute, which the sandbox enforces over any
// rolling minute. Then a peak of 200 calls a minute for 5 minutes, over
// what the budget can copy: the latency grows, nothing is lost, and the
// backlog drains afterwards. Next to it, what discover alone gives the same
// calls on its default schedule.
func webhookLatency(ctx context.Context, e *env) ([]Result, error) {
	var out []Result
	var rows []webhookRow
	for n, perMinute := range webhookRates {
		row, err := webhookRun(ctx, e, fmt.Sprintf("webhooks-%d", perMinute), int64(8+n), perMinute, webhookRowLength, 5*time.Minute)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
		p95 := percentile(row.latency, 0.95)
		lat := Result{
			ID: fmt.Sprintf("webhooks.%d.p95", perMinute), Measure: fmt.Sprintf("%d calls ending a minute: recording in VCC → sidecar stored (p95)", perMinute),
			Value: p95, Unit: "s", Valid: len(row.latency) > 0, Note: row.note(),
		}
		cost := Result{
			ID: fmt.Sprintf("webhooks.%d.calls-per-recording", perMinute), Measure: fmt.Sprintf("%d calls ending a minute: VCC API calls per recording", perMinute),
			Value: row.perRecording(), Unit: "calls", Valid: len(row.latency) > 0,
		}
		switch perMinute {
		case 40:
			lat.Goal = Goal{"<=", 54.5} // the per-interaction event path's p95
		case 120:
			lat.Goal, cost.Goal = Goal{"<=", 90}, Goal{"<=", 1.2}
		}
		maxLat := Result{
			ID: fmt.Sprintf("webhooks.%d.max", perMinute), Measure: fmt.Sprintf("%d calls ending a minute: recording in VCC → sidecar stored (max)", perMinute),
			Value: percentile(row.latency, 1), Unit: "s", Valid: len(row.latency) > 0,
		}
		out = append(out, row.judge(lat), maxLat, row.judge(cost))
	}

	peak, err := webhookRun(ctx, e, "webhooks-peak", 11, peakPerMinute, peakLength, 20*time.Minute)
	if err != nil {
		return nil, err
	}
	rows = append(rows, peak)
	lost := Result{
		ID: "webhooks.peak.lost", Measure: fmt.Sprintf("%d calls ending a minute for %s: recordings not stored", peakPerMinute, peakLength),
		Value: float64(peak.missing), Unit: "recordings", Goal: Goal{"==", 0}, Valid: peak.calls > 0, Note: peak.note(),
	}
	drain := Result{
		ID: "webhooks.peak.drain", Measure: "the peak: last call ended → last recording stored", Value: peak.drain.Seconds(), Unit: "s",
		Valid: peak.calls > 0 && peak.missing == 0,
		Note:  fmt.Sprintf("p95 %.0fs, max %.0fs during the peak", percentile(peak.latency, 0.95), percentile(peak.latency, 1)),
	}
	most := 0
	for _, r := range rows {
		most = max(most, r.rolling)
	}
	roll := Result{
		ID: "webhooks.rolling-minute", Measure: "most API calls in any rolling 60 s span, every row and the peak (budget 160)", Value: float64(most), Unit: "calls",
		Goal: Goal{"<=", vcc.DefaultRatePerMinute}, Valid: most > 0,
	}
	out = append(out, peak.judge(lost), drain, peak.judge(roll))
	out = append(out, Result{
		ID: "webhooks.discover-only", Measure: "the 40 a minute row, by discover alone (p95, modelled)", Value: percentile(rows[0].model, 0.95), Unit: "s", Valid: len(rows[0].model) > 0,
		Note: fmt.Sprintf("for the same calls: the first discover tick (every %s) whose window, ending %s before the tick, holds the call's start, once its recording exists; p50 %.0fs, max %.0fs; ingest time not added",
			discoverEvery, discoverSettle, percentile(rows[0].model, 0.5), percentile(rows[0].model, 1)),
	})
	return out, nil
}

// judge says why res missed its goal, or that calls went unstored.
func (r webhookRow) judge(res Result) Result {
	switch {
	case r.missing > 0:
		res.Reason = fmt.Sprintf("%d of %d calls' recordings were not stored", r.missing, r.calls)
	case res.Goal.Op != "" && !res.Goal.Check(res.Value):
		res.Reason = fmt.Sprintf("%.2f %s", res.Value, res.Unit)
	}
	return res
}

func (r webhookRow) note() string {
	return fmt.Sprintf("%d calls ending %d a minute, recording in VCC %s to %s after each (evenly spread); p50 %.1fs, p95 %.1fs, max %.1fs; %d API calls (%.3f per recording), at most %d in a rolling minute, %d refused by the sandbox's limit; %d events refused",
		r.calls, r.perMinute, minProcessing, maxProcessing, percentile(r.latency, 0.5), percentile(r.latency, 0.95), percentile(r.latency, 1),
		r.apiCalls, r.perRecording(), r.rolling, r.rateLimited, r.refused)
}

// webhookRun ends calls at perMinute for length through a fresh pipeline
// and waits up to wait after the last for every recording to be stored.
func webhookRun(ctx context.Context, e *env, name string, seed int64, perMinute int, length, wait time.Duration) (webhookRow, error) {
	row := webhookRow{perMinute: perMinute}
	p, err := e.newPipeline(ctx, pipelineOptions{
		name: name,
		sim: vccsim.Options{Seed: seed, Start: time.Now().UTC().Truncate(24 * time.Hour), InteractionsPerDay: -1, Latency: e.opts.Latency,
			RateLimitPerMinute: vcc.DefaultRatePerMinute},
		ratePerMinute: vcc.DefaultRatePerMinute, workers: hostWorkers,
	})
	if err != nil {
		return row, err
	}
	defer p.close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return row, err
	}
	srv := &http.Server{Handler: p.host.HTTPHandler(eventsFunction), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	hook := vccsim.Webhooks{URL: "http://" + ln.Addr().String() + eventsFunction.Path}

	drained := make(chan error, 1)
	dctx, stopDrain := context.WithCancel(ctx)
	defer stopDrain()
	go func() { drained <- p.drain(dctx, time.Hour) }()

	every := time.Minute / time.Duration(perMinute)
	total := int(length / every)
	start := time.Now()
	var calls []vccsim.Call
	tick := time.NewTicker(every)
	for len(calls) < total {
		select {
		case <-ctx.Done():
			tick.Stop()
			return row, ctx.Err()
		case <-tick.C:
		}
		hook.ProcessingDelay = processingDelay(len(calls), total)
		c, err := p.sim.EndCall(ctx, hook, 2*time.Minute, 64<<10)
		if err != nil {
			tick.Stop()
			return row, fmt.Errorf("sandbox call: %w", err)
		}
		row.refused += c.Refused
		calls = append(calls, c)
	}
	tick.Stop()
	lastEnd := calls[len(calls)-1].End
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) && p.storedCount(calls) < len(calls) {
		time.Sleep(200 * time.Millisecond)
	}
	stopDrain()
	<-drained

	row.calls = len(calls)
	var last time.Time
	p.mu.Lock()
	for _, c := range calls {
		at, ok := p.stored[c.GUID]
		if !ok {
			row.missing++
			continue
		}
		if at.After(last) {
			last = at
		}
		row.latency = append(row.latency, at.Sub(c.AvailableAt).Seconds())
		row.model = append(row.model, discoverOnly(c).Seconds())
	}
	p.mu.Unlock()
	row.drain = max(last.Sub(lastEnd), 0)
	_, row.apiCalls = apiCalls(p.sim.Counters())
	row.rolling = vccsim.MaxInWindow(apiArrivals(p.sim, start, time.Now()), time.Minute)
	row.rateLimited = int64(p.sim.RateLimited())
	slices.Sort(row.latency)
	slices.Sort(row.model)
	return row, nil
}

// VCC's processing time of the scenario's calls, spread evenly.
const (
	minProcessing = 5 * time.Second
	maxProcessing = 150 * time.Second
)

// processingDelay is call i's of n: the spread in a fixed shuffle.
func processingDelay(i, n int) time.Duration {
	if n < 2 {
		return minProcessing
	}
	step := (maxProcessing - minProcessing) / time.Duration(n-1)
	return minProcessing + time.Duration(i*7%n)*step
}

// storedCount is how many of calls have their recording stored.
func (p *pipeline) storedCount(calls []vccsim.Call) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range calls {
		if _, ok := p.stored[c.GUID]; ok {
			n++
		}
	}
	return n
}

// discoverOnly is how long after its recording appears discover's default
// schedule would list a call: at the first tick that is past the call's
// start plus the settle and past the recording's appearance.
func discoverOnly(c vccsim.Call) time.Duration {
	start := c.End.Add(-2 * time.Minute)
	earliest := start.Add(discoverSettle)
	if c.AvailableAt.After(earliest) {
		earliest = c.AvailableAt
	}
	tick := earliest.Truncate(discoverEvery)
	if tick.Before(earliest) {
		tick = tick.Add(discoverEvery)
	}
	return tick.Sub(c.AvailableAt)
}

// percentile of sorted values (nearest rank); q 1 is the maximum.
func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*q+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
