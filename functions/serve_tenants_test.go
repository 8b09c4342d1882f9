package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/azuritetest"
	"github.com/vcc-ingest/vcc-ingest/shared/invoke/invoketest"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/tenants"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// These tests run `handler serve` as the host starts it, over Azurite and
// sandbox accounts, with the tenants document in the state container. The
// Service Bus namespace is a name only: ingest sends nothing unless it
// puts a delivery off, and the sandboxes' day lies outside discover's
// window, so discover lists and enqueues nothing. What only Azure shows:
// each tenant's secret read from Key Vault by secretName with the app's
// identity (here VCC_CLIENT_SECRET_<ID>), and the state container's role.

// served is one `handler serve` over env.
type served struct {
	t              *testing.T
	base           string
	stdout, stderr *syncBuffer
	blobs          *store.Blob
	stop           func() int
}

// startServed starts `handler serve` with env plus the settings of az
// and a free port, once Azurite's containers exist.
func startServed(t *testing.T, az *azuritetest.Azurite, env map[string]string) *served {
	t.Helper()
	blobs, err := store.NewBlob(context.Background(), store.BlobConfig{ConnectionString: az.ConnectionString,
		Container: "recordings", StateContainer: "vcc-ingest-state", CreateContainers: true})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	env["FUNCTIONS_CUSTOMHANDLER_PORT"] = strconv.Itoa(port)
	env["ServiceBusConnection__fullyQualifiedNamespace"] = "example.servicebus.windows.net"
	env["RECORDINGS_CONNECTION_STRING"] = az.ConnectionString
	s := &served{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port), stdout: &syncBuffer{}, stderr: &syncBuffer{}, blobs: blobs}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, s.stdout, s.stderr, func(k string) string { return env[k] })
	}()
	stopped := false
	s.stop = func() int {
		if stopped {
			return 0
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { s.stop() })
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(25 * time.Millisecond) {
		if r, err := http.Get(s.base + "/"); err == nil {
			r.Body.Close()
			return s
		}
		select {
		case status := <-done:
			t.Fatalf("serve exited %d:\n%s", status, s.stderr.String())
		default:
		}
	}
	t.Fatalf("not ready; stderr:\n%s", s.stderr.String())
	return nil
}

// upload replaces the tenants document.
func (s *served) upload(doc tenants.Document) {
	s.t.Helper()
	data, _ := json.Marshal(doc)
	if err := s.blobs.State().Put(context.Background(), "tenants.json", data); err != nil {
		s.t.Fatal(err)
	}
}

// invoke posts a host-shaped invocation and decodes its answer.
func (s *served) invoke(function string, payload []byte) (int, invocationAnswer) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.base+"/"+function, bytes.NewReader(payload))
	req.Header.Set("X-Azure-Functions-InvocationId", "0f4c2c55-3c6e-4a7b-9d8d-3f0c1f0b6c2e")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var a invocationAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		s.t.Fatalf("%s answered %d, not an invocation response: %s", function, resp.StatusCode, body)
	}
	return resp.StatusCode, a
}

type invocationAnswer struct {
	Logs        []string
	ReturnValue json.RawMessage
}

func (a invocationAnswer) failure() records.InvocationFailure {
	var f records.InvocationFailure
	_ = json.Unmarshal(a.ReturnValue, &f)
	return f
}

// ingestFor is the host's payload for tenant's interaction guid.
func ingestFor(t *testing.T, tenant, guid string) []byte {
	payload := strings.ReplaceAll(string(invoketest.Fixture(t, "servicebus.json")), "2480fc2c-7a3b-4b5e-9c61-0d2f4e8a1b7c", guid)
	return []byte(strings.Replace(payload, `\\\"v\\\":1,`, `\\\"v\\\":1,\\\"tenant\\\":\\\"`+tenant+`\\\",`, 1))
}

func stored(t *testing.T, s *served, prefix string) []string {
	t.Helper()
	var names []string
	if err := s.blobs.List(context.Background(), prefix, func(n string) error { names = append(names, n); return nil }); err != nil {
		t.Fatal(err)
	}
	return names
}

// someAudio is n guids of sim's interactions with audio, in order.
func someAudio(sim *vccsim.Sim, n int) []string {
	var guids []string
	for g := range visibleAudio(sim) {
		guids = append(guids, g)
	}
	sort.Strings(guids)
	return guids[:n]
}

// docOf is the document of sims' tenants ids, in that order.
func docOf(t *testing.T, path string, ids ...string) tenants.Document {
	t.Helper()
	all, err := tenants.LoadWith(path, tenants.Hosts{Loopback: true}) // the sandboxes, on loopback
	if err != nil {
		t.Fatal(err)
	}
	var d tenants.Document
	for _, id := range ids {
		tn, ok := all.Get(id)
		if !ok {
			t.Fatalf("no tenant %s", id)
		}
		d.Tenants = append(d.Tenants, tn)
	}
	return d
}

