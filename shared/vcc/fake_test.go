package vcc

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
)

const (
	testClientID = "client-1"
	testSecret   = "s3cr3t-Value!"
)

// fakeVCC is a minimal VCC: a token endpoint and an API mux behind checks of
// the headers every request must carry. Tests register API handlers.
type fakeVCC struct {
	t   testing.TB
	srv *httptest.Server
	mux *http.ServeMux

	mu         sync.Mutex
	secret     string          // the secret the token endpoint accepts
	valid      map[string]bool // access tokens the API accepts
	issued     int
	expiresIn  any    // expires_in value in token answers
	scope      string // "scope" in token answers; "" leaves it out
	tokenDelay time.Duration
	tokenHook  func(w http.ResponseWriter, r *http.Request) bool // true: answered

	tokenRequests atomic.Int64
	apiRequests   atomic.Int64
	badHeaders    atomic.Int64
	tokenScopes   []string
	tokenStyles   []string // "form" or "basic", per token request
	basicOnly     bool     // the client is read from HTTP Basic only
}

func newFake(t testing.TB) *fakeVCC {
	t.Helper()
	f := &fakeVCC{
		t:         t,
		mux:       http.NewServeMux(),
		secret:    testSecret,
		valid:     map[string]bool{},
		expiresIn: 7200,
		scope:     Scopes,
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeVCC) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/Auth/connect/token" {
		f.token(w, r)
		return
	}
	f.apiRequests.Add(1)
	want := acceptContent
	if strings.HasPrefix(r.URL.Path, "/useradmin/") {
		want = acceptUserAdmin
	}
	if r.Header.Get("Accept") != want || r.Header.Get("x-nvm-application") != "vcc-ingest-test" {
		f.badHeaders.Add(1)
		writeJSON(w, 400, map[string]any{"message": "missing or wrong Accept / x-nvm-application"})
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	ok = ok && f.valid[tok]
	f.mu.Unlock()
	if !ok {
		writeJSON(w, 401, map[string]any{"message": "Unauthorized"})
		return
	}
	f.mux.ServeHTTP(w, r)
}

func (f *fakeVCC) token(w http.ResponseWriter, r *http.Request) {
	f.tokenRequests.Add(1)
	if f.tokenHook != nil && f.tokenHook(w, r) {
		return
	}
	f.mu.Lock()
	delay := f.tokenDelay
	f.mu.Unlock()
	time.Sleep(delay)
	if r.Method != http.MethodPost {
		writeJSON(w, 405, map[string]any{"error": "invalid_request"})
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		writeJSON(w, 400, map[string]any{"error": "unsupported_grant_type"})
		return
	}
	id, sec, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		sec, _ = url.QueryUnescape(sec)
	} else if !f.basicOnly {
		id, sec = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		ok = id != ""
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenStyles = append(f.tokenStyles, map[bool]string{true: "basic", false: "form"}[r.Header.Get("Authorization") != ""])
	f.tokenScopes = append(f.tokenScopes, r.PostForm.Get("scope"))
	if !ok || id != testClientID || sec != f.secret {
		writeJSON(w, 400, map[string]any{"error": "invalid_client"})
		return
	}
	f.issued++
	tok := fmt.Sprintf("access-token-%d", f.issued)
	f.valid[tok] = true
	body := map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": f.expiresIn}
	if f.scope != "" {
		body["scope"] = f.scope
	}
	writeJSON(w, 200, body)
}

// revokeAll makes the API reject every token issued so far.
func (f *fakeVCC) revokeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.valid = map[string]bool{}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fakeClock is an adjustable clock for token refresh and cache expiry.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// countingSecrets counts reads and returns old until fresh is asked for.
type countingSecrets struct {
	old, fresh        string
	reads, freshReads atomic.Int64
}

func (s *countingSecrets) Secret(_ context.Context, fresh bool) (secrets.Secret, error) {
	s.reads.Add(1)
	if fresh {
		s.freshReads.Add(1)
		return secrets.New(s.fresh), nil
	}
	return secrets.New(s.old), nil
}

func testConfig(f *fakeVCC) Config {
	return Config{
		TokenURL:      f.srv.URL + "/Auth/connect/token",
		APIURL:        f.srv.URL,
		ClientID:      testClientID,
		Secret:        secrets.Static(secrets.New(testSecret)),
		RatePerMinute: 6_000_000,
		MaxRetries:    3,
		BackoffBase:   time.Millisecond,
		BackoffMax:    5 * time.Millisecond,
		Application:   "vcc-ingest-test",
		Logger:        slog.New(slog.DiscardHandler),
	}
}

func newTestClient(t *testing.T, f *fakeVCC, mods ...func(*Config)) *Client {
	t.Helper()
	cfg := testConfig(f)
	for _, m := range mods {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// guid returns a valid guid for n.
func guid(n int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", n, n) }
