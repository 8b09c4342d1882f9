package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/vcc-ingest/vcc-ingest/shared/azurite"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// copySize is the recording copied for the throughput comparison, and
// copyPairs the number of (ingest, raw) pairs measured per layout.
const (
	copySize  = 256 << 20
	copyPairs = 5
)

// 4. Copy throughput through ingest against a plain streaming GET→PUT of
// the same bytes with the same upload settings.
//
// The sandbox runs as a child process (`handler sandbox`), so that the
// stand-ins for the two remote services, the sandbox and Azurite, can be
// kept off the CPUs of the process that copies. In Azure the copying
// process has its CPUs to itself; here, on a small machine, the
// emulators' own work (Azurite parses, hashes and writes every block)
// would otherwise compete with ingest's hashing and make that cost look
// larger than it is. Both layouts are measured in the same run: the goal
// is checked on the isolated one, and the shared one is reported beside it.
// The scenario has an Azurite of its own, in memory: with the data on
// disk, the writeback of the gigabytes copied and deleted made the figures
// drift within a run, and the data earlier scenarios left behind weighed on
// them too.
func copyThroughput(ctx context.Context, e *env) ([]Result, error) {
	if e.product.Executable == "" {
		return nil, errors.New("no product executable to run the sandbox")
	}
	dir := filepath.Join(e.opts.Dir, "copy")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	sb, err := startSandboxProcess(ctx, e.product.Executable, dir, e.opts.Latency, copySize)
	if err != nil {
		return nil, err
	}
	defer sb.stop()
	azp, err := azurite.Launch(ctx, filepath.Join(dir, "azurite"), false)
	if err != nil {
		return nil, fmt.Errorf("azurite: %w", err)
	}
	defer azp.Stop()
	p, err := e.newPipeline(ctx, pipelineOptions{
		name: "copy", endpoint: &sb.endpoint, azurite: azp,
		ratePerMinute: unpacedBudget, workers: 1, dupWindow: time.Nanosecond,
	})
	if err != nil {
		return nil, err
	}
	defer p.close()
	az, err := azblob.NewClientFromConnectionString(azp.ConnectionString, nil)
	if err != nil {
		return nil, err
	}
	tok, err := sandboxToken(ctx, sb.endpoint)
	if err != nil {
		return nil, err
	}
	c := &copier{p: p, az: az, tok: tok, sb: sb}

	sharedRun, err := c.measure(ctx)
	if err != nil {
		return nil, err
	}
	isolatedRun, layout, err := measureIsolated(ctx, []int{azp.Pid(), sb.cmd.Process.Pid}, c.measure)
	if err != nil {
		return nil, err
	}
	shared := Result{ID: "copy.ratio_shared", Measure: "copy throughput, ingest / raw, all on shared CPUs", Value: sharedRun.ratio(),
		Valid: true, Note: sharedRun.describe() + "; the copying process, the sandbox and Azurite all on every CPU"}
	goalRun, goalLayout := isolatedRun, layout
	if isolatedRun == nil {
		// No isolation here: the goal is checked on what could be measured.
		goalRun, goalLayout = sharedRun, "the copying process, the sandbox and Azurite on shared CPUs ("+layout+")"
	}
	ratio := Result{ID: "copy.ratio", Measure: "copy throughput, ingest / raw GET→PUT", Value: goalRun.ratio(),
		Goal: Goal{">=", 0.9}, Valid: true, Note: goalRun.describe() + "; " + goalLayout}
	if !ratio.Goal.Check(ratio.Value) {
		ratio.Reason = fmt.Sprintf("ingest reached %.1f MB/s against %.1f MB/s raw (medians); its extra work over the raw copy is hashing every byte with SHA-256 and MD5 (about 2 CPU-ns a byte here, on a goroutine beside the upload), which slows the copy when no CPU is idle",
			median(goalRun.ingest), median(goalRun.raw))
	}
	cpuNote := fmt.Sprintf("user + system CPU of the copying process per GB copied, median of the pairs of the layout above (ingest %s; raw %s)",
		joinFloatsPrec(goalRun.ingestCPU, 2), joinFloatsPrec(goalRun.rawCPU, 2))
	return []Result{
		{ID: "copy.ingest", Measure: "copy throughput through ingest", Value: median(goalRun.ingest), Unit: "MB/s", Valid: true},
		{ID: "copy.raw", Measure: "copy throughput, raw GET→PUT baseline", Value: median(goalRun.raw), Unit: "MB/s", Valid: true},
		ratio, shared,
		{ID: "copy.cpu_ingest", Measure: "CPU per GB copied through ingest", Value: round2(median(goalRun.ingestCPU)), Unit: "s", Valid: true, Note: cpuNote},
		{ID: "copy.cpu_raw", Measure: "CPU per GB copied raw", Value: round2(median(goalRun.rawCPU)), Unit: "s", Valid: true},
	}, nil
}

