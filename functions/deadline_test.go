package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/customhandler"
	"github.com/vcc-ingest/vcc-ingest/shared/devhost"
	"github.com/vcc-ingest/vcc-ingest/shared/local"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/ingest"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// stallingFirstDownload is VCC whose first download of each item stalls
// (a slow network) for far longer than the invocation deadline.
type stallingFirstDownload struct {
	*vcc.Client
	mu   sync.Mutex
	seen map[string]bool
}

func (s *stallingFirstDownload) Download(ctx context.Context, guid, key string) (*vcc.Download, error) {
	d, err := s.Client.Download(ctx, guid, key)
	if err != nil {
		return d, err
	}
	s.mu.Lock()
	first := !s.seen[guid+"/"+key]
	s.seen[guid+"/"+key] = true
	s.mu.Unlock()
	if first {
		d.Body = &stallingBody{ReadCloser: d.Body, ctx: ctx, read: 4 << 10}
	}
	return d, nil
}

// stallingBody yields a few bytes, then blocks until its request ends, as
// a stalled HTTP body does.
type stallingBody struct {
	io.ReadCloser
	ctx  context.Context
	read int
}

func (b *stallingBody) Read(p []byte) (int, error) {
	if b.read > 0 {
		n, err := b.ReadCloser.Read(p[:min(len(p), b.read)])
		b.read -= n
		return n, err
	}
	select {
	case <-b.ctx.Done():
		return 0, b.ctx.Err()
	case <-time.After(time.Minute):
		return b.ReadCloser.Read(p)
	}
}

// An ingest that overruns its invocation deadline answers non-2xx on its
// own, before the host would restart the process; it commits nothing, and
// the next delivery copies the recording whole.
func TestIngestStopsAtTheInvocationDeadline(t *testing.T) {
	p := newPipeline(t, vccsim.Options{Seed: 17, Start: day, Days: 1, InteractionsPerDay: 4})
	log := p.srv.Log
	p.srv.Ingest = ingest.New(&stallingFirstDownload{Client: p.client, seen: map[string]bool{}}, p.blobs, p.blobs.State(), ingest.Options{IsAudio: isAudio, Logger: log})
	const deadline = time.Second
	p.srv.Deadline = deadline

	var mu sync.Mutex
	var failed []devhost.Result
	blobsAtFailure := map[string]int{}
	prev := p.host.OnResult
	p.host.OnResult = func(r devhost.Result) {
		prev(r)
		if r.OK() {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		failed = append(failed, r)
		blobsAtFailure[r.MessageID] = countBlobs(t, p.az)
	}
	run := p.enqueueDay(day)
	if run.Enqueued == 0 {
		t.Fatal("nothing enqueued")
	}
	p.drain()

	mu.Lock()
	defer mu.Unlock()
	if len(failed) < run.Enqueued {
		t.Fatalf("%d failed deliveries for %d messages: the stalled copies were not cut at the deadline", len(failed), run.Enqueued)
	}
	for _, r := range failed {
		var f records.InvocationFailure
		_ = json.Unmarshal(r.ReturnValue, &f)
		if f.Permanent || !strings.Contains(f.Error, "invocation deadline passed") {
			t.Errorf("%s: failure %+v, want a transient one naming the deadline", r.MessageID, f)
		}
		if r.Status == 0 {
			t.Errorf("%s: the handler did not answer (status 0): the host would have restarted it", r.MessageID)
		}
	}
	if n := blobsAtFailure[failed[0].MessageID]; n != 0 {
		t.Errorf("%d recordings committed when the first copy ran out of time, want none", n)
	}
	p.checkStored(p.expectedAudio())
	if dead := p.deadLetters(); len(dead) != 0 {
		t.Errorf("%d dead letters", len(dead))
	}
}

// Without the handler's own deadline, a stalled copy runs into the host's
// functionTimeout: the local host restarts the handler, as the Functions
// host does, failing every invocation in flight; the messages come back and
// every recording is stored whole, none dead-lettered.
func TestHostRestartAfterTimeoutLosesNothing(t *testing.T) {
	p := newPipeline(t, vccsim.Options{Seed: 20, Start: day, Days: 1, InteractionsPerDay: 6})
	p.srv.Ingest = ingest.New(&stallingFirstDownload{Client: p.client, seen: map[string]bool{}}, p.blobs, p.blobs.State(), ingest.Options{IsAudio: isAudio, Logger: p.srv.Log})
	p.srv.Deadline = 0 // a handler that does not bound itself
	proc := &local.HandlerProcess{Handler: customhandler.Serve(p.srv), Log: p.srv.Log}
	url, err := proc.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proc.Stop(0) })
	p.host.BaseURL = url
	p.host.FunctionTimeout = 1500 * time.Millisecond
	p.host.Restart = func(context.Context) (string, error) {
		proc.Stop(0)
		return proc.Start()
	}
	run := p.enqueueDay(day)
	p.drain()
	if p.host.Restarts() == 0 {
		t.Fatal("no restart: the stalled copies did not reach functionTimeout")
	}
	failed := 0
	p.mu.Lock()
	for _, r := range p.results {
		if !r.OK() {
			failed++
		}
	}
	p.mu.Unlock()
	if failed < run.Enqueued {
		t.Errorf("%d failed deliveries for %d messages in flight at the restart", failed, run.Enqueued)
	}
	p.checkStored(p.expectedAudio())
	if dead := p.deadLetters(); len(dead) != 0 {
		t.Errorf("%d dead letters", len(dead))
	}
	t.Logf("%d restarts, %d failed deliveries, %d messages", p.host.Restarts(), failed, run.Enqueued)
}
