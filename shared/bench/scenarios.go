package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// day is the sandbox day every scenario generates.
var day = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

// unpacedBudget is the client budget where the pacer must not be what is
// measured (call counts, copy speed): far above anything a run reaches.
const unpacedBudget = 60000

// 1. VCC calls per stored recording on a 1,000-interaction day with
// enrichment, and token requests per run.
func callsPerRecording(ctx context.Context, e *env) ([]Result, error) {
	p, err := e.newPipeline(ctx, pipelineOptions{
		name:          "calls",
		sim:           vccsim.Options{Seed: 1, Start: day, InteractionsPerDay: 1000, Latency: e.opts.Latency},
		ratePerMinute: unpacedBudget, workers: 8,
	})
	if err != nil {
		return nil, err
	}
	defer p.close()
	run, err := p.disc.Enqueue(ctx, day, day.Add(24*time.Hour), "bench", time.Now())
	if err != nil {
		return nil, fmt.Errorf("discover: %w", err)
	}
	if err := p.drain(ctx, time.Second); err != nil {
		return nil, err
	}
	copied, _, failed := p.tally()
	want := p.expectedRecordings()
	if copied == 0 {
		return nil, fmt.Errorf("nothing was stored (%d failed invocations)", failed)
	}
	c := p.sim.Counters()
	calls, total := apiCalls(c)
	per := float64(total) / float64(copied)
	e.callsPerRecording = per
	rec := Result{
		ID: "calls.per-recording", Measure: "VCC calls per stored recording", Value: per, Unit: "calls",
		Goal: Goal{"<=", 1.05}, Valid: true,
		Note: fmt.Sprintf("%d API calls for %d recordings of %d interactions listed (%d enqueued, %d sends); by endpoint: %s; client budget %d/min so that calls, not pacing, are counted",
			total, copied, run.Found, run.Enqueued, run.Sends, fmtCalls(calls, float64(copied)), unpacedBudget),
	}
	if copied != want {
		rec.Reason = fmt.Sprintf("only %d of the %d expected recordings were stored (%d failed invocations)", copied, want, failed)
	} else if !rec.Goal.Check(per) {
		rec.Reason = "calls beyond one download per recording: " + fmtCalls(calls, float64(copied))
	}
	tok := Result{
		ID: "calls.tokens", Measure: "token requests per run", Value: float64(c.TokenRequests), Unit: "",
		Goal: Goal{"==", 1}, Valid: true, Note: "sandbox's count of token endpoint requests over the same run",
	}
	if c.TokenRequests != 1 {
		tok.Reason = fmt.Sprintf("%d token requests (token lifetime 2h; the run took far less)", c.TokenRequests)
	}
	return []Result{rec, tok}, nil
}

// budgetPerMinute and budgetRun size the rate-budget scenario. The client's
// budget is usable at once (a sliding window of a minute plus 2 s), so the
// run lasts exactly two of those windows: over part of one, the first
// burst alone would read as more than the budget allows.
const (
	budgetPerMinute = 600
	budgetRun       = 2 * (time.Minute + 2*time.Second)
)