// measureIsolated runs measure with Azurite and the sandbox on the first
// allowed CPU and this process on the others, and restores every mask
// afterwards. It returns nil and the reason when the machine cannot.
func measureIsolated(ctx context.Context, emulatorPids []int, measure func(context.Context) (*copyRun, error)) (*copyRun, string, error) {
	all, err := allowedCPUs()
	if err != nil {
		return nil, "no CPU affinity: " + err.Error(), nil
	}
	var cpus []int
	for i := 0; i < 1024 && len(cpus) < all.Count(); i++ {
		if all.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	if len(cpus) < 2 {
		return nil, "one CPU only, so no isolation", nil
	}
	var emulators, copying cpuSet
	emulators.Set(cpus[0])
	for _, c := range cpus[1:] {
		copying.Set(c)
	}
	pids := map[int]cpuSet{os.Getpid(): copying}
	for _, pid := range emulatorPids {
		pids[pid] = emulators
	}
	defer func() {
		for pid := range pids {
			_ = setAffinity(pid, all)
		}
	}()
	for pid, set := range pids {
		if err := setAffinity(pid, set); err != nil {
			return nil, "", err
		}
	}
	run, err := measure(ctx)
	layout := fmt.Sprintf("Azurite and the sandbox on CPU %d, the copying process (ingest, or the raw copy) on CPU %s", cpus[0], joinInts(cpus[1:]))
	return run, layout, err
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// processCPU is this process's user + system CPU time so far, in seconds.
func processCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func joinInts(v []int) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.Itoa(x)
	}
	return strings.Join(parts, ",")
}

// copier copies the sandbox's one large recording, through ingest or raw.
type copier struct {
	p   *pipeline
	az  *azblob.Client
	tok string
	sb  *sandboxProcess
}

// copyRun holds one layout's measurements pair by pair: MB/s, and the
// CPU seconds per GB this process spent (it holds only the copying: the
// sandbox and Azurite are processes of their own).
type copyRun struct {
	ingest, raw       []float64
	ingestCPU, rawCPU []float64
}

// ratio is the median of the pairs' ratios.
func (r *copyRun) ratio() float64 {
	ratios := make([]float64, len(r.ingest))
	for i := range r.ingest {
		ratios[i] = r.ingest[i] / r.raw[i]
	}
	return median(ratios)
}

func (r *copyRun) describe() string {
	ratios := make([]float64, len(r.ingest))
	for i := range r.ingest {
		ratios[i] = r.ingest[i] / r.raw[i]
	}
	return fmt.Sprintf("one %d MiB recording, sandbox → Azurite; median ratio of %d pairs of copies in alternating order after a warm-up pair (ratios %s; ingest %s MB/s; raw %s MB/s); upload block %d MiB × %d",
		copySize>>20, len(ratios), joinFloatsPrec(ratios, 3), joinFloats(r.ingest), joinFloats(r.raw), store.DefaultBlockSize>>20, store.DefaultConcurrency)
}

// measure copies the recording in pairs, through ingest and raw, the order
// flipping from pair to pair, after a warm-up pair that is not counted:
// the machine's drift (Azurite's disk, other load) cancels within a pair.
func (c *copier) measure(ctx context.Context) (*copyRun, error) {
	run := &copyRun{}
	for i := 0; i <= copyPairs; i++ {
		var ingestMBs, rawMBs, ingestCPU, rawCPU float64
		for _, throughIngest := range []bool{i%2 == 0, i%2 != 0} {
			before := processCPU()
			if throughIngest {
				mbs, err := c.throughIngest(ctx)
				if err != nil {
					return nil, fmt.Errorf("copy through ingest: %w", err)
				}
				ingestMBs, ingestCPU = mbs, (processCPU()-before)/(copySize/1e9)
				continue
			}
			mbs, err := c.raw(ctx, fmt.Sprintf("raw/%d.wav", i))
			if err != nil {
				return nil, fmt.Errorf("raw copy: %w", err)
			}
			rawMBs, rawCPU = mbs, (processCPU()-before)/(copySize/1e9)
		}
		if i > 0 {
			run.ingest, run.raw = append(run.ingest, ingestMBs), append(run.raw, rawMBs)
			run.ingestCPU, run.rawCPU = append(run.ingestCPU, ingestCPU), append(run.rawCPU, rawCPU)
		}
	}
	return run, nil
}

// throughIngest has discover send the recording's interaction and the host
// stand-in deliver it to the handler (ingest hashes, checks the length and
// commits conditionally), and returns the MB/s from delivery start to the
// recording's completion; it then deletes what ingest stored.
func (c *copier) throughIngest(ctx context.Context) (float64, error) {
	p := c.p
	if _, err := p.disc.Enqueue(ctx, day, day.Add(24*time.Hour), "bench", time.Now()); err != nil {
		return 0, err
	}
	copiedBefore, _, _ := p.tally()
	start := time.Now()
	if err := p.drain(ctx, 300*time.Millisecond); err != nil {
		return 0, err
	}
	p.mu.Lock()
	copied, end := p.copied, p.done[len(p.done)-1]
	p.mu.Unlock()
	if copied != copiedBefore+1 {
		return 0, fmt.Errorf("stored %d recordings, want 1", copied-copiedBefore)
	}
	for _, n := range []string{store.RecordingName(c.sb.start, c.sb.guid, vccsim.TypeCallRecording, "wav"), store.SidecarName(c.sb.start, c.sb.guid)} {
		if _, err := c.az.DeleteBlob(ctx, "copy-recordings", n, nil); err != nil {
			return 0, err
		}
	}
	return copySize / 1e6 / end.Sub(start).Seconds(), nil
}

