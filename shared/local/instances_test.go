package local

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"testing"
	"time"
)

// runInstances runs a sandbox day of 400 interactions on four handler
// instances at a budget of 160 calls a minute, and returns the summary.
func runInstances(t *testing.T, pacedAlone bool) SummaryJSON {
	t.Helper()
	dir := t.TempDir()
	o, err := ParseFlags([]string{"--sandbox", "--per-day", "400", "--instances", "4", "--json",
		"--data", filepath.Join(dir, "data"), "--out", filepath.Join(dir, "out")}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o.pacedAlone = pacedAlone
	env := map[string]string{"VCC_RATE_PER_MINUTE": "160"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var stdout bytes.Buffer
	status, err := Run(ctx, o, &stdout, io.Discard, func(k string) string { return env[k] })
	if status != 0 || err != nil {
		t.Fatalf("run: status %d, %v\n%s", status, err, stdout.String())
	}
	var s SummaryJSON
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("summary: %v\n%s", err, stdout.String())
	}
	if s.Enqueued == 0 || s.Stored != s.Enqueued || len(s.DeadLetters) > 0 {
		t.Fatalf("stored %d of %d, %d dead letters", s.Stored, s.Enqueued, len(s.DeadLetters))
	}
	return s
}

// apiCalls are the run's VCC API calls (token requests are not counted
// against the budget).
func apiCalls(s SummaryJSON) int64 {
	var n int64
	for e, c := range s.VCCCalls {
		if e != "token" {
			n += c
		}
	}
	return n
}

// Four instances, each with its own VCC client, book the account's one
// budget: no rolling minute of the sandbox's arrivals holds more than 160
// calls, and the day takes about the time that budget allows, its
// deliveries put off to their slots rather than holding the instances.
func TestInstancesShareTheAccountsBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("minutes of a budget of 160 calls a minute")
	}
	s := runInstances(t, false)
	calls := apiCalls(s)
	if s.VCCBusiestMinute == 0 || s.VCCBusiestMinute > 160 {
		t.Errorf("most calls in a rolling 60 s: %d, want at most 160 (and the arrival log read)", s.VCCBusiestMinute)
	}
	// The budget lets the first 160 calls go at once and the rest one every
	// 62/160 s after the first window (62 s: a minute and the margin); a
	// run held needlessly would take longer.
	ideal := 62 + float64(max(calls-160, 0))*62/160
	if s.Seconds > 1.15*ideal {
		t.Errorf("%d calls took %.0f s; the budget allows them in about %.0f s", calls, s.Seconds, ideal)
	}
	if s.Paced == 0 || s.PacedPerStored <= 0 {
		t.Errorf("no delivery was put off to its slot (%d put-offs): the instances waited for the budget instead", s.Paced)
	}
	t.Logf("%d calls in %.0f s (ideal %.0f s), busiest minute %d, %d put-offs (%.2f per interaction stored), budget %+v",
		calls, s.Seconds, ideal, s.VCCBusiestMinute, s.Paced, s.PacedPerStored, s.Budget)
}

// The static scheme, each instance pacing alone at the whole budget, puts
// more than the budget into a rolling minute: what the shared budget is for.
func TestInstancesPacedAloneExceedTheBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("a sandbox day of 400 interactions")
	}
	s := runInstances(t, true)
	if s.VCCBusiestMinute <= 160 {
		t.Errorf("each instance pacing alone at 160: busiest minute %d; want it over the account's budget", s.VCCBusiestMinute)
	}
	t.Logf("%d calls in %.0f s, busiest minute %d", apiCalls(s), s.Seconds, s.VCCBusiestMinute)
}