// 2. Recordings stored per minute with the sandbox limiting to R requests
// per rolling minute and the client configured with the same budget, as a
// fraction of R / calls-per-recording; and the 429s it took.
func rateBudget(ctx context.Context, e *env) ([]Result, error) {
	p, err := e.newPipeline(ctx, pipelineOptions{
		name: "rate",
		sim: vccsim.Options{Seed: 2, Start: day, InteractionsPerDay: 1500, Latency: e.opts.Latency,
			RateLimitPerMinute: budgetPerMinute},
		ratePerMinute: budgetPerMinute, workers: 8,
	})
	if err != nil {
		return nil, err
	}
	defer p.close()
	if _, err := p.disc.Enqueue(ctx, day, day.Add(24*time.Hour), "bench", time.Now()); err != nil {
		return nil, fmt.Errorf("discover: %w", err)
	}
	before := p.sim.Counters()
	_, beforeTotal := apiCalls(before)
	dctx, cancel := context.WithTimeout(ctx, budgetRun)
	start := time.Now()
	err = p.drain(dctx, 2*time.Second)
	elapsed := time.Since(start)
	cancel()
	if err != nil {
		return nil, err
	}
	copied, _, _ := p.tally()
	after := p.sim.Counters()
	_, afterTotal := apiCalls(after)
	requests := afterTotal - beforeTotal
	refused := p.sim.RateLimited()
	cpr, source := e.callsPerRecording, "scenario 1's calls per recording"
	if cpr == 0 {
		cpr, source = float64(requests-refused)/float64(max(copied, 1)), "this run's own calls per recording"
	}
	perMinute := float64(copied) / elapsed.Minutes()
	ideal := budgetPerMinute / cpr
	frac := perMinute / ideal
	thr := Result{
		ID: "rate.fraction", Measure: "throughput under a rate budget (fraction of ideal)", Value: frac, Unit: "",
		Goal: Goal{">=", 0.9}, Valid: copied > 0,
		Note: fmt.Sprintf("sandbox limit %d requests per rolling minute, client budget the same, 8 workers: %d recordings in %.1fs = %.1f/min; ideal %d / %.3f (%s) = %.1f/min",
			budgetPerMinute, copied, elapsed.Seconds(), perMinute, budgetPerMinute, cpr, source, ideal),
	}
	if !thr.Goal.Check(frac) {
		thr.Reason = fmt.Sprintf("%.1f recordings/min against an ideal of %.1f; the sandbox refused %d requests and the client recorded %d throttled answers",
			perMinute, ideal, refused, after.ByStatus[http.StatusTooManyRequests]-before.ByStatus[http.StatusTooManyRequests])
	}
	storm := Result{
		ID: "rate.429", Measure: "429 answers per API request under the budget", Value: float64(refused) / float64(max(requests, 1)),
		Unit: "", Goal: Goal{"<=", 0.01}, Valid: requests > 0,
		Note: fmt.Sprintf("%d of %d API requests refused by the sandbox's rate limit during the timed run; a storm would be a sizeable share", refused, requests),
	}
	if !storm.Goal.Check(storm.Value) {
		storm.Reason = fmt.Sprintf("%d requests were refused under a limit equal to the client's own budget (likely the pacer's start-up burst of 1 + R/40 calls crossing the rolling minute, one refusal per worker in flight; not yet confirmed)", refused)
	}
	return []Result{thr, storm}, nil
}

// discoveryPerDay is the window of the discovery scenario.
const discoveryPerDay = 100000

// 5. Discovery of a 100,000-interaction window at the default budget:
// interactions listed and enqueued per second, and queue sends per message.
func discovery(ctx context.Context, e *env) ([]Result, error) {
	p, err := e.newPipeline(ctx, pipelineOptions{
		name:          "discovery",
		sim:           vccsim.Options{Seed: 4, Start: day, InteractionsPerDay: discoveryPerDay, Latency: e.opts.Latency},
		ratePerMinute: vcc.DefaultRatePerMinute, workers: 1,
	})
	if err != nil {
		return nil, err
	}
	defer p.close()
	start := time.Now()
	run, err := p.disc.Enqueue(ctx, day, day.Add(24*time.Hour), "bench", time.Now())
	secs := time.Since(start).Seconds()
	if err != nil {
		return nil, fmt.Errorf("discover: %w", err)
	}
	calls, total := apiCalls(p.sim.Counters())
	if run.Enqueued == 0 {
		return nil, errors.New("discover enqueued nothing")
	}
	note := fmt.Sprintf("%d interactions listed, %d enqueued (%d without audio) in %.1fs with %d sends; %d API calls (%s) at the default budget of %d/min, sandbox latency %s",
		run.Found, run.Enqueued, run.NoAudio, secs, run.Sends, total, fmtCalls(calls, 1), vcc.DefaultRatePerMinute, e.opts.Latency)
	sends := Result{ID: "discovery.sends", Measure: "queue sends per message (discovery)", Value: float64(run.Sends) / float64(run.Enqueued),
		Goal: Goal{"<=", 0.01}, Valid: true, Note: note}
	if !sends.Goal.Check(sends.Value) {
		sends.Reason = fmt.Sprintf("%d sends for %d messages", run.Sends, run.Enqueued)
	}
	return []Result{
		{ID: "discovery.rate", Measure: "discovery, interactions listed and enqueued", Value: float64(run.Found) / secs, Unit: "/s", Valid: true},
		sends,
	}, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func joinFloats(v []float64) string { return joinFloatsPrec(v, 1) }

func joinFloatsPrec(v []float64, decimals int) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatFloat(x, 'f', decimals, 64)
	}
	return strings.Join(parts, ", ")
}

func decodeJSON(resp *http.Response, v any) error {
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}
