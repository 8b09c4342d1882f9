package bench

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
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// 3. Streaming memory: peak RSS of a `handler local` process that ingests
// one 10 MiB and, separately, one 1 GiB recording. The sandbox runs in this
// process, so the child holds only the product (client, handler, host
// stand-in, embedded queue, upload buffers).
func streamingMemory(ctx context.Context, e *env) ([]Result, error) {
	if e.product.Executable == "" {
		return nil, errors.New("no product executable to run")
	}
	sim := vccsim.New(vccsim.Options{Seed: 5, Start: day, InteractionsPerDay: -1, Latency: e.opts.Latency})
	if err := sim.Start(); err != nil {
		return nil, err
	}
	defer sim.Close()
	small, large := day.Add(time.Hour), day.Add(3*time.Hour)
	sim.AddInteraction(small, "inbound", 10<<20)
	sim.AddInteraction(large, "inbound", 1<<30)

	peak := func(name string, at time.Time) (float64, time.Duration, error) {
		dir := filepath.Join(e.opts.Dir, "memory", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return 0, 0, err
		}
		cmd := exec.CommandContext(ctx, e.product.Executable, "local",
			"--from", at.Add(-30*time.Minute).Format(time.RFC3339), "--to", at.Add(30*time.Minute).Format(time.RFC3339),
			"--data", dir, "--idle", "300ms")
		cmd.Env = append(baseEnv(),
			"VCC_TOKEN_URL="+sim.TokenURL(), "VCC_API_URL="+sim.APIURL(),
			"VCC_CLIENT_ID="+sim.ClientID(), "VCC_CLIENT_SECRET="+sim.ClientSecret(),
			"RECORDINGS_CONNECTION_STRING="+e.az.ConnectionString,
			"RECORDINGS_CONTAINER=memory-recordings", "STATE_CONTAINER=memory-state")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return 0, 0, fmt.Errorf("handler local (%s): %w\n%s", name, err, tail(out.Bytes(), 2000))
		}
		ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		if !ok {
			return 0, 0, errors.New("no resource usage for the child on this platform")
		}
		return float64(ru.Maxrss) / 1024, time.Since(start), nil // Linux reports KiB
	}
	rssSmall, tSmall, err := peak("10MiB", small)
	if err != nil {
		return nil, err
	}
	rssLarge, tLarge, err := peak("1GiB", large)
	if err != nil {
		return nil, err
	}
	note := fmt.Sprintf("ru_maxrss of `handler local --from --to` over a window holding one recording (default 8 workers, upload block 4 MiB × 2); runs took %.1fs and %.1fs",
		tSmall.Seconds(), tLarge.Seconds())
	total := Result{ID: "memory.1gib", Measure: "peak RSS ingesting a 1 GiB recording", Value: round1(rssLarge), Unit: "MiB",
		Goal: Goal{"<", 64}, Valid: true, Note: note}
	diff := Result{ID: "memory.diff", Measure: "peak RSS difference, 1 GiB − 10 MiB", Value: round1(rssLarge - rssSmall), Unit: "MiB",
		Goal: Goal{"<", 16}, Valid: true}
	return []Result{
		{ID: "memory.10mib", Measure: "peak RSS ingesting a 10 MiB recording", Value: round1(rssSmall), Unit: "MiB", Valid: true},
		total, diff,
	}, nil
}

// coldStarts is how many times the executable is started.
const coldStarts = 20

// 6. Cold start: from exec of `handler serve` with the settings it has in
// Azure (Service Bus namespace, Key Vault, managed identity, account URL;
// none of which is contacted before the first invocation) to its first 200
// on GET /, the host's readiness probe.
func coldStart(ctx context.Context, e *env) ([]Result, error) {
	if e.product.Executable == "" {
		return nil, errors.New("no product executable to run")
	}
	var times []float64
	client := &http.Client{Timeout: 200 * time.Millisecond}
	for i := 0; i < coldStarts; i++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		cmd := exec.CommandContext(ctx, e.product.Executable, "serve")
		cmd.Env = append(baseEnv(),
			"FUNCTIONS_CUSTOMHANDLER_PORT="+strconv.Itoa(port),
			"VCC_CLIENT_ID=bench-client",
			"VCC_TOKEN_URL=http://127.0.0.1:9/Auth/connect/token", "VCC_API_URL=http://127.0.0.1:9",
			"KEY_VAULT_URI=https://bench-vault.vault.azure.net/",
			"AZURE_CLIENT_ID=00000000-0000-0000-0000-000000000001",
			"ServiceBusConnection__fullyQualifiedNamespace=bench-ns.servicebus.windows.net",
			"RECORDINGS_ACCOUNT_URL=https://benchaccount.blob.core.windows.net")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		url := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		err = waitReady(ctx, client, url, 10*time.Second)
		elapsed := time.Since(start)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if err != nil {
			return nil, fmt.Errorf("handler serve never answered: %w\n%s", err, tail(out.Bytes(), 2000))
		}
		times = append(times, float64(elapsed.Microseconds())/1000)
	}
	s := slices.Clone(times)
	slices.Sort(s)
	med := median(times)
	res := Result{ID: "coldstart.median", Measure: "cold start to first readiness answer (median)", Value: round1(med), Unit: "ms",
		Goal: Goal{"<=", 50}, Valid: true,
		Note: fmt.Sprintf("%d starts of `handler serve` with Azure's settings (Service Bus, Key Vault, managed identity, account URL; none contacted before the first invocation), exec to first 200 on GET /, binary in the page cache; min %.1f, p90 %.1f, max %.1f ms",
			coldStarts, s[0], s[len(s)*9/10-1], s[len(s)-1])}
	return []Result{res}, nil
}

// waitReady polls url every 0.2 ms until it answers 200 (the caller takes
// the time: its clock starts before exec).
func waitReady(ctx context.Context, client *http.Client, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(200 * time.Microsecond)
	}
	return errors.New("timed out")
}

// baseEnv is the environment a child needs to run, and nothing that could
// change the product's settings.
func baseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }
