package local_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/vcc-ingest/vcc-ingest/shared/local"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// The text summary lists only the VCC endpoints that were called; --json
// keeps every endpoint, 0 when not called, so its keys do not depend on
// the run.
func TestSummaryListsOnlyCalledEndpoints(t *testing.T) {
	calls := vcc.Counters{Calls: map[string]int64{
		"content.download": 188, "content.list": 1, "token": 1, "users.list": 2,
		"content.get": 0, "stats.get": 0, "users.get": 0, "stats.list": 0,
	}, TokenRequests: 1}
	var text bytes.Buffer
	local.PrintSummary(&text, local.NewTally(), nil, "dead-letters.json", calls, "out")
	_, section, ok := strings.Cut(text.String(), "VCC calls")
	if !ok {
		t.Fatalf("no VCC calls section:\n%s", text.String())
	}
	for e, n := range calls.Calls {
		listed := false
		for _, line := range strings.Split(section, "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == e {
				listed = true
			}
		}
		if listed != (n > 0) {
			t.Errorf("%s (%d calls) listed %v:\n%s", e, n, listed, section)
		}
	}
	if !strings.Contains(section, "retries / 429s / tokens") {
		t.Errorf("no retries line:\n%s", section)
	}

	var js bytes.Buffer
	local.WriteSummaryJSON(&js, local.NewTally(), nil, calls, "out")
	var got local.SummaryJSON
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.VCCCalls) != len(calls.Calls) || got.VCCCalls["stats.get"] != 0 || got.VCCCalls["content.download"] != 188 {
		t.Errorf("JSON vccCalls = %v, want every endpoint", got.VCCCalls)
	}
	if !strings.Contains(js.String(), `"stats.get": 0`) {
		t.Errorf("JSON lacks the endpoints not called:\n%s", js.String())
	}
}
