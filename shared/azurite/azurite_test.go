package azurite

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vcc-ingest/vcc-ingest/shared/testenv"
)

func TestStopKillsTheProcessGroup(t *testing.T) {
	p, err := Launch(context.Background(), t.TempDir(), false)
	if errors.Is(err, ErrNotInstalled) {
		testenv.Missing(t, "Azurite (Node.js)", err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	pid := p.cmd.Process.Pid
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	// No process may remain in the group.
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
		t.Fatalf("process %d still exists after Stop", pid)
	}
	resp, err := http.Get(p.BlobURL + "?comp=list")
	if err == nil {
		resp.Body.Close()
		t.Fatal("service still answers after Stop")
	}
}

func TestLaunchWithoutAzuriteNamesTheFix(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	_, err := Launch(context.Background(), t.TempDir(), false)
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("err = %v, want ErrNotInstalled", err)
	}
	if !strings.Contains(err.Error(), "npm ci --prefix infra/local") || !strings.Contains(err.Error(), filepath.Join(dir, "infra", "local")) {
		t.Fatalf("error does not say where and how to install: %v", err)
	}
}

func TestLaunchPersistentNeedsDir(t *testing.T) {
	if _, err := Launch(context.Background(), "", true); err == nil {
		t.Fatal("persistent launch without a directory succeeded")
	}
}
