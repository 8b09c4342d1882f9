package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/vcc-ingest/vcc-ingest/shared/azuritetest"
	"github.com/vcc-ingest/vcc-ingest/shared/local"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// TestMain lets tests run the real command in a child process (to kill it
// with SIGKILL mid-run): with HANDLER_CHILD=1 the test binary is the handler.
func TestMain(m *testing.M) {
	if os.Getenv("HANDLER_CHILD") == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
	}
	os.Exit(m.Run())
}

func childCommand(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "HANDLER_CHILD=1")
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

func sandboxTruth(seed int64, perDay int) []vccsim.Recording {
	sim := vccsim.New(vccsim.Options{Seed: seed, InteractionsPerDay: perDay})
	var out []vccsim.Recording
	for _, r := range sim.Recordings() {
		if r.Visible && isAudio(r.Type) && r.Audio {
			out = append(out, r)
		}
	}
	return out
}

// Export of a sandbox day to a directory: the blob layout as files, every
// recording byte-identical, exit status 0.
func TestLocalExportToDirectory(t *testing.T) {
	out := filepath.Join(t.TempDir(), "export")
	var stdout, stderr bytes.Buffer
	status := run(context.Background(), []string{"local", "--sandbox", "--day", "2026-11-02", "--seed", "11", "--per-day", "40", "--out", out, "--data", t.TempDir()}, &stdout, &stderr, func(k string) string {
		return map[string]string{"VCC_RATE_PER_MINUTE": "100000"}[k]
	})
	if status != 0 {
		t.Fatalf("status %d\nstdout:\n%s\nstderr:\n%s", status, stdout.String(), stderr.String())
	}
	checkExport(t, out, sandboxTruth(11, 40))
	for _, want := range []string{"Summary", "recordings copied", "content.download", "dead-lettered"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout.String())
		}
	}
}

