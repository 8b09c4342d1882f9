package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder stands in for a test: it records how Missing and Seed end it.
type recorder struct {
	testing.TB
	ended string // "skip" or "fatal"
	msg   string
	logs  []string
}

type ended struct{}

func (r *recorder) Helper() {}
func (r *recorder) Name() string {
	return "TestSomething/sub"
}
func (r *recorder) Skipf(format string, args ...any) {
	r.ended, r.msg = "skip", fmt.Sprintf(format, args...)
	panic(ended{})
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.ended, r.msg = "fatal", fmt.Sprintf(format, args...)
	panic(ended{})
}
func (r *recorder) Logf(format string, args ...any) {
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

// run calls f with a recorder and returns it once f ended or returned.
func run(t *testing.T, f func(testing.TB)) *recorder {
	r := &recorder{TB: t}
	func() {
		defer func() {
			if v := recover(); v != nil {
				if _, ok := v.(ended); !ok {
					panic(v)
				}
			}
		}()
		f(r)
	}()
	return r
}

var missingTool = Tool{
	Name:    "frobnicator",
	Install: "apt-get install frobnicator",
	find:    func() (string, error) { return "", fmt.Errorf("frobnicator not found on PATH") },
}

func TestMissingToolSkipsSayingMakeTestRunsIt(t *testing.T) {
	t.Setenv(RequireToolsEnv, "")
	r := run(t, func(tb testing.TB) { Require(tb, missingTool) })
	if r.ended != "skip" {
		t.Fatalf("ended %q (%s), want a skip", r.ended, r.msg)
	}
	for _, want := range []string{"frobnicator not found on PATH", "apt-get install frobnicator", "`make test`"} {
		if !strings.Contains(r.msg, want) {
			t.Errorf("skip message %q does not say %q", r.msg, want)
		}
	}
}

func TestMissingToolFailsWhenToolsAreRequired(t *testing.T) {
	for _, v := range []string{"1", "true"} {
		t.Setenv(RequireToolsEnv, v)
		r := run(t, func(tb testing.TB) { Require(tb, missingTool) })
		if r.ended != "fatal" || !strings.Contains(r.msg, "apt-get install frobnicator") || !strings.Contains(r.msg, RequireToolsEnv) {
			t.Errorf("%s=%s: ended %q (%s), want a failure naming the tool's install and the variable", RequireToolsEnv, v, r.ended, r.msg)
		}
	}
	t.Setenv(RequireToolsEnv, "0")
	if r := run(t, func(tb testing.TB) { Require(tb, missingTool) }); r.ended != "skip" {
		t.Errorf("%s=0: ended %q, want a skip", RequireToolsEnv, r.ended)
	}
}

func TestPresentToolIsReturned(t *testing.T) {
	t.Setenv(RequireToolsEnv, "1")
	tool := Tool{Name: "x", find: func() (string, error) { return "/opt/x", nil }}
	var got string
	if r := run(t, func(tb testing.TB) { got = Require(tb, tool) }); r.ended != "" || got != "/opt/x" {
		t.Fatalf("ended %q (%s), path %q", r.ended, r.msg, got)
	}
}

// The first python3 on PATH that imports proton is chosen: one without it
// earlier on PATH (a virtualenv's) is passed over.
func TestFindProtonWalksPath(t *testing.T) {
	without, with := t.TempDir(), t.TempDir()
	script := func(dir, body string) {
		if err := os.WriteFile(filepath.Join(dir, "python3"), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script(without, "exit 1")
	script(with, "exit 0")
	t.Setenv("PATH", without+string(os.PathListSeparator)+with)
	got, err := findProton()
	if err != nil || got != filepath.Join(with, "python3") {
		t.Fatalf("findProton = %q, %v; want %s", got, err, filepath.Join(with, "python3"))
	}
	t.Setenv("PATH", without)
	if got, err := findProton(); err == nil {
		t.Fatalf("findProton = %q with no proton on PATH", got)
	}
}

func TestSeedFromEnvironmentAndReplayLine(t *testing.T) {
	t.Setenv(SeedEnv, "424242")
	var seed int64
	r := run(t, func(tb testing.TB) { seed = Seed(tb) })
	if r.ended != "" || seed != 424242 {
		t.Fatalf("seed %d (ended %q %s), want 424242", seed, r.ended, r.msg)
	}
	want := SeedEnv + "=424242 go test -count=1 -run '^TestSomething$' ./shared/testenv"
	if len(r.logs) != 1 || !strings.Contains(r.logs[0], want) {
		t.Errorf("logged %q, want a line with %q", r.logs, want)
	}

	// The same seed gives the same sequence.
	a := run(t, func(tb testing.TB) { seed = int64(Rand(tb, 7).Uint64()) })
	first := seed
	run(t, func(tb testing.TB) { seed = int64(Rand(tb, 7).Uint64()) })
	if a.ended != "" || seed != first {
		t.Errorf("Rand under one seed gave %d then %d", first, seed)
	}
}

func TestSeedFromClockIsLogged(t *testing.T) {
	t.Setenv(SeedEnv, "")
	var seed int64
	r := run(t, func(tb testing.TB) { seed = Seed(tb) })
	if want := fmt.Sprintf("%s=%d go test", SeedEnv, seed); len(r.logs) != 1 || !strings.Contains(r.logs[0], want) {
		t.Errorf("logged %q, want a line with %q", r.logs, want)
	}
}

func TestMalformedSeedFails(t *testing.T) {
	t.Setenv(SeedEnv, "12abc")
	r := run(t, func(tb testing.TB) { Seed(tb) })
	if r.ended != "fatal" || !strings.Contains(r.msg, SeedEnv) {
		t.Fatalf("ended %q (%s), want a failure naming %s", r.ended, r.msg, SeedEnv)
	}
}
