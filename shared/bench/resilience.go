package bench

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// hostWorkers is host.json's maxConcurrentCalls, as the Functions host and
// `handler local` use it.
const hostWorkers = 4

// lastStored is when the last recording was stored.
func (p *pipeline) lastStored() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.done) == 0 {
		return time.Time{}
	}
	return slices.MaxFunc(p.done, func(a, b time.Time) int { return a.Compare(b) })
}

// apiArrivals are the times of the sandbox's API requests (token requests
// left out), in order.
func apiArrivals(sim *vccsim.Sim, from, to time.Time) []time.Time {
	var out []time.Time
	for _, a := range sim.Arrivals() {
		if a.Endpoint == vccsim.EndpointToken || a.Endpoint == vccsim.EndpointRedirected {
			continue
		}
		if !a.At.Before(from) && a.At.Before(to) {
			out = append(out, a.At)
		}
	}
	return out
}

// smallWindowSize is the window of the small-window scenario.
const smallWindowSize = 50

// A 50-interaction window at the default budget of 160 requests a minute:
// the wall time from discovery to the last stored recording, next to the
// time its calls would take spaced evenly over the budget.
func smallWindow(ctx context.Context, e *env) ([]Result, error) {
	p, err := e.newPipeline(ctx, pipelineOptions{
		name:          "smallwindow",
		sim:           vccsim.Options{Seed: 5, Start: day, InteractionsPerDay: smallWindowSize, Latency: e.opts.Latency},
		ratePerMinute: vcc.DefaultRatePerMinute, workers: hostWorkers,
	})
	if err != nil {
		return nil, err
	}
	defer p.close()
	start := time.Now()
	run, err := p.disc.Enqueue(ctx, day, day.Add(24*time.Hour), "bench", time.Now())
	if err != nil {
		return nil, fmt.Errorf("discover: %w", err)
	}
	if err := p.drain(ctx, time.Second); err != nil {
		return nil, err
	}
	copied, _, failed := p.tally()
	secs := p.lastStored().Sub(start).Seconds()
	_, calls := apiCalls(p.sim.Counters())
	spaced := float64(calls) * 60 / vcc.DefaultRatePerMinute
	r := Result{
		ID: "budget.small-window", Measure: fmt.Sprintf("wall time of a %d-interaction window at the default budget", smallWindowSize),
		Value: secs, Unit: "s", Goal: Goal{"<=", 6}, Valid: copied > 0,
		Note: fmt.Sprintf("%d interactions listed, %d recordings stored, %d API calls; the same calls spaced evenly at %d/min would take %.1fs (%.1fx); %d ingest workers, sandbox latency %s",
			run.Found, copied, calls, vcc.DefaultRatePerMinute, spaced, spaced/max(secs, 0.001), hostWorkers, e.opts.Latency),
	}
	if want := p.expectedRecordings(); copied != want {
		r.Reason = fmt.Sprintf("only %d of %d recordings stored (%d failed invocations)", copied, want, failed)
	} else if !r.Goal.Check(secs) {
		r.Reason = fmt.Sprintf("%.1fs for %d API calls", secs, calls)
	}
	return []Result{r}, nil
}

// rollingWindowSize is large enough for a run held by the default budget
// for several minutes.
const rollingWindowSize = 640

// A window held by the default budget, against a sandbox that limits to
// the same budget over any rolling minute and issues tokens that live
// 20 s: the most API calls in any rolling 60 s span (from the sandbox's
// log of arrivals), and the 401 answers (a token expired by the time it
// was sent).
func rollingBudget(ctx context.Context, e *env) ([]Result, error) {
	p, err := e.newPipeline(ctx, pipelineOptions{
		name: "rolling",
		sim: vccsim.Options{Seed: 6, Start: day, InteractionsPerDay: rollingWindowSize, Latency: e.opts.Latency,
			RateLimitPerMinute: vcc.DefaultRatePerMinute, TokenLifetime: 20 * time.Second},
		ratePerMinute: vcc.DefaultRatePerMinute, workers: hostWorkers,
	})
	if err != nil {
		return nil, err
	}
	defer p.close()
	start := time.Now()
	if _, err := p.disc.Enqueue(ctx, day, day.Add(24*time.Hour), "bench", time.Now()); err != nil {
		return nil, fmt.Errorf("discover: %w", err)
	}
	if err := p.drain(ctx, 2*time.Second); err != nil {
		return nil, err
	}
	elapsed := time.Since(start)
	copied, _, failed := p.tally()
	c := p.sim.Counters()
	_, calls := apiCalls(c)
	most := vccsim.MaxInWindow(apiArrivals(p.sim, start, time.Now()), time.Minute)
	roll := Result{
		ID: "budget.rolling-minute", Measure: "most API calls in any rolling 60 s span (budget 160)", Value: float64(most), Unit: "calls",
		Goal: Goal{"<=", vcc.DefaultRatePerMinute}, Valid: calls > 0,
		Note: fmt.Sprintf("%d API calls over %.0fs for %d recordings (%d failed invocations); the sandbox refused %d requests over its rolling-minute limit of %d",
			calls, elapsed.Seconds(), copied, failed, p.sim.RateLimited(), vcc.DefaultRatePerMinute),
	}
	if !roll.Goal.Check(roll.Value) {
		roll.Reason = fmt.Sprintf("%d calls in one rolling minute", most)
	}
	if elapsed < 3*time.Minute {
		roll.Reason = fmt.Sprintf("the run took %.0fs: too short to be held by the budget", elapsed.Seconds())
	}
	unauth := c.ByStatus[http.StatusUnauthorized]
	tok := Result{
		ID: "tokens.401", Measure: "401 answers with 20-second tokens", Value: float64(unauth), Unit: "",
		Goal: Goal{"==", 0}, Valid: calls > 0,
		Note: fmt.Sprintf("same run (%.0fs): %d token requests for tokens that live 20 s", elapsed.Seconds(), c.TokenRequests),
	}
	if unauth != 0 {
		tok.Reason = fmt.Sprintf("%d calls were sent with an expired token", unauth)
	}
	return []Result{roll, tok}, nil
}

