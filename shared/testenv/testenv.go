// Package testenv is what tests share about the machine they run on: the
// tools beyond Go that some of them need (Node.js for Azurite, Chromium,
// python3-qpid-proton), and the seed of randomized tests.
//
// `go test ./...` on a machine with only Go passes: a test whose tool is
// missing is skipped, saying which tool and that `make test` installs it and
// runs the test. `make test` and CI set RequireToolsEnv, under which a
// missing tool fails the test instead, so that they cannot pass by testing
// nothing.
package testenv

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireToolsEnv, when set to anything but "" or "0", makes a missing tool
// a test failure. The Makefile's test target sets it.
const RequireToolsEnv = "VCC_INGEST_REQUIRE_TOOLS"

// SeedEnv, when set, is the seed of every randomized test instead of the
// clock, to replay a failing run.
const SeedEnv = "VCC_INGEST_FAULT_SEED"

// Tool is something beyond Go that a test needs.
type Tool struct {
	Name    string // what the messages call it
	Install string // how to install it
	find    func() (string, error)
}

var (
	// Chromium is the headless browser that checks the coverage page.
	Chromium = Tool{
		Name:    "Chromium",
		Install: "apt-get install -y --no-install-recommends chromium",
		find:    func() (string, error) { return exec.LookPath("chromium") },
	}
	// Proton is a python3 with the qpid-proton module, for the Service Bus
	// stand-in broker.
	Proton = Tool{
		Name:    "python3 with qpid-proton",
		Install: "apt-get install -y --no-install-recommends python3-qpid-proton",
		find:    findProton,
	}
)

// Require returns the path of tool's executable. When it is missing the
// test is skipped, or fails under RequireToolsEnv.
func Require(t testing.TB, tool Tool) string {
	t.Helper()
	path, err := tool.find()
	if err != nil {
		Missing(t, tool.Name, fmt.Sprintf("%v; install it with: %s", err, tool.Install))
	}
	return path
}

// Missing ends t because what (a tool) is not on this machine, why saying
// what was looked for and how to install it: a skip, or a failure under
// RequireToolsEnv.
func Missing(t testing.TB, what, why string) {
	t.Helper()
	if RequireTools() {
		t.Fatalf("this test needs %s: %s (%s is set, so a missing tool is a failure)", what, why, RequireToolsEnv)
	}
	announce(what)
	t.Skipf("skipped: needs %s: %s; `make test` installs it and runs this test", what, why)
}

// RequireTools reports whether a missing tool is a failure.
func RequireTools() bool {
	v := os.Getenv(RequireToolsEnv)
	return v != "" && v != "0"
}

// findProton returns the first python3 on PATH that can import proton:
// Debian's package installs the module for the system interpreter only, and
// a virtualenv's python3 may come first on PATH.
func findProton() (string, error) {
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir == "" {
			continue
		}
		py := filepath.Join(dir, "python3")
		if fi, err := os.Stat(py); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			continue
		}
		if exec.Command(py, "-c", "import proton").Run() == nil {
			return py, nil
		}
	}
	return "", fmt.Errorf("no python3 on PATH can import proton")
}

var announced sync.Map // what → struct{}

// announce tells the person at the terminal, once per package and tool, that
// tests were skipped: `go test ./...` shows nothing of a passing package's
// output, skips included, unless run with -v.
func announce(what string) {
	if testing.Verbose() {
		return // the skip messages are shown
	}
	if _, dup := announced.LoadOrStore(what, struct{}{}); dup {
		return
	}
	tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0)
	if err != nil {
		return // no terminal: the skips are in -v and -json output
	}
	defer tty.Close()
	fmt.Fprintf(tty, "%s: tests needing %s skipped; `make test` installs it and runs them\n", packageDir(), what)
}

// packageDir is the package under test as `go test` names it, relative to
// the module root (tests run in their package's directory).
func packageDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return "this package"
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if rel, err := filepath.Rel(dir, wd); err == nil {
				return "./" + filepath.ToSlash(rel)
			}
			break
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	return wd
}

// Rand returns the random source of a randomized test and logs its seed
// with the command that replays it. The seed is SeedEnv's value when set,
// the clock otherwise; stream keeps tests' sequences apart for one seed.
func Rand(t testing.TB, stream uint64) *rand.Rand {
	t.Helper()
	seed := Seed(t)
	return rand.New(rand.NewPCG(uint64(seed), stream))
}

// Seed returns the seed of a randomized test (SeedEnv's value when set, the
// clock otherwise) and logs how to replay it. A malformed SeedEnv fails t.
func Seed(t testing.TB) int64 {
	t.Helper()
	seed := time.Now().UnixNano()
	if v := strings.TrimSpace(os.Getenv(SeedEnv)); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want a decimal integer (a seed this test logged)", SeedEnv, v)
		}
		seed = n
	}
	t.Logf("random seed %d; replay with: %s=%d go test -count=1 -run '^%s$' %s", seed, SeedEnv, seed, topLevel(t.Name()), packageDir())
	return seed
}

// topLevel is the top-level test of a (sub)test name, what -run selects
// reliably.
func topLevel(name string) string {
	top, _, _ := strings.Cut(name, "/")
	return top
}
