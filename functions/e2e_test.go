package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/vcc-ingest/vcc-ingest/shared/azuritetest"
	"github.com/vcc-ingest/vcc-ingest/shared/customhandler"
	"github.com/vcc-ingest/vcc-ingest/shared/devhost"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/discover"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/ingest"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// pipeline is the whole product wired in-process the way `handler local`
// wires it: VCC sandbox → discover → embedded queue → ingest over the
// custom-handler HTTP protocol → Azurite.
type pipeline struct {
	t       *testing.T
	sim     *vccsim.Sim
	secret  *rotatingSecret
	client  *vcc.Client
	blobs   *store.Blob
	az      *azuritetest.Azurite
	queue   *queue.Embedded
	srv     customhandler.Steps
	host    *devhost.Host
	logs    *syncBuffer
	mu      sync.Mutex
	results []devhost.Result
}

// rotatingSecret behaves like the Key Vault source: it caches the value and
// reads the vault again only when asked for a fresh one. set changes the
// vault's value, as an operator rotating the secret does.
type rotatingSecret struct {
	mu         sync.Mutex
	value      string
	cached     string
	freshReads int
}

func (r *rotatingSecret) Secret(_ context.Context, fresh bool) (secrets.Secret, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if fresh || r.cached == "" {
		if fresh {
			r.freshReads++
		}
		r.cached = r.value
	}
	return secrets.New(r.cached), nil
}

