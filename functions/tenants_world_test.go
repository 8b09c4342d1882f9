package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/customhandler"
	"github.com/vcc-ingest/vcc-ingest/shared/devhost"
	"github.com/vcc-ingest/vcc-ingest/shared/invoke/invoketest"
	"github.com/vcc-ingest/vcc-ingest/shared/local"
	"github.com/vcc-ingest/vcc-ingest/shared/message"
	"github.com/vcc-ingest/vcc-ingest/shared/ops"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/discover"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/tenancy"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/startup"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/tenants"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// tenantWorld is the custom handler over a tenants document as the product
// wires it (ops.Open, then steps().Handler over every tenant's adapters):
// one sandbox account per tenant, a local export, the embedded queue, the
// host stand-in delivering ingest and forwarding the events function.
type tenantWorld struct {
	t    *testing.T
	sims map[string]*vccsim.Sim
	env  *ops.Env
	logs *syncBuffer
	log  *slog.Logger
	h    http.Handler
	host *devhost.Host
	// getenv is the world's environment (each tenant's secrets).
	getenv func(string) string
	front  string // the host's HTTP front: POST front+/api/vcc/events/<id>
	out    string

	mu  sync.Mutex
	res []devhost.Result
}

// handler is the custom handler the world serves now.
func (w *tenantWorld) handler() http.Handler {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.h
}

// serveLive makes the world serve its tenants as the Function App does:
// the document uploaded to the state container as name, read through the
// live source, each tenant's adapters built by it (not by ops.Open).
func (w *tenantWorld) serveLive(name string) { w.serveLiveOver(name, w.env.State) }

// serveLiveOver is serveLive reading the document (and keeping the
// deployment's state) through st: a state that fails on demand.
func (w *tenantWorld) serveLiveOver(name string, st store.State) {
	w.t.Helper()
	data, err := json.Marshal(*w.env.Config.Tenants)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.env.State.Put(context.Background(), name, data); err != nil {
		w.t.Fatal(err)
	}
	cfg := w.env.Config
	cfg.Tenants, cfg.TenantsFile, cfg.TenantsBlob, cfg.TenantsRefresh = nil, "", name, time.Minute
	cfg.ExtraHosts = strings.Split(simOrigins(w.sims), ",") // as VCC_EXTRA_HOSTS would
	a := startup.Adapters{Config: cfg, Log: w.log, Queue: w.env.Embedded, Sink: w.env.Sink, State: st}
	h := customhandler.Over(a, tenancy.NewLive(a, w.getenv, nil))
	w.mu.Lock()
	w.h = h
	w.mu.Unlock()
}

// results are the ingest invocations so far.
func (w *tenantWorld) results() []devhost.Result {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]devhost.Result(nil), w.res...)
}

// newTenantWorld serves tenants ids over a day of perDay interactions each;
// setenv adjusts the environment (webhook secrets, a wrong client secret).
func newTenantWorld(t *testing.T, day time.Time, perDay int, setenv func(env map[string]string), ids ...string) *tenantWorld {
	t.Helper()
	w := &tenantWorld{t: t, sims: map[string]*vccsim.Sim{}, logs: &syncBuffer{}, out: t.TempDir()}
	var doc tenants.Document
	env := map[string]string{"FUNCTIONS_APP_ROOT_PATH": ".."}
	for i, id := range ids {
		sim := vccsim.New(vccsim.Options{Seed: int64(60 + i), Start: day, Days: 1, InteractionsPerDay: perDay,
			ClientID: "client-" + id, ClientSecret: "secret-of-" + id + "-41c2"})
		if err := sim.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sim.Close)
		w.sims[id] = sim
		doc.Tenants = append(doc.Tenants, tenants.Tenant{ID: id, Region: "emea", ClientID: sim.ClientID(), SecretName: "vcc-client-secret-" + id,
			RatePerMinute: 100000, TokenURL: sim.TokenURL(), APIURL: sim.APIURL(), OwnerUserID: sim.OwnerUserID()})
		env[tenants.SecretEnv(id)] = sim.ClientSecret()
	}
	data, _ := json.Marshal(doc)
	path := filepath.Join(t.TempDir(), "tenants.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	env["VCC_TENANTS_FILE"] = path
	if setenv != nil {
		setenv(env)
	}
	log := slog.New(slog.NewJSONHandler(w.logs, nil))
	var err error
	w.env, err = ops.Open(context.Background(), ops.Flags{Out: w.out, Data: t.TempDir()},
		ops.Need{VCC: true, Sink: true, State: true, Queue: true, Log: log, Write: true, AllTenants: true,
			Embedded: &queue.EmbeddedOptions{LockDuration: time.Minute}},
		io.Discard, io.Discard, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.env.Close)
	w.log, w.getenv = log, func(k string) string { return env[k] }
	w.h = customhandler.New(startup.Adapters{Config: w.env.Config, Log: log, Queue: w.env.Embedded, Sink: w.env.Sink, State: w.env.State, Tenants: w.env.Tenants})
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { w.handler().ServeHTTP(rw, r) }))
	t.Cleanup(srv.Close)
	w.host = &devhost.Host{BaseURL: srv.URL, Queue: w.env.Embedded, Workers: 4, Logger: log,
		OnResult: func(r devhost.Result) { w.mu.Lock(); w.res = append(w.res, r); w.mu.Unlock() },
		Pending: func() (int, error) {
			st, err := w.env.Embedded.Stats()
			return st.Active + st.Locked + st.Scheduled, err
		}}
	front := httptest.NewServer(w.host.HTTPHandler(local.EventsFunction))
	t.Cleanup(front.Close)
	w.front = front.URL
	return w
}

