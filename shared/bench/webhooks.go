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

// Sizes of the webhook scenario: calls ending one every webhookEvery, a
// pace whose event-path calls stay inside the default budget.
const (
	webhookCalls = 200
	webhookEvery = 1500 * time.Millisecond
	// Discover's defaults, for the discover-only latency of the same calls.
	discoverEvery  = 15 * time.Minute
	discoverSettle = 10 * time.Minute
)

// eventsFunction is the HTTP-triggered function as function.json routes it.
var eventsFunction = devhost.HTTPFunction{Name: "events", Method: http.MethodPost, Path: "/api/vcc/events"}

// Live calls ending one every 1.5 s, each announced by the sandbox's signed
// webhooks, its recording appearing in VCC 5 to 150 s after the call (VCC's
// processing time is not documented: some recordings are there before the
// settle ends, some only after one or more polls): the time
// from the recording's appearance to its sidecar stored, through the events
// function with the product's default settle (60 s) and poll back-off, at
// the default budget. Next to it, what discover alone gives the same calls
// on its default schedule.
func webhookLatency(ctx context.Context, e *env) ([]Result, error) {
	p, err := e.newPipeline(ctx, pipelineOptions{
		name:          "webhooks",
		sim:           vccsim.Options{Seed: 8, Start: time.Now().UTC().Truncate(24 * time.Hour), InteractionsPerDay: -1, Latency: e.opts.Latency},
		ratePerMinute: vcc.DefaultRatePerMinute, workers: hostWorkers,
	})
	if err != nil {
		return nil, err
	}
	defer p.close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: p.host.HTTPHandler(eventsFunction), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	hook := vccsim.Webhooks{URL: "http://" + ln.Addr().String() + eventsFunction.Path}

	drained := make(chan error, 1)
	dctx, stopDrain := context.WithCancel(ctx)
	defer stopDrain()
	go func() { drained <- p.drain(dctx, time.Hour) }()

	var calls []vccsim.Call
	refused := 0
	tick := time.NewTicker(webhookEvery)
	for len(calls) < webhookCalls {
		select {
		case <-ctx.Done():
			tick.Stop()
			return nil, ctx.Err()
		case <-tick.C:
		}
		hook.ProcessingDelay = processingDelay(len(calls))
		c, err := p.sim.EndCall(ctx, hook, 2*time.Minute, 64<<10)
		if err != nil {
			tick.Stop()
			return nil, fmt.Errorf("sandbox call: %w", err)
		}
		refused += c.Refused
		calls = append(calls, c)
	}
	tick.Stop()
	// Every call's recording stored, or long past what the goal allows.
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) && p.storedCount(calls) < len(calls) {
		time.Sleep(200 * time.Millisecond)
	}
	stopDrain()
	<-drained

	var event, model []float64
	missing := 0
	p.mu.Lock()
	for _, c := range calls {
		at, ok := p.stored[c.GUID]
		if !ok {
			missing++
			continue
		}
		event = append(event, at.Sub(c.AvailableAt).Seconds())
		model = append(model, discoverOnly(c).Seconds())
	}
	p.mu.Unlock()
	_, apiTotal := apiCalls(p.sim.Counters())
	slices.Sort(event)
	slices.Sort(model)
	p95 := percentile(event, 0.95)
	lat := Result{
		ID: "webhooks.p95", Measure: "recording in VCC → sidecar stored, via webhooks (p95)", Value: p95, Unit: "s",
		Goal: Goal{"<=", 90}, Valid: len(event) > 0,
		Note: fmt.Sprintf("%d calls ending one every %s, recording in VCC %s to %s after each (evenly spread); settle %s (the default), polls after 30 s doubling; p50 %.1fs, p95 %.1fs, max %.1fs; %d API calls (%.2f per recording) at the default budget of %d/min; %d events refused",
			len(calls), webhookEvery, minProcessing, maxProcessing, 60*time.Second, percentile(event, 0.5), p95, percentile(event, 1), apiTotal, float64(apiTotal)/float64(max(len(event), 1)), vcc.DefaultRatePerMinute, refused),
	}
	if missing > 0 {
		lat.Reason = fmt.Sprintf("%d of %d calls' recordings were not stored", missing, len(calls))
	} else if !lat.Goal.Check(p95) {
		lat.Reason = fmt.Sprintf("p95 %.1fs", p95)
	}
	disc := Result{
		ID: "webhooks.discover-only", Measure: "the same, by discover alone (p95, modelled)", Value: percentile(model, 0.95), Unit: "s", Valid: len(model) > 0,
		Note: fmt.Sprintf("for the same calls: the first discover tick (every %s) whose window, ending %s before the tick, holds the call's start, once its recording exists; p50 %.0fs, max %.0fs; ingest time not added",
			discoverEvery, discoverSettle, percentile(model, 0.5), percentile(model, 1)),
	}
	return []Result{lat, disc}, nil
}

// VCC's processing time of the scenario's calls, spread evenly.
const (
	minProcessing = 5 * time.Second
	maxProcessing = 150 * time.Second
)

func processingDelay(i int) time.Duration {
	step := (maxProcessing - minProcessing) / (webhookCalls - 1)
	return minProcessing + time.Duration(i*7%webhookCalls)*step // a fixed shuffle of the spread
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