// The Function App serves the tenants document of the state container: a
// tenant added by uploading a new document is served without a restart
// (its first message makes the document be read again), the tenants that
// did not change keep their VCC client (one token across versions), a
// removed tenant's message is a permanent failure naming the removal, and
// an invalid document leaves the previous version served while discover
// fails naming the problem. No secret reaches any output.
func TestServeTenantsDocument(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	sims, path := tenantSims(t, day, 6, "acme", "globex")
	az := azuritetest.Start(t)
	env := map[string]string{
		"VCC_TENANTS_BLOB":         "tenants.json",
		"VCC_EXTRA_HOSTS":          simOrigins(sims),
		"VCC_TENANTS_REFRESH":      "1s",
		"VCC_CLIENT_SECRET_ACME":   sims["acme"].ClientSecret(),
		"VCC_CLIENT_SECRET_GLOBEX": sims["globex"].ClientSecret(),
	}
	s := startServed(t, az, env)
	s.upload(docOf(t, path, "acme"))
	acme, globex := someAudio(sims["acme"], 3), someAudio(sims["globex"], 2)

	if code, a := s.invoke("ingest", ingestFor(t, "acme", acme[0])); code != http.StatusOK {
		t.Fatalf("acme: %d %s\n%s", code, a.ReturnValue, s.stderr.String())
	}
	if names := stored(t, s, "acme/"); len(names) == 0 {
		t.Fatal("nothing stored under acme/")
	}

	// globex added: its first message is served, no restart.
	s.upload(docOf(t, path, "acme", "globex"))
	if code, a := s.invoke("ingest", ingestFor(t, "globex", globex[0])); code != http.StatusOK {
		t.Fatalf("globex after its upload: %d %s\n%s", code, a.ReturnValue, s.stderr.String())
	}
	if names := stored(t, s, "globex/"); len(names) == 0 || !strings.Contains(strings.Join(names, " "), globex[0]) {
		t.Fatalf("globex's recording is not under globex/: %v", names)
	}
	if code, _ := s.invoke("ingest", ingestFor(t, "acme", acme[1])); code != http.StatusOK {
		t.Fatalf("acme on the second version: %d", code)
	}
	if n := sims["acme"].Counters().TokenRequests; n != 1 {
		t.Errorf("acme's sandbox saw %d token requests across two versions, want 1 (its client kept)", n)
	}

	// An invalid document: a secret pasted as a secretName, a missing budget.
	bad := docOf(t, path, "acme", "globex")
	bad.Tenants[1].SecretName = sims["globex"].ClientSecret() + " pasted"
	bad.Tenants[1].RatePerMinute = 0
	s.upload(bad)
	calls := requests(sims["globex"])
	problem := waitDiscoverFails(t, s, "tenant globex")
	if requests(sims["globex"]) == calls {
		t.Error("the failing discover tick did not run the tenants of the version served")
	}
	for _, want := range []string{"tenants.json (version", "tenant globex: secretName", "tenant globex: ratePerMinute", "were served"} {
		if !strings.Contains(problem, want) {
			t.Errorf("discover's failure does not say %q: %s", want, problem)
		}
	}
	if !strings.Contains(s.stderr.String(), `"msg":"tenants document not served; serving the previous version"`) {
		t.Errorf("the invalid document is not logged at Error:\n%s", s.stderr.String())
	}
	if code, a := s.invoke("ingest", ingestFor(t, "globex", globex[1])); code != http.StatusOK {
		t.Fatalf("globex while the new document is invalid: %d %s", code, a.ReturnValue)
	}

	// acme removed.
	s.upload(docOf(t, path, "globex"))
	waitDiscover(t, s, func(code int, run records.Run) bool { return code == http.StatusOK && len(run.Tenants) == 1 })
	code, a := s.invoke("ingest", ingestFor(t, "acme", acme[2]))
	if f := a.failure(); code != http.StatusInternalServerError || !f.Permanent || !strings.Contains(f.Error, `tenant "acme" was removed from the tenants document tenants.json`) {
		t.Fatalf("removed acme: %d %+v", code, f)
	}
	data, _, found, err := s.blobs.State().Load(context.Background(), records.FailureName(acme[2]))
	if err != nil || !found || !strings.Contains(string(data), "removed") {
		t.Errorf("the failure record of the removed tenant's message: found %v %v %s", found, err, data)
	}
	if n := sims["acme"].Counters().TokenRequests; n != 1 {
		t.Errorf("acme's sandbox: %d token requests", n)
	}

	if status := s.stop(); status != 0 {
		t.Errorf("serve exited %d", status)
	}
	for _, text := range []string{s.stdout.String(), s.stderr.String()} {
		for id, sim := range sims {
			if strings.Contains(text, sim.ClientSecret()) {
				t.Errorf("tenant %s's secret appears in the output", id)
			}
		}
	}
}

