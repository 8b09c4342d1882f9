package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/azurite"
	"github.com/vcc-ingest/vcc-ingest/shared/config"
	"github.com/vcc-ingest/vcc-ingest/shared/devhost"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// isAudio is the product's default selection of content types.
var isAudio = config.Config{AudioTypes: strings.Split(config.DefaultAudioTypes, ",")}.IsAudio

// vccEndpoint is where a pipeline finds VCC.
type vccEndpoint struct {
	tokenURL, apiURL, clientID, secret string
}

// pipeline is the product wired as `handler local` wires it, in this
// process (the sandbox too, unless an endpoint is given): sandbox → discover → embedded queue → host stand-in → custom
// handler → ingest → Azurite. Each scenario gets its own containers.
type pipeline struct {
	sim    *vccsim.Sim
	client *vcc.Client
	blobs  *store.Blob
	queue  *queue.Embedded
	disc   Enqueuer
	host   *devhost.Host
	srv    *http.Server
	log    *os.File

	mu     sync.Mutex
	copied int   // recordings copied (records.Result.Copied)
	bytes  int64 // bytes copied
	failed int   // failed invocations
	done   []time.Time
	stored map[string]time.Time // interaction -> when its invocation stored it
}

type pipelineOptions struct {
	name          string // container prefix and log file name
	sim           vccsim.Options
	endpoint      *vccEndpoint     // a sandbox elsewhere instead of sim in this process
	azurite       *azurite.Process // instead of the run's shared Azurite
	ratePerMinute int              // the client's budget
	workers       int
	dupWindow     time.Duration // queue duplicate detection (0: 1h)
}

func (e *env) newPipeline(ctx context.Context, o pipelineOptions) (*pipeline, error) {
	p := &pipeline{}
	ok := false
	defer func() {
		if !ok {
			p.close()
		}
	}()
	dir, logf, log, err := e.scenarioDir(o.name)
	if err != nil {
		return nil, err
	}
	p.log = logf
	ep := o.endpoint
	if ep == nil {
		p.sim = vccsim.New(o.sim)
		if err := p.sim.Start(); err != nil {
			return nil, err
		}
		ep = &vccEndpoint{tokenURL: p.sim.TokenURL(), apiURL: p.sim.APIURL(), clientID: p.sim.ClientID(), secret: p.sim.ClientSecret()}
	}
	// Paced in this process alone: the scenario's sandbox account is
	// called by this one client and nothing else (startup.Pacer's rule).
	p.client, err = vcc.New(vcc.Config{
		TokenURL: ep.tokenURL, APIURL: ep.apiURL, ClientID: ep.clientID,
		Secret: secrets.Static(secrets.New(ep.secret)), RatePerMinute: o.ratePerMinute, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	az := e.az
	if o.azurite != nil {
		az = o.azurite
	}
	p.blobs, err = store.NewBlob(ctx, store.BlobConfig{
		ConnectionString: az.ConnectionString, Container: o.name + "-recordings", StateContainer: o.name + "-state",
		CreateContainers: true,
	})
	if err != nil {
		return nil, err
	}
	p.queue, err = queue.OpenEmbedded(filepath.Join(dir, "queue.db"), queue.EmbeddedOptions{
		LockDuration: 5 * time.Minute, MaxDeliveryCount: config.DefaultMaxAttempts, DuplicateWindow: o.dupWindow,
	})
	if err != nil {
		return nil, err
	}
	p.disc = e.product.Discover(p.client, p.queue, p.blobs.State(), log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.srv = &http.Server{Handler: e.product.Handler(p.client, p.queue, p.blobs, log), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	p.host = &devhost.Host{BaseURL: "http://" + ln.Addr().String(), Queue: p.queue, Workers: o.workers, Logger: log, OnResult: p.result,
		// Deferred copies wait on the queue for their time: not done yet.
		Pending: func() (int, error) {
			st, err := p.queue.Stats()
			return st.Active + st.Locked + st.Scheduled, err
		}}
	if err := p.host.WaitReady(ctx, 10*time.Second); err != nil {
		return nil, err
	}
	ok = true
	return p, nil
}

// scenarioDir makes the scenario's directory under the run's and opens its
// run.log, the JSON log of the product's work in it; the caller closes it.
func (e *env) scenarioDir(name string) (dir string, logf *os.File, log *slog.Logger, err error) {
	dir = filepath.Join(e.opts.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, nil, err
	}
	if logf, err = os.Create(filepath.Join(dir, "run.log")); err != nil {
		return "", nil, nil, err
	}
	return dir, logf, slog.New(slog.NewJSONHandler(logf, nil)), nil
}

func (p *pipeline) result(r devhost.Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !r.OK() {
		p.failed++
		return
	}
	var res records.Result
	if json.Unmarshal(r.ReturnValue, &res) == nil {
		p.copied += res.Copied
		p.bytes += res.Bytes
		for i := 0; i < res.Copied; i++ {
			p.done = append(p.done, time.Now())
		}
		if res.Outcome == records.Stored {
			if p.stored == nil {
				p.stored = map[string]time.Time{}
			}
			p.stored[res.InteractionID] = time.Now()
		}
	}
}

func (p *pipeline) tally() (copied int, bytes int64, failed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.copied, p.bytes, p.failed
}

// drain delivers until the queue stays empty for idle or ctx ends; ending
// by ctx is not an error here (the caller bounded the run on purpose).
func (p *pipeline) drain(ctx context.Context, idle time.Duration) error {
	_, err := p.host.Drain(ctx, "ingest", idle)
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// expectedRecordings is the sandbox's count of audio recordings visible to
// the credential: what a complete run stores.
func (p *pipeline) expectedRecordings() int {
	n := 0
	for _, r := range p.sim.Recordings() {
		if r.Visible && isAudio(r.Type) && r.Audio {
			n++
		}
	}
	return n
}

// apiCalls is the sandbox's count of API requests by endpoint: token
// requests and the redirect target (not a VCC API) left out.
func apiCalls(c vccsim.Counters) (map[string]int64, int64) {
	out := map[string]int64{}
	var total int64
	for ep, n := range c.ByEndpoint {
		if ep == vccsim.EndpointToken || ep == vccsim.EndpointRedirected || n == 0 {
			continue
		}
		out[ep] = n
		total += n
	}
	return out, total
}

func (p *pipeline) close() {
	if p.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = p.srv.Shutdown(ctx)
		cancel()
	}
	if p.queue != nil {
		_ = p.queue.Close()
	}
	if p.sim != nil {
		p.sim.Close()
	}
	if p.log != nil {
		_ = p.log.Close()
	}
}

func fmtCalls(calls map[string]int64, per float64) string {
	var parts []string
	for _, ep := range []string{vccsim.EndpointContentList, vccsim.EndpointStatsList, vccsim.EndpointUsersList,
		vccsim.EndpointContentGet, vccsim.EndpointStatsGet, vccsim.EndpointUsersGet, vccsim.EndpointContentDownload} {
		if n := calls[ep]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d (%.3f)", ep, n, float64(n)/per))
		}
	}
	return strings.Join(parts, ", ")
}
