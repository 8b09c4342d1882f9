package queue_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/testenv"
)

// crashChildEnv makes the test binary run crashChild (a queue worker that
// is killed with SIGKILL) instead of the tests.
const crashChildEnv = "VCC_INGEST_QUEUE_CRASH_CHILD"

// crashSeedEnv is the seed of the child's random choices, drawn from the
// test's seed so that a failing run can be replayed (the moments of the
// kills still vary with the machine's timing).
const crashSeedEnv = "VCC_INGEST_QUEUE_CRASH_SEED"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		seed, _ := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64)
		if err := crashChild(dir, rand.New(rand.NewPCG(seed, 0))); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Log files the child appends one line to around each operation. A line is
// written with a single write, so a SIGKILL leaves whole lines (the kernel
// keeps what was written; no fsync is needed for a process crash).
const (
	logIntent     = "intent.log"     // "<batch> <id> <id>...", before SendBatch
	logSent       = "sent.log"       // "<batch>", after SendBatch returned nil
	logCompleting = "completing.log" // "<id>", before Complete
	logCompleted  = "completed.log"  // "<id>", after Complete returned nil
)

func crashChild(dir string, rng *rand.Rand) error {
	q, err := queue.OpenEmbedded(filepath.Join(dir, "q.db"), queue.EmbeddedOptions{
		LockDuration:     200 * time.Millisecond, // locks of a killed child expire soon
		MaxDeliveryCount: 1000,
		OpenTimeout:      10 * time.Second,
	})
	if err != nil {
		return err
	}
	logs := map[string]*os.File{}
	for _, name := range []string{logIntent, logSent, logCompleting, logCompleted} {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		logs[name] = f
	}
	write := func(name, line string) error {
		_, err := logs[name].WriteString(line + "\n")
		return err
	}
	ctx := context.Background()
	for k := 0; ; k++ {
		batch := fmt.Sprintf("%d-%d", os.Getpid(), k)
		var msgs []queue.Outgoing
		var ids []string
		for i := 0; i < 1+rng.IntN(4); i++ {
			id := fmt.Sprintf("%s-%d", batch, i)
			ids = append(ids, id)
			msgs = append(msgs, queue.Outgoing{ID: id, Body: []byte(id)})
		}
		if err := write(logIntent, batch+" "+strings.Join(ids, " ")); err != nil {
			return err
		}
		if err := q.SendBatch(ctx, msgs); err != nil {
			return err
		}
		if err := write(logSent, batch); err != nil {
			return err
		}
		got, err := q.Receive(ctx, 4, 5*time.Millisecond)
		if err != nil {
			return err
		}
		for _, m := range got {
			if rng.IntN(5) == 0 {
				if err := q.Abandon(ctx, m); err != nil && !errors.Is(err, queue.ErrLockLost) {
					return err
				}
				continue
			}
			if err := write(logCompleting, m.ID); err != nil {
				return err
			}
			err := q.Complete(ctx, m)
			if errors.Is(err, queue.ErrLockLost) {
				continue
			}
			if err != nil {
				return err
			}
			if err := write(logCompleted, m.ID); err != nil {
				return err
			}
		}
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		lines = append(lines, s.Text())
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// TestEmbeddedCrash kills a worker process with SIGKILL at random moments,
// several times, then checks that no sent message was lost, none was
// completed twice, none is gone without having been completed, and a batch
// is there entirely or not at all.
func TestEmbeddedCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns and kills processes")
	}
	dir := t.TempDir()
	rng := testenv.Rand(t, 0)
	const rounds = 6
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashSeedEnv+"="+strconv.FormatUint(rng.Uint64(), 10))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("round %d: kill: %v", round, err)
		}
		err := cmd.Wait()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child ended with %v before it was killed; stderr: %s", round, err, stderr.String())
		}
	}

	// Reopen as after a crash, with the clock past every lock the children held.
	q := openEmbedded(t, filepath.Join(dir, "q.db"), queue.EmbeddedOptions{
		LockDuration: time.Hour,
		Now:          func() time.Time { return time.Now().Add(time.Hour) },
	})
	present := map[string]int{}
	for {
		msgs, err := q.Receive(context.Background(), 1000, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			present[m.ID]++
			if string(m.Body) != m.ID {
				t.Errorf("message %s has body %q", m.ID, m.Body)
			}
		}
	}
	dl, err := q.PeekDeadLetters(context.Background(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != 0 {
		t.Errorf("dead letters %d, want none (MaxDeliveryCount was not reachable)", len(dl))
	}

	sent := map[string]bool{}
	for _, b := range readLines(t, filepath.Join(dir, logSent)) {
		sent[b] = true
	}
	completing := map[string]bool{}
	for _, id := range readLines(t, filepath.Join(dir, logCompleting)) {
		completing[id] = true
	}
	completed := map[string]int{}
	for _, id := range readLines(t, filepath.Join(dir, logCompleted)) {
		completed[id]++
	}
	known := map[string]bool{}
	var committedBatches, uncommitted int
	for _, line := range readLines(t, filepath.Join(dir, logIntent)) {
		f := strings.Fields(line)
		batch, ids := f[0], f[1:]
		there := 0 // messages of the batch that were committed: present, or taken for completion
		for _, id := range ids {
			known[id] = true
			if present[id] > 0 || completing[id] {
				there++
			}
		}
		switch {
		case sent[batch] && there != len(ids):
			t.Errorf("batch %s was sent but %d of its %d messages are neither in the queue nor completed", batch, len(ids)-there, len(ids))
		case !sent[batch] && there != 0 && there != len(ids):
			t.Errorf("batch %s (send interrupted) is partly in the queue: %d of %d", batch, there, len(ids))
		case !sent[batch]:
			uncommitted++
		default:
			committedBatches++
		}
	}
	for id, n := range present {
		if n != 1 {
			t.Errorf("%s delivered %d times in one pass", id, n)
		}
		if !known[id] {
			t.Errorf("%s is in the queue but was never sent", id)
		}
		if completed[id] > 0 {
			t.Errorf("%s was completed but is still in the queue", id)
		}
	}
	for id, n := range completed {
		if n != 1 {
			t.Errorf("%s was completed %d times", id, n)
		}
	}
	if committedBatches == 0 || len(completed) == 0 {
		t.Fatalf("the children made no progress (%d batches sent, %d completed)", committedBatches, len(completed))
	}
	t.Logf("%d rounds: %d batches sent, %d interrupted, %d completed, %d left in the queue",
		rounds, committedBatches, uncommitted, len(completed), len(present))
}
