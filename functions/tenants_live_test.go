package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/customhandler"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/tenants"
	"github.com/vcc-ingest/vcc-ingest/shared/webhook"
)

// Two tenants given the same webhook secret: the document in the state
// container is refused whole (as a local run's is), so one tenant's signed
// event is never accepted on the other's path.
func TestLiveDocumentRefusesSharedWebhookSecret(t *testing.T) {
	t.Parallel()
	w := webhookWorld(t)
	getenv := w.getenv
	w.getenv = func(k string) string { // globex given acme's secret
		if k == tenants.WebhookSecretEnv("globex") {
			return hookSecrets["acme"]
		}
		return getenv(k)
	}
	w.serveLive("tenants.json")
	body := eventFor("0b0e4f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b")
	sig := webhook.Sign(hookKey(t, "acme"), body, time.Now(), 5*time.Minute)
	if status, _ := w.postHandler(customhandler.EventsPath+"/globex", sig, body); status == http.StatusAccepted {
		t.Fatalf("acme's event on globex's path: %d", status)
	}
	if st, _ := w.env.Embedded.Stats(); st != (queue.Stats{}) {
		t.Fatalf("queue %+v, want nothing enqueued", st)
	}
	status, answer := w.invokeTimer("discover")
	if status != http.StatusInternalServerError || !strings.Contains(string(answer), "VCC_WEBHOOK_SECRET_GLOBEX: the same secret as tenant acme") {
		t.Fatalf("discover over the refused document: %d %s", status, answer)
	}
	if strings.Contains(w.logs.String(), hookSecrets["acme"]) || strings.Contains(string(answer), hookSecrets["acme"]) {
		t.Error("the webhook secret reached the log or the answer")
	}
}

// The events path answers from the version served: an id the document
// lacks is refused as fast as a known tenant's event is accepted, though
// the forced read such an id would ask for is not allowed yet (its time
// must not tell which ids are tenants).
func TestLiveEventsAnswerTimeTellsNoTenant(t *testing.T) {
	t.Parallel()
	w := webhookWorld(t)
	w.serveLive("tenants.json")
	body := eventFor("0b0e4f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b")
	sig := webhook.Sign(hookKey(t, "acme"), body, time.Now(), 5*time.Minute)
	if status, _ := w.postHandler(customhandler.EventsPath+"/acme", sig, body); status != http.StatusAccepted {
		t.Fatalf("acme's event: %d", status) // the document read
	}
	for _, c := range []struct {
		path string
		want int
	}{
		{customhandler.EventsPath + "/umbrella", http.StatusUnauthorized},
		{customhandler.EventsPath + "/acme", http.StatusAccepted},
		{customhandler.EventsPath + "/crafted-2", http.StatusUnauthorized},
		{customhandler.EventsPath + "/globex", http.StatusUnauthorized},
	} {
		start := time.Now()
		status, _ := w.postHandler(c.path, sig, body)
		if took := time.Since(start); status != c.want || took > 100*time.Millisecond {
			t.Errorf("%s: %d after %v, want %d well under 100 ms", c.path, status, took, c.want)
		}
	}
}

// failingState fails loading the tenants document on demand.
type failingState struct {
	store.State
	name string
	fail atomic.Bool
}

func (f *failingState) Load(ctx context.Context, name string) ([]byte, string, bool, error) {
	if name == f.name && f.fail.Load() {
		return nil, "", false, errors.New("storage unavailable (test)")
	}
	return f.State.Load(ctx, name)
}

// A message for a tenant the version served lacks, when the document
// cannot be read again (a storage blip): never dead-lettered for good, nor
// a delivery spent — it is put off with a scheduled copy, as while VCC is
// unavailable, and decided once the document reads again (the unknown
// tenant's path is TestTenantsNeverWriteUnderAnotherPrefix's).
func TestLiveIngestDefersWhileTheDocumentCannotBeRead(t *testing.T) {
	t.Parallel()
	w := webhookWorld(t)
	st := &failingState{State: w.env.State, name: "tenants.json"}
	w.serveLiveOver("tenants.json", st)
	body := eventFor("0b0e4f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b")
	sig := webhook.Sign(hookKey(t, "acme"), body, time.Now(), 5*time.Minute)
	if status, _ := w.postHandler(customhandler.EventsPath+"/acme", sig, body); status != http.StatusAccepted {
		t.Fatalf("acme's event: %d", status) // the document read
	}
	before, _ := w.env.Embedded.Stats()
	st.fail.Store(true)
	guid := "7d1c3a4b-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
	rec := httptest.NewRecorder()
	w.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/ingest", bytes.NewReader(ingestFor(t, "newco", guid))))
	var a struct{ ReturnValue records.Result }
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("newco during a storage error: %d %s", rec.Code, rec.Body.String())
	}
	if r := a.ReturnValue; r.Outcome != records.Deferred || !strings.Contains(r.Reason, "tenants document unreadable") {
		t.Fatalf("newco during a storage error: %+v, want it deferred", r)
	}
	after, _ := w.env.Embedded.Stats()
	if n, was := after.Active+after.Scheduled+after.Locked, before.Active+before.Scheduled+before.Locked; n != was+1 {
		t.Errorf("no copy on the queue: %+v, before %+v", after, before)
	}
	if _, _, found, _ := w.env.State.Load(context.Background(), records.FailureName(guid)); found {
		t.Error("a deferral wrote a failure record")
	}
}
