package vcc

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// throttledOnce is a fake VCC whose interactions answer one 429 (Retry-After
// 0) before answering, and the day they are on.
func throttledOnce(t *testing.T) (*fakeVCC, time.Time) {
	f := newFake(t)
	day := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	throttle := 1
	f.mux.HandleFunc("/interaction-content/interactions/{guid}", func(w http.ResponseWriter, r *http.Request) {
		if throttle > 0 {
			throttle--
			w.Header().Set("Retry-After", "0")
			writeJSON(w, 429, map[string]any{"message": "slow down"})
			return
		}
		writeJSON(w, 200, item(r.PathValue("guid"), day, map[string]any{"start": "2026-11-02T10:00:00.000Z"}))
	})
	return f, day
}

// The client reports the calls it sent at most every UsageEvery, each call
// in exactly one "vcc usage" line, 429s among them: the lines add up across
// processes, which the counters of one process cannot.
func TestUsageLinesAddUpTheCalls(t *testing.T) {
	f, day := throttledOnce(t)
	var logs bytes.Buffer
	now := day
	c := newTestClient(t, f, func(cfg *Config) {
		cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
		cfg.UsageEvery = time.Minute
	})
	c.now = func() time.Time { return now }
	for i := range 5 {
		if _, err := c.GetInteraction(context.Background(), guid(i+1)); err != nil {
			t.Fatal(err)
		}
		now = now.Add(25 * time.Second) // a line after the 4th call (75 s), none after the 5th yet
	}
	var lines, calls, throttled int64
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var e struct {
			Msg                       string `json:"msg"`
			Calls, Throttled, Retries int64
		}
		if json.Unmarshal([]byte(l), &e) == nil && e.Msg == "vcc usage" {
			lines++
			calls += e.Calls
			throttled += e.Throttled
		}
	}
	// The token, the 429 and its retry, and three more: 6.
	if lines != 1 || calls != 6 || throttled != 1 {
		t.Fatalf("usage lines %d, calls %d, 429s %d; want 1 line of 6 calls (the token, the 429 and its retry included), 1 429\n%s", lines, calls, throttled, logs.String())
	}
	now = now.Add(time.Minute)
	if _, err := c.GetInteraction(context.Background(), guid(9)); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), `"msg":"vcc usage"`); n != 2 || !strings.Contains(logs.String(), `"calls":2,"throttled":0`) {
		t.Errorf("the next line carries the 2 calls since: %d lines\n%s", n, logs.String())
	}
}

// A context's call count holds the requests sent under it, retries
// included, the token request not: what one run cost.
func TestWithCallCountCountsTheRequestsSent(t *testing.T) {
	f, _ := throttledOnce(t)
	c := newTestClient(t, f)
	var n, other atomic.Int64
	ctx := WithCallCount(context.Background(), &n)
	for i := range 2 {
		if _, err := c.GetInteraction(ctx, guid(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.GetInteraction(WithCallCount(context.Background(), &other), guid(3)); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 3 || other.Load() != 1 {
		t.Errorf("counted %d and %d, want 3 (a 429, its retry, one more) and 1", n.Load(), other.Load())
	}
}
