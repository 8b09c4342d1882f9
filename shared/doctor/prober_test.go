package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
)

// The doctor's probes keep the bearer token on its origin (a redirect to
// another port of the same host gets none, which Go's default policy would
// send), and its token request follows no redirect at all (the client
// secret goes to TokenURL only).
func TestProberKeepsCredentialsOnTheirOrigin(t *testing.T) {
	var otherAuth, otherToken atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			otherAuth.Add(1)
		}
		if r.URL.Path == "/token" {
			otherToken.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "t2", "token_type": "Bearer", "items": []any{}})
	}))
	defer other.Close()
	redirectToken := atomic.Bool{}
	vcc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			if redirectToken.Load() {
				http.Redirect(w, r, other.URL+"/token", http.StatusTemporaryRedirect)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "bearer-of-vcc", "token_type": "Bearer", "expires_in": 7200})
			return
		}
		// Same host (127.0.0.1), another port.
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
	}))
	defer vcc.Close()

	p := &HTTPProber{TokenURL: vcc.URL + "/token", APIURL: vcc.URL, ClientID: "c", Secret: secrets.Static(secrets.New("client-secret"))}
	res := p.Probe(context.Background(), APIs[0])
	if res.Err != nil || res.Status != 200 {
		t.Fatalf("probe: %+v", res)
	}
	if otherAuth.Load() != 0 {
		t.Fatal("the bearer token followed a redirect to another origin")
	}

	redirectToken.Store(true)
	p2 := &HTTPProber{TokenURL: vcc.URL + "/token", APIURL: vcc.URL, ClientID: "c", Secret: secrets.Static(secrets.New("client-secret"))}
	if _, err := p2.CredentialScopes(context.Background()); err == nil {
		t.Fatal("a redirected token request succeeded")
	}
	if otherToken.Load() != 0 {
		t.Fatalf("the token request was re-sent to the redirect target %d times", otherToken.Load())
	}
}

// The prober keeps its bearer token to itself, whatever prints it.
func TestProberNeverPrintsItsToken(t *testing.T) {
	p := &HTTPProber{TokenURL: "https://emea.cc.vonage.com/Auth/connect/token", ClientID: "c", Secret: secrets.Static(secrets.New("client-secret-value"))}
	p.scoped = "bearer-token-value"
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		out = append(out, fmt.Sprintf(verb, p))
	}
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("m", "prober", p)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("m", "prober", p)
	data, _ := json.Marshal(struct{ P *HTTPProber }{p})
	out = append(out, text.String(), js.String(), string(data))
	for _, o := range out {
		for _, v := range []string{"bearer-token-value", "client-secret-value", fmt.Sprintf("%x", "bearer-token-value")} {
			if strings.Contains(o, v) {
				t.Errorf("printed %s: %s", v, o)
			}
		}
	}
}