func checkExport(t *testing.T, root string, want []vccsim.Recording) {
	t.Helper()
	expected := map[string]string{}
	for _, r := range want {
		expected[store.RecordingName(r.Start, r.InteractionGUID, r.ContentKey, store.ExtensionFor(r.ContentType))] = r.SHA256
		expected[store.SidecarName(r.Start, r.InteractionGUID)] = ""
	}
	found := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		sum, ok := expected[rel]
		if !ok {
			t.Errorf("unexpected file %s", rel)
			return nil
		}
		found[rel] = true
		if sum != "" {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != sum {
				t.Errorf("%s: sha256 %s, want %s", rel, got, sum)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range expected {
		if !found[name] {
			t.Errorf("missing %s", name)
		}
	}
}

// Kill the local run mid-window with SIGKILL, several times, then run it to
// the end: every recording present exactly once and byte-identical.
func TestLocalRunSurvivesKill(t *testing.T) {
	az := azuritetest.Start(t)
	data := t.TempDir()
	env := []string{"RECORDINGS_CONNECTION_STRING=" + az.ConnectionString, "VCC_RATE_PER_MINUTE=3000"}
	args := []string{"local", "--sandbox", "--day", "2026-11-02", "--seed", "12", "--per-day", "120", "--data", data, "--workers", "4", "--lock", "5s"}
	truth := sandboxTruth(12, 120)
	interactions := map[string]bool{}
	for _, r := range truth {
		interactions[r.InteractionGUID] = true
	}
	wantInteractions := len(interactions)
	for i, after := range []time.Duration{700 * time.Millisecond, 1200 * time.Millisecond, 1500 * time.Millisecond} {
		cmd := childCommand(t, env, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(after)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		n := countSidecars(t, az.ConnectionString)
		t.Logf("run %d killed after %v: %d interactions complete", i+1, after, n)
		if i == 0 && n >= wantInteractions {
			t.Fatalf("the first run finished before it was killed (%d interactions): nothing was interrupted", n)
		}
	}
	// No wait here: messages the killed runs had locked are invisible until
	// their 5 s lock expires, and the final run must wait for them rather
	// than call the window done.
	cmd := childCommand(t, env, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	p := &pipeline{t: t, az: az}
	p.checkStored(truth)
}

// Exit status: 1 with a summary when anything was dead-lettered.
func TestLocalExitStatusOnDeadLetters(t *testing.T) {
	var stdout, stderr bytes.Buffer
	// Every download cut off mid-stream: each delivery fails until the
	// queue dead-letters the message after INGEST_MAX_ATTEMPTS deliveries.
	env := map[string]string{"INGEST_MAX_ATTEMPTS": "2"}
	status := run(context.Background(), []string{"local", "--sandbox", "--day", "2026-11-02", "--seed", "13", "--per-day", "10", "--out", t.TempDir(), "--data", t.TempDir(), "--sandbox-faults", "truncate=1"}, &stdout, &stderr, func(k string) string { return env[k] })
	if status != 1 {
		t.Fatalf("status %d, want 1\n%s\n%s", status, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "dead-lettered") {
		t.Errorf("no summary:\n%s", stdout.String())
	}
}

// Without a window the local run works on the schedule until stopped: every
// recording that started before the run is stored, and the run ends with
// the summary.
func TestLocalScheduledRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "export")
	testStart := time.Now().UTC()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	env := map[string]string{"DISCOVER_LOOKBACK": "48h", "DISCOVER_SETTLE": "0s", "VCC_RATE_PER_MINUTE": "100000"}
	var stdout, stderr bytes.Buffer
	status := run(ctx, []string{"local", "--sandbox", "--schedule", "--every", "1s", "--seed", "14", "--per-day", "30", "--out", out, "--data", t.TempDir()}, &stdout, &stderr, func(k string) string { return env[k] })
	if status != 0 {
		t.Fatalf("status %d\n%s\n%s", status, stdout.String(), stderr.String())
	}
	yesterday := testStart.Truncate(24 * time.Hour).Add(-24 * time.Hour)
	sim := vccsim.New(vccsim.Options{Seed: 14, Start: yesterday, Days: 2, InteractionsPerDay: 30})
	var want []vccsim.Recording
	for _, r := range sim.Recordings() {
		if r.Visible && isAudio(r.Type) && r.Audio && r.Start.Before(testStart) {
			want = append(want, r)
		}
	}
	if len(want) == 0 {
		t.Fatal("the sandbox has no recording before now")
	}
	stored := 0
	for _, r := range want {
		name := filepath.Join(out, filepath.FromSlash(store.RecordingName(r.Start, r.InteractionGUID, r.ContentKey, store.ExtensionFor(r.ContentType))))
		data, err := os.ReadFile(name)
		if err != nil {
			t.Errorf("missing %s", name)
			continue
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != r.SHA256 {
			t.Errorf("%s differs from the sandbox", name)
		}
		stored++
	}
	if !strings.Contains(stdout.String(), "Summary") {
		t.Errorf("no summary:\n%s", stdout.String())
	}
	t.Logf("stored %d recordings on the schedule", stored)
}

func countSidecars(t *testing.T, connectionString string) int {
	t.Helper()
	client, err := azblob.NewClientFromConnectionString(connectionString, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	pager := client.NewListBlobsFlatPager("recordings", nil)
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			return 0 // the container does not exist yet
		}
		if page.Segment == nil {
			return 0 // an answer without a listing: storage busy or restarting; polled again
		}
		for _, b := range page.Segment.BlobItems {
			if b.Name == nil {
				continue
			}
			if strings.HasSuffix(*b.Name, "/interaction.json") {
				n++
			}
		}
	}
	return n
}

// The same window exported twice with the same --data, to two places: the
// second export is complete too, although the queue saw every message id
// before (its duplicate detection drops them).
func TestLocalExportSameWindowTwice(t *testing.T) {
	data := t.TempDir()
	env := func(k string) string { return map[string]string{"VCC_RATE_PER_MINUTE": "100000"}[k] }
	for i, out := range []string{filepath.Join(t.TempDir(), "first"), filepath.Join(t.TempDir(), "second")} {
		var stdout, stderr bytes.Buffer
		status := run(context.Background(), []string{"local", "--sandbox", "--day", "2026-11-02", "--seed", "16", "--per-day", "20", "--out", out, "--data", data}, &stdout, &stderr, env)
		if status != 0 {
			t.Fatalf("export %d: status %d\n%s\n%s", i+1, status, stdout.String(), stderr.String())
		}
		checkExport(t, out, sandboxTruth(16, 20))
	}
}

// A rerun after a crash does not wait out the dead run's message locks:
// with a 5-minute lock it finishes in the time the missing work takes.
func TestLocalRerunAfterKillResumesAtOnce(t *testing.T) {
	az := azuritetest.Start(t)
	data := t.TempDir()
	env := []string{"RECORDINGS_CONNECTION_STRING=" + az.ConnectionString, "VCC_RATE_PER_MINUTE=3000"}
	args := []string{"local", "--sandbox", "--day", "2026-11-02", "--seed", "16", "--per-day", "120", "--data", data, "--workers", "4", "--lock", "5m"}
	truth := sandboxTruth(16, 120)
	interactions := map[string]bool{}
	for _, r := range truth {
		interactions[r.InteractionGUID] = true
	}

	cmd := childCommand(t, env, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && countSidecars(t, az.ConnectionString) < 10 {
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if n := countSidecars(t, az.ConnectionString); n >= len(interactions) {
		t.Fatalf("the first run finished before it was killed (%d interactions): nothing was interrupted", n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rerun := exec.CommandContext(ctx, os.Args[0], args...)
	rerun.Env = childCommand(t, env).Env
	began := time.Now()
	rout, err := rerun.CombinedOutput()
	took := time.Since(began)
	if err != nil {
		t.Fatalf("rerun: %v after %v\n%s", err, took, rout)
	}
	if !strings.Contains(string(rout), "Resuming: ") {
		t.Errorf("the rerun did not say it resumed locked messages:\n%s", rout)
	}
	// The lock is 5 minutes; the remaining work takes seconds.
	if took > time.Minute {
		t.Errorf("rerun took %v: it waited for the killed run's locks", took)
	}
	t.Logf("rerun finished in %v", took)
	p := &pipeline{t: t, az: az}
	p.checkStored(truth)
}

// The summary names each dead-lettered interaction (the first 20, then a
// count), says where the full list is, and --json gives every one.
func TestLocalSummaryNamesDeadLetters(t *testing.T) {
	env := map[string]string{"INGEST_MAX_ATTEMPTS": "2", "VCC_RATE_PER_MINUTE": "100000"}
	getenv := func(k string) string { return env[k] }
	args := func(data string, extra ...string) []string {
		return append([]string{"local", "--sandbox", "--day", "2026-11-02", "--seed", "19", "--per-day", "30",
			"--out", t.TempDir(), "--data", data, "--sandbox-faults", "truncate=1"}, extra...)
	}
	var want []string
	for _, r := range sandboxTruth(19, 30) {
		if !slices.Contains(want, r.InteractionGUID) {
			want = append(want, r.InteractionGUID)
		}
	}
	if len(want) <= 20 {
		t.Fatalf("only %d interactions: the list is not cut", len(want))
	}

	data := t.TempDir()
	var stdout, stderr bytes.Buffer
	if status := run(context.Background(), args(data), &stdout, &stderr, getenv); status != 1 {
		t.Fatalf("status %d, want 1\n%s\n%s", status, stdout.String(), stderr.String())
	}
	named := 0
	for _, id := range want {
		if strings.Contains(stdout.String(), "\n  "+id+"  ") {
			named++
		}
	}
	if named != 20 || !strings.Contains(stdout.String(), fmt.Sprintf("… and %d more", len(want)-20)) {
		t.Errorf("summary names %d of %d dead letters, want 20 and a count of the rest:\n%s", named, len(want), stdout.String())
	}
	file := filepath.Join(data, local.DeadLettersFile)
	if !strings.Contains(stdout.String(), file) {
		t.Errorf("summary does not say where the full list is (%s)", file)
	}
	var listed []local.DeadLetter
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &listed); err != nil {
		t.Fatal(err)
	}
	checkAll := func(what string, got []local.DeadLetter) {
		t.Helper()
		var ids []string
		for _, d := range got {
			ids = append(ids, d.InteractionID)
			if !strings.Contains(d.Reason, "unexpected EOF") {
				t.Errorf("%s: %s has reason %q, want the recorded failure", what, d.InteractionID, d.Reason)
			}
		}
		slices.Sort(ids)
		w := slices.Clone(want)
		slices.Sort(w)
		if !slices.Equal(ids, w) {
			t.Errorf("%s lists %d interactions, want all %d", what, len(ids), len(w))
		}
	}
	checkAll(local.DeadLettersFile, listed)

	stdout.Reset()
	stderr.Reset()
	if status := run(context.Background(), args(t.TempDir(), "--json"), &stdout, &stderr, getenv); status != 1 {
		t.Fatalf("--json: status %d, want 1\n%s", status, stderr.String())
	}
	var sum local.SummaryJSON
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("--json stdout is not one JSON summary: %v\n%s", err, stdout.String())
	}
	checkAll("--json", sum.DeadLetters)
}