// raw streams one download into a block blob with the product's upload
// settings and nothing else, and returns the MB/s.
func (c *copier) raw(ctx context.Context, name string) (float64, error) {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		c.sb.endpoint.apiURL+"/interaction-content/interactions/"+c.sb.guid+"/content/"+vccsim.TypeCallRecording, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.tok)
	req.Header.Set("Accept", vccsim.MediaV3)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("download: status %d", resp.StatusCode)
	}
	counted := &countingReader{r: resp.Body}
	_, err = c.az.ServiceClient().NewContainerClient("copy-recordings").NewBlockBlobClient(name).UploadStream(ctx, counted,
		&blockblob.UploadStreamOptions{BlockSize: store.DefaultBlockSize, Concurrency: store.DefaultConcurrency})
	if err != nil {
		return 0, err
	}
	secs := time.Since(start).Seconds()
	if counted.n != copySize {
		return 0, fmt.Errorf("copied %d bytes, want %d", counted.n, copySize)
	}
	_, _ = c.az.DeleteBlob(ctx, "copy-recordings", name, nil)
	return copySize / 1e6 / secs, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// sandboxToken gets a content-scoped token the way any OAuth client does.
func sandboxToken(ctx context.Context, ep vccEndpoint) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {vccsim.ScopeContent}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(ep.clientID), url.QueryEscape(ep.secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := decodeJSON(resp, &body); err != nil || body.AccessToken == "" {
		return "", fmt.Errorf("token: status %d: %v", resp.StatusCode, err)
	}
	return body.AccessToken, nil
}

// sandboxProcess is `handler sandbox` serving no generated interactions
// and one added with a recording of the copy's size.
type sandboxProcess struct {
	cmd      *exec.Cmd
	exited   chan struct{}
	endpoint vccEndpoint
	guid     string
	start    time.Time
	log      *os.File
}

func startSandboxProcess(ctx context.Context, exe, dir string, latency time.Duration, recordingBytes int64) (*sandboxProcess, error) {
	log, err := os.Create(filepath.Join(dir, "sandbox.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "sandbox", "--addr", "127.0.0.1:0", "--per-day", "0",
		"--day", day.Format("2006-01-02"), "--latency", latency.String(),
		"--add-recording", strconv.FormatInt(recordingBytes, 10))
	cmd.Env = baseEnv()
	cmd.Stderr = log
	cmd.SysProcAttr = childAttr()
	out, err := cmd.StdoutPipe()
	if err != nil {
		log.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("handler sandbox: %w", err)
	}
	sb := &sandboxProcess{cmd: cmd, exited: make(chan struct{}), log: log}
	settings := make(chan error, 1)
	go func() {
		settings <- sb.readSettings(out)
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
		close(sb.exited)
	}()
	select {
	case err = <-settings:
	case <-time.After(15 * time.Second):
		err = errors.New("no settings printed within 15s")
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		sb.stop()
		return nil, fmt.Errorf("handler sandbox: %w (log: %s)", err, log.Name())
	}
	return sb, nil
}

// readSettings reads the settings and the added interaction's line.
func (sb *sandboxProcess) readSettings(out io.Reader) error {
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		line := lines.Text()
		if rest, ok := strings.CutPrefix(line, vccsim.AddedPrefix+" "); ok {
			f := strings.Fields(rest)
			if len(f) != 3 {
				return fmt.Errorf("unexpected line %q", line)
			}
			t, err := time.Parse(time.RFC3339, f[1])
			if err != nil {
				return fmt.Errorf("unexpected line %q: %w", line, err)
			}
			sb.guid, sb.start = f[0], t
			if sb.endpoint.apiURL == "" || sb.endpoint.tokenURL == "" || sb.endpoint.clientID == "" || sb.endpoint.secret == "" {
				return errors.New("settings missing before the added interaction")
			}
			return nil
		}
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "VCC_TOKEN_URL":
			sb.endpoint.tokenURL = v
		case "VCC_API_URL":
			sb.endpoint.apiURL = v
		case "VCC_CLIENT_ID":
			sb.endpoint.clientID = v
		case "VCC_CLIENT_SECRET":
			sb.endpoint.secret = v
		}
	}
	if err := lines.Err(); err != nil {
		return err
	}
	return errors.New("exited before printing its settings")
}

// stop interrupts the sandbox (it stops on SIGINT) and waits; a sandbox
// that does not exit within 5s is killed.
func (sb *sandboxProcess) stop() {
	_ = sb.cmd.Process.Signal(os.Interrupt)
	select {
	case <-sb.exited:
	case <-time.After(5 * time.Second):
		_ = sb.cmd.Process.Kill()
		<-sb.exited
	}
	sb.log.Close()
}