// Without a valid tenants document at all, ingest puts the message off
// (here the queue is a name only, so the copy is refused and the delivery
// fails transiently: retried, not dead-lettered) and discover fails naming
// the document; once it is uploaded, both work.
func TestServeTenantsDocumentMissing(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	sims, path := tenantSims(t, day, 6, "acme")
	az := azuritetest.Start(t)
	s := startServed(t, az, map[string]string{
		"VCC_TENANTS_BLOB":       "tenants.json",
		"VCC_EXTRA_HOSTS":        simOrigins(sims),
		"VCC_CLIENT_SECRET_ACME": sims["acme"].ClientSecret(),
	})
	guid := someAudio(sims["acme"], 1)[0]
	code, a := s.invoke("ingest", ingestFor(t, "acme", guid))
	if f := a.failure(); code != http.StatusInternalServerError || f.Permanent || !strings.Contains(f.Error, "tenants.json: not found") {
		t.Fatalf("ingest without a document: %d %+v", code, f)
	}
	if _, _, found, _ := s.blobs.State().Load(context.Background(), records.FailureName(guid)); found {
		t.Error("a transient failure wrote a failure record")
	}
	code, a = s.invoke("discover", invoketest.Fixture(t, "timer.json"))
	if f := a.failure(); code != http.StatusInternalServerError || !strings.Contains(f.Error, "no tenants served: tenants document tenants.json: not found in the state container") {
		t.Fatalf("discover without a document: %d %+v", code, f)
	}
	s.upload(docOf(t, path, "acme"))
	waitDiscover(t, s, func(code int, run records.Run) bool { return code == http.StatusOK })
	if code, a := s.invoke("ingest", ingestFor(t, "acme", guid)); code != http.StatusOK {
		t.Fatalf("ingest once uploaded: %d %s", code, a.ReturnValue)
	}
}

// simOrigins is VCC_EXTRA_HOSTS naming the sandboxes: the Function App
// sends a tenant's credential to no other host than VCC's and these.
func simOrigins(sims map[string]*vccsim.Sim) string {
	var o []string
	for _, sim := range sims {
		for _, raw := range []string{sim.TokenURL(), sim.APIURL()} {
			u, _ := url.Parse(raw)
			o = append(o, u.Scheme+"://"+u.Host)
		}
	}
	return strings.Join(o, ",")
}

// The Function App sends a tenant's credential to VCC's hosts only: a
// document naming another host (here the sandbox, on loopback, which only
// a local run admits) is not served, and discover fails naming the tenant
// and the field, with no request to that host.
func TestServeRefusesHostsNotVCCs(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	sims, path := tenantSims(t, day, 6, "acme")
	az := azuritetest.Start(t)
	s := startServed(t, az, map[string]string{
		"VCC_TENANTS_BLOB":       "tenants.json",
		"VCC_TENANTS_REFRESH":    "1s",
		"VCC_CLIENT_SECRET_ACME": sims["acme"].ClientSecret(),
	})
	s.upload(docOf(t, path, "acme"))
	waitDiscoverFails(t, s, "tenant acme: tokenUrl:")
	if n := requests(sims["acme"]); n != 0 {
		t.Fatalf("%d requests reached the host the document named", n)
	}
}

// A tenants document file is not served by the Function App: adding a
// tenant would need a redeploy.
func TestServeRefusesTenantsFile(t *testing.T) {
	var stderr bytes.Buffer
	env := map[string]string{"VCC_TENANTS_FILE": os.DevNull}
	if status := run(context.Background(), []string{"serve"}, io.Discard, &stderr, func(k string) string { return env[k] }); status != 1 || !strings.Contains(stderr.String(), "set VCC_TENANTS_BLOB") {
		t.Fatalf("status %d: %s", status, stderr.String())
	}
}

// requests is every request sim answered.
func requests(sim *vccsim.Sim) int64 {
	var n int64
	for _, c := range sim.Counters().ByEndpoint {
		n += c
	}
	return n
}

// waitDiscover invokes discover every 500 ms until done says so (the
// document is read again at most every 10 s).
func waitDiscover(t *testing.T, s *served, done func(code int, run records.Run) bool) invocationAnswer {
	t.Helper()
	var a invocationAnswer
	var code int
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		code, a = s.invoke("discover", invoketest.Fixture(t, "timer.json"))
		var run records.Run
		_ = json.Unmarshal(a.ReturnValue, &run)
		if done(code, run) {
			return a
		}
	}
	t.Fatalf("discover never came to the state wanted; last %d %s", code, a.ReturnValue)
	return a
}

// waitDiscoverFails waits for a discover failure containing want and
// returns its error.
func waitDiscoverFails(t *testing.T, s *served, want string) string {
	t.Helper()
	a := waitDiscover(t, s, func(code int, run records.Run) bool {
		return code != http.StatusOK
	})
	f := a.failure()
	if !strings.Contains(f.Error, want) {
		t.Fatalf("discover failed otherwise: %s", f.Error)
	}
	return f.Error
}