// An outage of VCC (every API call answering 503) of opts.Outage in the
// middle of a window, at the default budget: dead letters, how soon after
// VCC's return the last recording is stored, and the calls the product
// made while its breaker was open.
func outage(ctx context.Context, e *env) ([]Result, error) {
	d := e.opts.Outage
	p, err := e.newPipeline(ctx, pipelineOptions{
		name:          "outage",
		sim:           vccsim.Options{Seed: 7, Start: day, InteractionsPerDay: 120, Latency: e.opts.Latency},
		ratePerMinute: vcc.DefaultRatePerMinute, workers: hostWorkers,
	})
	if err != nil {
		return nil, err
	}
	defer p.close()
	if _, err := p.disc.Enqueue(ctx, day, day.Add(24*time.Hour), "bench", time.Now()); err != nil {
		return nil, fmt.Errorf("discover: %w", err)
	}
	want := p.expectedRecordings()
	drained := make(chan error, 1)
	go func() { drained <- p.drain(ctx, 2*time.Second) }()
	for ctx.Err() == nil {
		if copied, _, _ := p.tally(); copied >= want/3 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	began := time.Now()
	p.sim.StartOutage(d)
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	back := time.Now()
	p.sim.EndOutage()
	if err := <-drained; err != nil {
		return nil, err
	}
	copied, _, failed := p.tally()
	dead, err := p.queue.PeekDeadLetters(ctx, 100000)
	if err != nil {
		return nil, err
	}
	recovery := p.lastStored().Sub(back).Seconds()
	// The breaker opens once failures have lasted its sustain time (5 s);
	// from then on the product sends one probe about every 10 s.
	open := apiArrivals(p.sim, began.Add(10*time.Second), back)
	probes := vccsim.MaxInWindow(open, 10*time.Second)
	note := fmt.Sprintf("%s outage after %d of %d recordings were stored; %d stored in all, %d failed invocations; the sandbox answered %d requests with 503, %d of them after the breaker opened",
		d, want/3, want, copied, failed, p.sim.Counters().Outage, len(open))
	riding := Result{ID: "outage.dead-letters", Measure: "dead letters after a " + d.String() + " VCC outage", Value: float64(len(dead)),
		Goal: Goal{"==", 0}, Valid: true, Note: note}
	if len(dead) > 0 {
		riding.Reason = fmt.Sprintf("%d interactions dead-lettered (first: %s %s)", len(dead), dead[0].ID, dead[0].DeadLetterReason)
	}
	rec := Result{ID: "outage.recovery", Measure: "last recording stored after VCC's return", Value: recovery, Unit: "s",
		Goal: Goal{"<=", 120}, Valid: copied > 0}
	if copied != want {
		rec.Reason = fmt.Sprintf("only %d of %d recordings stored", copied, want)
	} else if !rec.Goal.Check(recovery) {
		rec.Reason = fmt.Sprintf("%.0fs after VCC came back", recovery)
	}
	pr := Result{ID: "outage.probes", Measure: "API calls in any 10 s of the outage, breaker open (one process)", Value: float64(probes),
		Goal: Goal{"<=", 1}, Valid: true, Note: fmt.Sprintf("%d calls reached VCC between 10 s into the outage and its end", len(open))}
	if !pr.Goal.Check(pr.Value) {
		pr.Reason = fmt.Sprintf("%d calls in one 10 s span", probes)
	}
	longest := Result{ID: "outage.longest", Measure: "longest VCC outage ridden out with no dead letter", Value: d.Minutes(), Unit: "min", Valid: true}
	if len(dead) > 0 || copied != want {
		longest.Value, longest.Reason = 0, "this run's outage was not ridden out"
	}
	return []Result{riding, rec, pr, longest}, nil
}
