package store

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dieMidCopyEnv makes TestDirWriterKilledMidCopy the writer that is killed:
// it starts a recording, says so on stdout and waits to be killed.
const dieMidCopyEnv = "STORE_TEST_DIE_MID_COPY"

// blockedReader yields a few bytes, then blocks until release is closed.
type blockedReader struct {
	sent    bool
	started chan struct{}
	release chan struct{}
}

func (b *blockedReader) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		close(b.started)
		return copy(p, "RIFF"), nil
	}
	<-b.release
	return 0, io.EOF
}

func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// An export killed mid-copy leaves a temporary file in the interaction's
// folder; the rerun, writing there, removes it along with completing the
// recording.
func TestDirWriterKilledMidCopy(t *testing.T) {
	name := RecordingName(testStart, testGUID, "k", "wav")
	if root := os.Getenv(dieMidCopyEnv); root != "" {
		r := &blockedReader{started: make(chan struct{}), release: make(chan struct{})}
		go func() {
			<-r.started
			time.Sleep(50 * time.Millisecond) // the bytes reach the file
			os.Stdout.WriteString("copying\n")
		}()
		_, _ = NewDir(root).PutRecording(context.Background(), Recording{Name: name, ExpectedLength: 5}, r)
		t.Fatal("the copy was not killed")
	}
	root := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDirWriterKilledMidCopy$", "-test.count=1")
	cmd.Env = append(os.Environ(), dieMidCopyEnv+"="+root)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if line != "copying\n" {
		t.Fatalf("the writer said %q", line)
	}
	dir := filepath.Join(root, filepath.FromSlash(filepath.Dir(name)))
	if left := tempFiles(t, dir); len(left) != 1 {
		t.Fatalf("after the kill the folder holds temporary files %v, want the one of the dead copy", left)
	}

	// The rerun: a new store over the same directory.
	d := NewDir(root)
	if _, err := d.PutRecording(context.Background(), Recording{Name: name, ExpectedLength: 5}, newGen(1, 5)); err != nil {
		t.Fatal(err)
	}
	if err := d.PutSidecar(context.Background(), SidecarName(testStart, testGUID), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if left := tempFiles(t, dir); len(left) != 0 {
		t.Fatalf("after the rerun the folder still holds %v", left)
	}
	if got := listAll(t, d.List, ""); len(got) != 2 {
		t.Fatalf("List = %v, want the recording and the sidecar", got)
	}
}

// A sweep removes what a dead run left but not the temporary file of a copy
// this process is still making in the same folder, which then completes.
func TestDirSweepSparesLiveWriters(t *testing.T) {
	root := t.TempDir()
	d := NewDir(root)
	ctx := context.Background()
	slow := RecordingName(testStart, testGUID, "slow", "wav")
	dir := filepath.Join(root, filepath.FromSlash(filepath.Dir(slow)))
	r := &blockedReader{started: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := d.PutRecording(ctx, Recording{Name: slow, ExpectedLength: 4}, r)
		done <- err
	}()
	<-r.started
	live := tempFiles(t, dir)
	if len(live) != 1 {
		t.Fatalf("temporary files %v, want the live copy's", live)
	}
	dead := filepath.Join(dir, tempPrefix+"4242.tmp")
	if err := os.WriteFile(dead, []byte("left by a dead run"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The folder is swept again, as after the process forgot it had swept it
	// (sweptMax), by another store over the same directory.
	temps.Lock()
	clear(temps.swept)
	temps.Unlock()
	if err := NewDir(root).PutSidecar(ctx, SidecarName(testStart, testGUID), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("the dead run's temporary file is still there (%v)", err)
	}
	if got := tempFiles(t, dir); len(got) != 1 || got[0] != live[0] {
		t.Fatalf("temporary files %v, want the live copy's %v", got, live)
	}
	close(r.release)
	if err := <-done; err != nil {
		t.Fatalf("the live copy failed: %v", err)
	}
	if got := tempFiles(t, dir); len(got) != 0 {
		t.Fatalf("temporary files %v after the copy", got)
	}
	if got := listAll(t, d.List, ""); len(got) != 2 {
		t.Fatalf("List = %v, want the recording and the sidecar", got)
	}
}
