package queue_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/testenv"
)

// amqpFakeOptions are the queue settings the stand-in broker applies to
// every queue it creates.
type amqpFakeOptions struct {
	MaxMessageSize   int
	LockDuration     time.Duration
	MaxDeliveryCount int
	DuplicateWindow  time.Duration
}

// lockedBuffer collects the broker's stderr for the failure log.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// amqpFake is a running testdata/amqpfake.py.
type amqpFake struct {
	Port int

	mu    sync.Mutex // one clock change at a time
	stdin io.WriteCloser
	acks  chan string
}

// SetNow sets the broker's clock and returns once the broker has applied it
// (expired the locks the new time ends), so a settlement or receive that
// follows sees the new time.
func (f *amqpFake) SetNow(now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	ms := now.UnixMilli()
	if _, err := fmt.Fprintf(f.stdin, "NOW %d\n", ms); err != nil {
		return fmt.Errorf("set stand-in clock: %w", err)
	}
	want := fmt.Sprintf("OK %d", ms)
	select {
	case line, ok := <-f.acks:
		if !ok || strings.TrimSpace(line) != want {
			return fmt.Errorf("set stand-in clock: got %q, want %q", line, want)
		}
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("set stand-in clock: no answer within 5s")
	}
}

// startAMQPFake runs testdata/amqpfake.py on a free loopback port. Without
// proton it skips, or fails under `make test` and CI (testenv), so that they
// cannot pass by testing nothing.
func startAMQPFake(t *testing.T, o amqpFakeOptions) *amqpFake {
	t.Helper()
	python := testenv.Require(t, testenv.Proton)
	cmd := exec.Command(python, "testdata/amqpfake.py",
		"--port", "0",
		"--max-message-size", strconv.Itoa(o.MaxMessageSize),
		"--lock-duration", strconv.FormatFloat(o.LockDuration.Seconds(), 'f', -1, 64),
		"--max-delivery-count", strconv.Itoa(o.MaxDeliveryCount),
		"--duplicate-window", strconv.FormatFloat(o.DuplicateWindow.Seconds(), 'f', -1, 64),
	)
	stdin, err := cmd.StdinPipe() // the broker exits when this closes
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start AMQP stand-in: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			if s := stderr.String(); s != "" {
				t.Logf("AMQP stand-in stderr:\n%s", s)
			}
		}
	})

	lines := make(chan string, 1)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	select {
	case line := <-lines:
		var port int
		if _, err := fmt.Sscanf(strings.TrimSpace(line), "LISTENING %d", &port); err != nil || port <= 0 {
			t.Fatalf("AMQP stand-in did not start: first line %q (its stderr follows)", line)
		}
		return &amqpFake{Port: port, stdin: stdin, acks: lines}
	case <-time.After(10 * time.Second):
		t.Fatalf("AMQP stand-in did not report its port within 10s (its stderr follows)")
	}
	return nil
}
