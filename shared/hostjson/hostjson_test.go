package hostjson

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTheRepositoryHostJSON(t *testing.T) {
	s, err := Load(filepath.Join("..", "..", FileName))
	if err != nil {
		t.Fatal(err)
	}
	if s.FunctionTimeout != 30*time.Minute || s.MaxConcurrentCalls != 4 || s.MaxAutoLockRenewal != 30*time.Minute {
		t.Errorf("settings = %+v", s)
	}
	if got := s.InvocationDeadline(); got != 28*time.Minute {
		t.Errorf("deadline = %v, want 28m (30m less a 2m margin)", got)
	}
	// The alert rules and the workbook count requests, exceptions and the
	// handler's lines (traces): sampling must never drop one of them.
	for _, kept := range []string{"Request", "Exception", "Trace"} {
		if slices.Contains(s.SampledTypes, kept) {
			t.Errorf("host.json leaves %s telemetry to adaptive sampling (sampled: %v): an alert can miss the one line it exists for", kept, s.SampledTypes)
		}
	}
}

func TestSampling(t *testing.T) {
	cases := map[string][]string{
		`{"functionTimeout":"00:05:00"}`: SamplingTypes,
		`{"functionTimeout":"00:05:00","logging":{"applicationInsights":{"samplingSettings":{"isEnabled":false}}}}`:                                          nil,
		`{"functionTimeout":"00:05:00","logging":{"applicationInsights":{"samplingSettings":{"excludedTypes":"request; Exception;Trace"}}}}`:                 {"Dependency", "Event", "PageView"},
		`{"functionTimeout":"00:05:00","logging":{"applicationInsights":{"samplingSettings":{"includedTypes":"Trace;Dependency","excludedTypes":"Trace"}}}}`: {"Dependency"},
	}
	for in, want := range cases {
		s, err := Parse([]byte(in))
		if err != nil || !slices.Equal(s.SampledTypes, want) {
			t.Errorf("Parse(%s): sampled %v, %v; want %v", in, s.SampledTypes, err, want)
		}
	}
	if _, err := Parse([]byte(`{"functionTimeout":"00:05:00","logging":{"applicationInsights":{"samplingSettings":{"excludedTypes":"Requests"}}}}`)); err == nil || !strings.Contains(err.Error(), `"Requests"`) {
		t.Errorf("a misspelt type: %v, want an error naming it", err)
	}
}

func TestParse(t *testing.T) {
	s, err := Parse([]byte(`{"functionTimeout":"00:05:00"}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.MaxConcurrentCalls != 16 || s.MaxAutoLockRenewal != 5*time.Minute {
		t.Errorf("host defaults not applied: %+v", s)
	}
	if got := s.InvocationDeadline(); got != 4*time.Minute+30*time.Second {
		t.Errorf("deadline = %v, want 4m30s", got)
	}
	s, err = Parse([]byte(`{"functionTimeout":"-1"}`))
	if err != nil || s.FunctionTimeout != 0 || s.InvocationDeadline() != 0 {
		t.Errorf("unbounded: %+v, %v", s, err)
	}
	for _, bad := range []string{`{}`, `{"functionTimeout":"30m"}`, `{"functionTimeout":"00:61:00"}`,
		`{"functionTimeout":"00:10:00","extensions":{"serviceBus":{"maxConcurrentCalls":0}}}`, `not json`} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%s) accepted", bad)
		}
	}
}

func TestParseTimeSpan(t *testing.T) {
	cases := map[string]time.Duration{
		"00:10:00": 10 * time.Minute, "1.02:00:00": 26 * time.Hour, "00:00:01.5": 1500 * time.Millisecond, "23:59:59": 24*time.Hour - time.Second,
	}
	for in, want := range cases {
		if got, err := ParseTimeSpan(in); err != nil || got != want {
			t.Errorf("ParseTimeSpan(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestFindUsesTheAppRoot(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(`{"functionTimeout":"00:02:00"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Find(func(k string) string { return map[string]string{"FUNCTIONS_APP_ROOT_PATH": dir}[k] })
	if err != nil || s.FunctionTimeout != 2*time.Minute {
		t.Fatalf("Find = %+v, %v", s, err)
	}
}
