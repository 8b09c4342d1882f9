package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/customhandler"
	"github.com/vcc-ingest/vcc-ingest/shared/ops"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/tenants"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
	"github.com/vcc-ingest/vcc-ingest/shared/webhook"
)

// Each tenant's webhook secret, base64 as VCC gives it.
var hookSecrets = map[string]string{
	"acme":   base64.StdEncoding.EncodeToString([]byte("acme-subscription-secret-0001")),
	"globex": base64.StdEncoding.EncodeToString([]byte("globex-subscription-secret-02")),
}

// webhookWorld serves acme and globex, each with its own webhook secret,
// and initech, which has none.
func webhookWorld(t *testing.T) *tenantWorld {
	day := time.Now().UTC().Truncate(24 * time.Hour)
	return newTenantWorld(t, day, 3, func(env map[string]string) {
		for id, s := range hookSecrets {
			env[tenants.WebhookSecretEnv(id)] = s
		}
		env["WEBHOOK_SETTLE"] = "100ms"
		env["WEBHOOK_SWEEP"] = "1s"
	}, "acme", "globex", "initech")
}

func hookKey(t *testing.T, id string) secrets.Secret {
	k, err := webhook.DecodeSecret(hookSecrets[id])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// postHandler sends a request to the handler directly, its path as given:
// what the host would forward.
func (w *tenantWorld) postHandler(path, sig string, body []byte) (int, string) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set(webhook.SignatureHeader, sig)
	w.handler().ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// postRaw sends a request to the host's front with path exactly as given
// (no cleaning, no escaping), as a hostile client may.
func (w *tenantWorld) postRaw(path, sig string, body []byte) (int, string) {
	w.t.Helper()
	req, err := http.NewRequest(http.MethodPost, w.front+"/", bytes.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	req.URL.Opaque = path // sent verbatim on the request line
	req.Header.Set("Content-Type", "application/cloudevents+json")
	if sig != "" {
		req.Header.Set(webhook.SignatureHeader, sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func eventFor(guid string) []byte {
	return []byte(`{"specversion":"1.0","id":"e-` + guid[:8] + `","type":"channel.disconnected","source":"/vcc","data":{"channel":{"interactionId":"` + guid + `"}}}`)
}

// A tenant's live call: its webhooks, signed with its own secret, go to its
// path; they ask for one sweep of the tenant (<tenant>:sweep.<slot>), which
// enqueues the call's message (<tenant>:<guid>), and the recording is stored
// under <tenant>/ through the event path, nothing under another tenant's
// prefix.
func TestTenantWebhookStoredUnderItsPrefix(t *testing.T) {
	for _, live := range []bool{false, true} {
		t.Run(map[bool]string{false: "fixed document", true: "document in the state container"}[live], func(t *testing.T) {
			w := webhookWorld(t)
			if live {
				w.serveLive("tenants.json")
			}
			tenantWebhookStored(t, w)
			if !live {
				return
			}
			// Audit too runs every tenant of the live document.
			status, body := w.invokeTimer("audit")
			var resp struct{ ReturnValue records.Audit }
			if err := json.Unmarshal(body, &resp); status != http.StatusOK || err != nil || len(resp.ReturnValue.Tenants) != 3 {
				t.Fatalf("audit over the live document: %d %s", status, body)
			}
		})
	}
}

func tenantWebhookStored(t *testing.T, w *tenantWorld) {
	sim := w.sims["acme"]
	call, err := sim.EndCall(context.Background(), vccsim.Webhooks{URL: w.front + customhandler.EventsPath + "/acme", Secret: hookSecrets["acme"], ProcessingDelay: -1}, time.Minute, 40<<10)
	if err != nil || call.Delivered != 3 {
		t.Fatalf("EndCall = %+v, %v\n%s", call, err, w.logs.String())
	}
	if st, _ := w.env.Embedded.Stats(); st.Scheduled+st.Active != 1 { // active once the short settle has passed (a loaded machine)
		t.Fatalf("queue %+v, want the call's three events absorbed into one scheduled message", st)
	}
	w.drain()
	var ids []string
	sweeps, calls := 0, 0
	for _, r := range w.results() {
		ids = append(ids, r.MessageID)
		switch {
		case strings.HasPrefix(r.MessageID, "acme:sweep."):
			sweeps++
		case r.MessageID == "acme:"+call.GUID:
			calls++
		case !strings.HasPrefix(r.MessageID, "acme:"):
			t.Errorf("delivery %s does not name acme", r.MessageID)
		}
	}
	if sweeps == 0 || calls != 1 {
		t.Fatalf("deliveries %v, want acme's sweep and one of acme:%s", ids, call.GUID)
	}
	got := sidecarsUnder(t, filepath.Join(w.out, "acme"))
	sc, ok := got[call.GUID]
	if !ok || sc.Tenant != "acme" || sc.StoredVia != "event" || len(sc.Recordings) != 1 {
		t.Fatalf("acme's sidecar %+v (found %v)", sc, ok)
	}
	checkSidecarKeys(t, filepath.Join(w.out, "acme"))
	if _, err := os.Stat(filepath.Join(w.out, "globex")); !os.IsNotExist(err) {
		t.Errorf("something was written under globex/: %v", err)
	}
	if dead, _ := w.env.Embedded.PeekDeadLetters(context.Background(), 10); len(dead) != 0 {
		t.Errorf("%d dead letters", len(dead))
	}
}

// The per-tenant endpoint is reachable from the internet: every request
// that does not carry a valid signature of the tenant its path names gets
// the same 401 with no detail (unknown and known tenants alike), enqueues
// nothing and calls nothing; the reason is in the log.
// Both ways of serving the document refuse alike: a fixed document and
// the one in the state container (where an unknown id is answered from
// the version served, as fast as any refusal).
func TestTenantWebhookRefusesHostileRequests(t *testing.T) {
	for _, live := range []bool{false, true} {
		t.Run(map[bool]string{false: "fixed document", true: "document in the state container"}[live], func(t *testing.T) {
			w := webhookWorld(t)
			if live {
				w.serveLive("tenants.json")
			}
			tenantWebhookRefusesHostile(t, w)
		})
	}
}

func tenantWebhookRefusesHostile(t *testing.T, w *tenantWorld) {
	guid := "0b0e4f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
	body := eventFor(guid)
	now := time.Now()
	sign := func(id string) string {
		return webhook.Sign(hookKey(t, id), body, now, 5*time.Minute)
	}
	cases := []struct {
		name, path, sig, reason string
	}{
		{"acme's event on globex's path", customhandler.EventsPath + "/globex", sign("acme"), "bad signature"},
		{"globex's event on acme's path", customhandler.EventsPath + "/acme", sign("globex"), "bad signature"},
		{"unknown tenant", customhandler.EventsPath + "/umbrella", sign("acme"), `umbrella\" is not in the tenants document`},
		{"tenant without a webhook secret", customhandler.EventsPath + "/initech", sign("acme"), "tenant initech has no webhook secret"},
		{"bare path with a document", customhandler.EventsPath, sign("acme"), "the bare events path"},
		{"bare path with a slash", customhandler.EventsPath + "/", sign("acme"), "the bare events path"},
		{"upper case", customhandler.EventsPath + "/ACME", sign("acme"), "not a tenant's events path"},
		{"dot dot", customhandler.EventsPath + "/..", sign("acme"), "not a tenant's events path"},
		{"dot dot to another tenant", customhandler.EventsPath + "/../events/acme", sign("acme"), ""},
		{"encoded slash", customhandler.EventsPath + "/acme%2Fglobex", sign("acme"), "not a tenant's events path"},
		{"encoded dot dot", customhandler.EventsPath + "/%2E%2E", sign("acme"), "not a tenant's events path"},
		{"encoded letter", customhandler.EventsPath + "/%61cme", sign("acme"), "not a tenant's events path"},
		{"overlong", customhandler.EventsPath + "/" + strings.Repeat("a", 200), sign("acme"), "not a tenant's events path"},
		{"empty segment", customhandler.EventsPath + "//acme", sign("acme"), ""},
		{"further segment", customhandler.EventsPath + "/acme/x", sign("acme"), ""},
		{"no signature", customhandler.EventsPath + "/acme", "", "no Vonage-Signature header"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := w.logs.String()
			status, answer := w.postRaw(c.path, c.sig, body)
			// The host stand-in routes as the host does: a path its route
			// template does not match never reaches the handler (404).
			if status == http.StatusNotFound && c.reason == "" {
				return
			}
			if status != http.StatusUnauthorized || answer != "Unauthorized\n" {
				t.Fatalf("%s: %d %q, want 401 with no detail", c.path, status, answer)
			}
			if c.reason != "" && !strings.Contains(strings.TrimPrefix(w.logs.String(), before), c.reason) {
				t.Errorf("the log lacks the reason %q", c.reason)
			}
		})
	}
	// The handler alone, as a request the host might forward: the same
	// refusals for the paths the host stand-in does not route.
	for _, p := range []string{customhandler.EventsPath + "/../events/acme", customhandler.EventsPath + "//acme", customhandler.EventsPath + "/acme/x", "/API/VCC/EVENTS/acme/", customhandler.EventsPath + "x"} {
		status, answer := w.postHandler(p, sign("acme"), body)
		if status != http.StatusUnauthorized || answer != "Unauthorized\n" {
			t.Errorf("handler, %s: %d %q, want 401 with no detail", p, status, answer)
		}
	}
	if st, _ := w.env.Embedded.Stats(); st != (queue.Stats{}) {
		t.Fatalf("queue %+v after refused requests, want empty", st)
	}
	for id, sim := range w.sims {
		for ep, n := range sim.Counters().ByEndpoint {
			if ep != vccsim.EndpointToken && n > 0 {
				t.Errorf("refused requests called %s's VCC (%s: %d)", id, ep, n)
			}
		}
	}
	for _, s := range hookSecrets {
		if strings.Contains(w.logs.String(), s) {
			t.Error("a webhook secret reached the log")
		}
	}
	// The tenant's own signature on its own path is accepted.
	if status, _ := w.postRaw(customhandler.EventsPath+"/acme", sign("acme"), body); status != http.StatusAccepted {
		t.Fatalf("acme's own event: %d, want 202", status)
	}
}

// Without a tenants document the per-tenant path is refused and the bare
// path works as before.
func TestSingleTenantRefusesTenantPath(t *testing.T) {
	p := newEventsPipeline(t, time.Minute)
	guid := p.sim.AddInteraction(time.Now().Add(-3*time.Minute), "inbound", 40<<10)
	body := eventFor(guid)
	sig := webhook.Sign(p.key, body, time.Now(), 5*time.Minute)
	bare := p.url
	for _, path := range []string{"/acme", "/ACME", "/a%2Fb"} {
		p.url = bare + path
		if status, answer := p.post(sig, body); status != http.StatusUnauthorized || answer != "Unauthorized\n" {
			t.Errorf("%s: %d %q, want 401 with no detail", path, status, answer)
		}
	}
	if n := p.sends.Load(); n != 0 {
		t.Fatalf("%d sends for refused requests", n)
	}
	if !strings.Contains(p.logs.String(), "a tenant's events path, and this deployment serves a single VCC account") {
		t.Error("the reason is not in the log")
	}
	p.url = bare
	if status, _ := p.post(sig, body); status != http.StatusAccepted {
		t.Fatalf("bare path: %d, want 202", status)
	}
	p.url = bare + "/"
	if status, _ := p.post(webhook.Sign(p.key, body, time.Now(), 5*time.Minute), body); status != http.StatusAccepted {
		t.Fatalf("bare path with a slash: %d, want 202 (the same subscription)", status)
	}
}

// The demo per tenant: handler local --sandbox --sandbox-tenants 2 --listen. Each
// sandbox account sends its live calls' webhooks, signed with its own
// secret, to its tenant's path, and each call is stored under that
// tenant's prefix through the event path.
func TestLocalSandboxTenantsWebhooks(t *testing.T) {
	out, data := t.TempDir(), t.TempDir()
	env := map[string]string{"FUNCTIONS_APP_ROOT_PATH": "..", "WEBHOOK_SETTLE": "100ms"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"local", "--sandbox", "--sandbox-tenants", "2", "--schedule", "--per-day", "3", "--every", "1h",
			"--listen", "127.0.0.1:0", "--sandbox-call-every", "300ms", "--sandbox-processing-delay", "-1s", "--out", out, "--data", data},
			&stdout, &stderr, func(k string) string { return env[k] })
	}()
	ids := []string{"sandbox-1", "sandbox-2"}
	viaEvent := func(id string) int {
		n := 0
		for _, sc := range sidecarsUnder(t, filepath.Join(out, id)) {
			if sc.StoredVia == "event" && sc.Tenant == id {
				n++
			}
		}
		return n
	}
	for {
		if viaEvent(ids[0]) > 0 && viaEvent(ids[1]) > 0 {
			break
		}
		select {
		case status := <-done:
			t.Fatalf("the run ended (status %d) before each tenant stored a call\n%s\n%s", status, stdout.String(), stderr.String())
		case <-ctx.Done():
			t.Fatalf("no call stored via its webhook for each tenant: %d, %d\n%s\nlog:\n%s", viaEvent(ids[0]), viaEvent(ids[1]), stdout.String(), tail(t, filepath.Join(data, "run.log")))
		case <-time.After(200 * time.Millisecond):
		}
	}
	cancel()
	<-done
	t.Logf("stored via webhooks: %s %d, %s %d\n%s", ids[0], viaEvent(ids[0]), ids[1], viaEvent(ids[1]), stdout.String())
	if !strings.Contains(stdout.String(), customhandler.EventsPath+"/<tenant>") {
		t.Errorf("stdout does not say where each tenant's webhooks go:\n%s", stdout.String())
	}
	log, _ := os.ReadFile(filepath.Join(data, "run.log"))
	if strings.Contains(string(log), `"status":401`) {
		t.Errorf("a sandbox account's webhook was refused:\n%s", tail(t, filepath.Join(data, "run.log")))
	}
	for _, id := range ids {
		if strings.Contains(string(log), ops.SandboxWebhookSecret(id)) || strings.Contains(stdout.String(), ops.SandboxWebhookSecret(id)) {
			t.Errorf("%s's webhook secret reached the output", id)
		}
	}
}

func tail(t *testing.T, path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
