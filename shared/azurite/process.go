// Package azurite runs Azurite's Blob service (the Microsoft storage
// emulator, installed from npm into infra/local) as a child process: for a
// local run of the whole product (`handler local --azurite`), for the
// benchmarks, and under package azuritetest for tests, so that Blob code
// is tested against a real service instead of mocks.
//
// Azurite is started with node directly (not through npx, whose wrapper
// survives a kill and leaves the server running), in its own process group
// so that stopping it kills everything it started.
package azurite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// AccountName and AccountKey are Azurite's well-known development account.
// They are public constants of the emulator, not secrets.
const (
	AccountName = "devstoreaccount1"
	AccountKey  = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// scriptPath is Azurite's blob entry point relative to the module root;
// infra/local/package-lock.json pins the version (3.35.0: later ones need Node 21).
const scriptPath = "infra/local/node_modules/.bin/azurite-blob"

// InstallHint tells how to install Azurite when it is missing.
const InstallHint = "run `npm ci --prefix infra/local` in the repository root"

// ErrNotInstalled is returned when node or Azurite's script cannot be found.
var ErrNotInstalled = errors.New("azurite is not installed")

// readyTimeout bounds the wait for a fresh Azurite to answer (it is usually
// ready in about a second).
const readyTimeout = 30 * time.Second

// Process is a running Azurite Blob service on 127.0.0.1.
type Process struct {
	// ConnectionString uses the well-known development account and the
	// path-style endpoint http://127.0.0.1:<port>/devstoreaccount1.
	ConnectionString string
	// BlobURL is the account's endpoint, http://127.0.0.1:<port>/devstoreaccount1.
	BlobURL string
	// Port is the TCP port the service listens on; Restart keeps it.
	Port int

	// HTTPClient reaches the service; for an OAuth (HTTPS) instance it
	// trusts the instance's self-signed certificate.
	HTTPClient *http.Client

	node, script string
	workDir      string // process working directory (and --location when persistent)
	persistent   bool
	tls          *tlsFiles // HTTPS + bearer tokens (--oauth basic) when set

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	out  *tailBuffer
}

// Launch starts Azurite's Blob service on a free loopback port and waits
// until it answers. When persistent is true the data lives under dir
// (--location dir) and survives Stop/Restart; otherwise the data is kept in
// memory and dir only serves as the working directory (empty: the system
// temporary directory). ctx bounds the start-up only: the service runs until
// Stop is called.
//
// The module root (holding go.mod) is found by walking up from the working
// directory; Azurite must be installed under infra/local (see InstallHint).
func Launch(ctx context.Context, dir string, persistent bool) (*Process, error) {
	return launch(ctx, dir, persistent, nil)
}

func launch(ctx context.Context, dir string, persistent bool, tls *tlsFiles) (*Process, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	script := filepath.Join(root, filepath.FromSlash(scriptPath))
	if _, err := os.Stat(script); err != nil {
		return nil, fmt.Errorf("%w: %s not found: %s", ErrNotInstalled, script, InstallHint)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("%w: node not found on PATH (Node 20 is needed): %s", ErrNotInstalled, InstallHint)
	}
	if dir == "" {
		if persistent {
			return nil, errors.New("azurite: a persistent Azurite needs a data directory")
		}
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("azurite: data directory: %w", err)
	}
	p := &Process{node: node, script: script, workDir: dir, persistent: persistent, tls: tls,
		HTTPClient: &http.Client{Timeout: time.Minute}}
	if tls != nil {
		p.HTTPClient.Transport = tls.transport()
	}

	// A free port can be taken by someone else between probing and binding;
	// try a few times before giving up.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		p.setPort(port)
		if lastErr = p.start(ctx); lastErr == nil {
			return p, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func (p *Process) setPort(port int) {
	scheme := "http"
	if p.tls != nil {
		scheme = "https"
	}
	p.Port = port
	p.BlobURL = fmt.Sprintf("%s://127.0.0.1:%d/%s", scheme, port, AccountName)
	p.ConnectionString = fmt.Sprintf("DefaultEndpointsProtocol=%s;AccountName=%s;AccountKey=%s;BlobEndpoint=%s;",
		scheme, AccountName, AccountKey, p.BlobURL)
}

func (p *Process) args() []string {
	args := []string{p.script,
		"--blobHost", "127.0.0.1",
		"--blobPort", strconv.Itoa(p.Port),
	}
	if p.tls != nil {
		args = append(args, "--oauth", "basic", "--cert", p.tls.cert, "--key", p.tls.key)
	}
	if p.persistent {
		args = append(args, "--location", p.workDir)
	} else {
		args = append(args, "--inMemoryPersistence")
	}
	// azblob v1.8 sends an API version newer than Azurite 3.35 knows;
	// telemetry would try to reach the internet.
	return append(args, "--skipApiVersionCheck", "--disableTelemetry")
}

// start runs node and waits until the service answers or ctx/readyTimeout ends.
func (p *Process) start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return errors.New("azurite: already running")
	}
	out := &tailBuffer{max: 8 << 10}
	cmd := exec.Command(p.node, p.args()...)
	cmd.Dir = p.workDir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("azurite: start node: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()

	if err := waitReady(ctx, p.HTTPClient, p.BlobURL, done); err != nil {
		killGroup(cmd)
		<-done
		return fmt.Errorf("azurite: azurite on port %d: %w; output: %s", p.Port, err, strings.TrimSpace(out.String()))
	}
	p.cmd, p.done, p.out = cmd, done, out
	return nil
}

// Stop terminates the service and everything it started (the whole process
// group) and waits for it to exit. Stopping a stopped Process is a no-op.
func (p *Process) Stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	terminateGroup(p.cmd)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		killGroup(p.cmd)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			return fmt.Errorf("azurite: azurite (pid %d) did not exit", p.cmd.Process.Pid)
		}
	}
	p.cmd, p.done = nil, nil
	// The port must be free again before a Restart binds it.
	return waitPortFree(p.Port, 5*time.Second)
}

// Restart stops the service (if running) and starts it again on the same
// port. A persistent Process keeps its data; an in-memory one starts empty.
func (p *Process) Restart(ctx context.Context) error {
	if err := p.Stop(); err != nil {
		return err
	}
	return p.start(ctx)
}

// Pid is the service's process id, 0 while stopped.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Output returns the last few KiB that Azurite wrote, for diagnostics.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out == nil {
		return ""
	}
	return p.out.String()
}

// waitReady polls until an HTTP request to the account gets any answer (an
// unauthenticated request gets 403, which proves the server is serving).
func waitReady(ctx context.Context, client *http.Client, blobURL string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		req, err := http.NewRequestWithContext(rctx, http.MethodGet, blobURL+"?comp=list", nil)
		if err != nil {
			rcancel()
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		rcancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("exited before becoming ready")
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func waitPortFree(port int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			return l.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("azurite: port %d still in use after stop: %w", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("azurite: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// moduleRoot walks up from the working directory to the directory holding
// go.mod, so tests in any package find infra/local.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("azurite: working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: no go.mod above the working directory, cannot locate %s: %s", ErrNotInstalled, scriptPath, InstallHint)
		}
		dir = parent
	}
}

// tailBuffer keeps the last max bytes written to it; safe for concurrent use
// by the process's stdout and stderr copiers.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