func (w *tenantWorld) tenant(id string) startup.Tenant {
	for _, t := range w.env.Tenants {
		if t.ID == id {
			return t
		}
	}
	w.t.Fatalf("no tenant %s", id)
	return startup.Tenant{}
}

// discoverDay enqueues tenant id's day as discover does.
func (w *tenantWorld) discoverDay(id string, day time.Time) {
	w.t.Helper()
	t := w.tenant(id)
	d := discover.New(t.VCC, w.env.Embedded, t.State, tenancy.DiscoverOptions(t.Config, t.Log))
	if _, err := d.Enqueue(context.Background(), day, day.Add(24*time.Hour), "test", time.Now()); err != nil {
		w.t.Fatal(err)
	}
}

func (w *tenantWorld) drain() {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := w.host.Drain(ctx, "ingest", 300*time.Millisecond); err != nil {
		w.t.Fatalf("drain: %v", err)
	}
}

// deadLetter puts a message of tenant's for guid on the dead-letter queue.
func (w *tenantWorld) deadLetter(tenant, guid string, start time.Time) {
	w.t.Helper()
	ctx := context.Background()
	body, _ := message.Encode(message.Body{InteractionID: guid, Start: &start, Tenant: tenant})
	q := w.env.Embedded
	if err := q.SendBatch(ctx, []queue.Outgoing{{ID: message.ID(tenant, guid) + ".dead", Body: body}}); err != nil {
		w.t.Fatal(err)
	}
	msgs, err := q.Receive(ctx, 1, time.Second)
	if err != nil || len(msgs) != 1 {
		w.t.Fatalf("receive: %v", err)
	}
	if err := q.DeadLetter(ctx, msgs[0], "MaxDeliveryCountExceeded", "test"); err != nil {
		w.t.Fatal(err)
	}
}

// invokeTimer calls a timer function as the host does.
func (w *tenantWorld) invokeTimer(function string) (int, []byte) {
	w.t.Helper()
	rec := httptest.NewRecorder()
	w.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/"+function, bytes.NewReader(invoketest.Fixture(w.t, "timer.json"))))
	return rec.Code, rec.Body.Bytes()
}

// logEvents are the JSON log lines whose msg is msg.
func (w *tenantWorld) logEvents(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(w.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// audioGUIDs are tenant id's interactions with audio the credential sees.
func (w *tenantWorld) audioGUIDs(id string) map[string]time.Time {
	out := map[string]time.Time{}
	for _, r := range w.sims[id].Recordings() {
		if r.Visible && isAudio(r.Type) && r.Audio {
			out[r.InteractionGUID] = r.Start
		}
	}
	return out
}

func (w *tenantWorld) String() string { return fmt.Sprintf("tenants %v", w.env.Config.TenantIDs()) }
