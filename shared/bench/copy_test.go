package bench

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestReadSandboxSettings(t *testing.T) {
	good := "VCC_TOKEN_URL=http://127.0.0.1:1/Auth/connect/token\nVCC_API_URL=http://127.0.0.1:1\nVCC_CLIENT_ID=id\nVCC_CLIENT_SECRET=s=cret\n" +
		"# added interaction 0b5d2f52-7c1e-4a39-9b5e-2f0d6f4b8a11 2026-11-02T01:00:00Z 268435456\n"
	var sb sandboxProcess
	if err := sb.readSettings(strings.NewReader(good)); err != nil {
		t.Fatal(err)
	}
	want := vccEndpoint{tokenURL: "http://127.0.0.1:1/Auth/connect/token", apiURL: "http://127.0.0.1:1", clientID: "id", secret: "s=cret"}
	if sb.endpoint != want || sb.guid != "0b5d2f52-7c1e-4a39-9b5e-2f0d6f4b8a11" || !sb.start.Equal(time.Date(2026, 11, 2, 1, 0, 0, 0, time.UTC)) {
		t.Fatalf("read %+v %q %v", sb.endpoint, sb.guid, sb.start)
	}
	for name, bad := range map[string]string{
		"no added line":      "VCC_TOKEN_URL=a\nVCC_API_URL=b\nVCC_CLIENT_ID=c\nVCC_CLIENT_SECRET=d\n",
		"settings missing":   "VCC_API_URL=b\n# added interaction x 2026-11-02T01:00:00Z 1\n",
		"malformed added":    "VCC_TOKEN_URL=a\nVCC_API_URL=b\nVCC_CLIENT_ID=c\nVCC_CLIENT_SECRET=d\n# added interaction x\n",
		"malformed start at": "VCC_TOKEN_URL=a\nVCC_API_URL=b\nVCC_CLIENT_ID=c\nVCC_CLIENT_SECRET=d\n# added interaction x yesterday 1\n",
	} {
		var sb sandboxProcess
		if err := sb.readSettings(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// The ratio is the median of the pairs' ratios, not a ratio of medians.
func TestCopyRunRatio(t *testing.T) {
	r := copyRun{ingest: []float64{90, 50, 200}, raw: []float64{100, 100, 200}}
	if got := r.ratio(); got != 0.9 {
		t.Fatalf("ratio = %v, want 0.9", got)
	}
	if d := r.describe(); !strings.Contains(d, "ratios 0.900, 0.500, 1.000") {
		t.Fatalf("describe = %q", d)
	}
}

// setAffinity moves every thread of a process, including threads that
// are idle at the time, and can give them back every CPU.
func TestSetAffinityMovesEveryThread(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("CPU affinity is Linux-only")
	}
	all, err := allowedCPUs()
	if err != nil {
		t.Fatal(err)
	}
	if all.Count() < 2 {
		t.Skip("needs 2 CPUs")
	}
	var one cpuSet
	for i := 0; ; i++ {
		if all.IsSet(i) {
			one.Set(i)
			break
		}
	}
	if err := setAffinity(os.Getpid(), one); err != nil {
		t.Fatal(err)
	}
	defer setAffinity(os.Getpid(), all)
	// A goroutine locked to a fresh thread sees the mask too.
	got := make(chan int)
	go func() {
		runtime.LockOSThread()
		s, _ := allowedCPUs()
		got <- s.Count()
	}()
	if n := <-got; n != 1 {
		t.Fatalf("a thread has %d CPUs after pinning to one", n)
	}
	if err := setAffinity(os.Getpid(), all); err != nil {
		t.Fatal(err)
	}
	if s, _ := allowedCPUs(); s.Count() != all.Count() {
		t.Fatalf("%d CPUs after restoring %d", s.Count(), all.Count())
	}
}