func (r *rotatingSecret) set(v string) {
	r.mu.Lock()
	r.value = v
	r.mu.Unlock()
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var audioTypes = map[string]bool{"callRecording": true, "voicemail": true, "ivrAudioRecording": true}

func isAudio(t string) bool { return audioTypes[t] }

func newPipeline(t *testing.T, opts vccsim.Options) *pipeline {
	t.Helper()
	p := &pipeline{t: t, logs: &syncBuffer{}}
	p.sim = vccsim.New(opts)
	if err := p.sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.sim.Close)
	p.az = azuritetest.Start(t)
	log := slog.New(slog.NewJSONHandler(p.logs, nil))

	p.secret = &rotatingSecret{value: vccsim.DefaultClientSecret}
	var err error
	p.client, err = vcc.New(vcc.Config{
		TokenURL: p.sim.TokenURL(), APIURL: p.sim.APIURL(), ClientID: vccsim.DefaultClientID,
		Secret: p.secret, RatePerMinute: 600000, BackoffBase: time.Millisecond, BackoffMax: 20 * time.Millisecond,
		Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p.blobs, err = store.NewBlob(ctx, store.BlobConfig{
		ConnectionString: p.az.ConnectionString, Container: "recordings", StateContainer: "vcc-ingest-state",
		CreateContainers: true, BlockSize: 1 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	p.queue, err = queue.OpenEmbedded(filepath.Join(t.TempDir(), "queue.db"), queue.EmbeddedOptions{
		LockDuration: time.Minute, MaxDeliveryCount: 5, DuplicateWindow: 24 * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.queue.Close() })

	p.srv = customhandler.Steps{
		Discover: discover.New(p.client, p.queue, p.blobs.State(), discover.Options{
			Lookback: 24 * time.Hour, Overlap: time.Hour, Settle: 10 * time.Minute, IsAudio: isAudio, Logger: log,
		}),
		Ingest: ingest.New(p.client, p.blobs, p.blobs.State(), ingest.Options{IsAudio: isAudio, Logger: log}),
		Log:    log,
	}
	// Built per request: tests swap steps in p.srv after start-up.
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		customhandler.Serve(p.srv).ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	p.host = &devhost.Host{BaseURL: hs.URL, Queue: p.queue, Workers: 4, Logger: log, OnResult: func(r devhost.Result) {
		p.mu.Lock()
		p.results = append(p.results, r)
		p.mu.Unlock()
	}}
	t.Cleanup(func() { p.checkNoSecretsInLogs() })
	return p
}

func (p *pipeline) enqueueDay(day time.Time) records.Run {
	p.t.Helper()
	run, err := p.srv.Discover.(*discover.Discoverer).Enqueue(context.Background(), day, day.Add(24*time.Hour), "test", time.Now())
	if err != nil {
		p.t.Fatalf("enqueue: %v", err)
	}
	return run
}

func (p *pipeline) drain() {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := p.host.Drain(ctx, "ingest", 300*time.Millisecond); err != nil {
		p.t.Fatalf("drain: %v", err)
	}
}

// expectedAudio is the sandbox's ground truth of the audio recordings the
// product must copy (visible to the credential, of an audio type).
func (p *pipeline) expectedAudio() []vccsim.Recording {
	var out []vccsim.Recording
	for _, r := range p.sim.Recordings() {
		if r.Visible && isAudio(r.Type) && r.Audio {
			out = append(out, r)
		}
	}
	return out
}

// checkStored verifies every expected recording byte for byte (SHA-256 of
// the blob's content against the sandbox's), its sidecar, and that nothing
// else is in the container.
func (p *pipeline) checkStored(want []vccsim.Recording) {
	p.t.Helper()
	ctx := context.Background()
	client, err := azblob.NewClientFromConnectionString(p.az.ConnectionString, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	expected := map[string]vccsim.Recording{}
	sidecars := map[string]bool{}
	for _, r := range want {
		name := store.RecordingName(r.Start, r.InteractionGUID, r.ContentKey, store.ExtensionFor(r.ContentType))
		expected[name] = r
		sidecars[store.SidecarName(r.Start, r.InteractionGUID)] = true
	}
	seen := map[string]bool{}
	pager := client.NewListBlobsFlatPager("recordings", nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			p.t.Fatal(err)
		}
		for _, b := range page.Segment.BlobItems {
			seen[*b.Name] = true
		}
	}
	for name, r := range expected {
		if !seen[name] {
			p.t.Errorf("recording %s missing", name)
			continue
		}
		resp, err := client.DownloadStream(ctx, "recordings", name, nil)
		if err != nil {
			p.t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		resp.Body.Close()
		if err != nil {
			p.t.Fatal(err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != r.SHA256 || n != r.Size {
			p.t.Errorf("%s: %d bytes sha256 %s, want %d bytes %s", name, n, got, r.Size, r.SHA256)
		}
	}
	for name := range seen {
		if _, ok := expected[name]; !ok && !sidecars[name] {
			p.t.Errorf("unexpected blob %s", name)
		}
	}
	for name := range sidecars {
		if !seen[name] {
			p.t.Errorf("sidecar %s missing", name)
		}
	}
}

func (p *pipeline) sidecar(r vccsim.Recording) records.Sidecar {
	p.t.Helper()
	data, found, err := p.blobs.GetSidecar(context.Background(), store.SidecarName(r.Start, r.InteractionGUID))
	if err != nil || !found {
		p.t.Fatalf("sidecar of %s: found=%v err=%v", r.InteractionGUID, found, err)
	}
	var s records.Sidecar
	if err := json.Unmarshal(data, &s); err != nil {
		p.t.Fatal(err)
	}
	return s
}

func (p *pipeline) deadLetters() []*queue.Message {
	p.t.Helper()
	dead, err := p.queue.PeekDeadLetters(context.Background(), 10000)
	if err != nil {
		p.t.Fatal(err)
	}
	return dead
}

// checkNoSecretsInLogs: neither the client secret nor any token may appear
// in what the product logged.
func (p *pipeline) checkNoSecretsInLogs() {
	logs := p.logs.String()
	for _, s := range []string{vccsim.DefaultClientSecret, p.secret.value} {
		if s != "" && strings.Contains(logs, s) {
			p.t.Errorf("logs contain the client secret")
		}
	}
	for _, tok := range p.sim.IssuedTokens() {
		if strings.Contains(logs, tok) {
			p.t.Errorf("logs contain an access token")
		}
	}
}

func deleteBlob(t *testing.T, p *pipeline, container, name string) {
	t.Helper()
	client, err := azblob.NewClientFromConnectionString(p.az.ConnectionString, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.DeleteBlob(context.Background(), container, name, nil); err != nil {
		t.Fatal(err)
	}
}
