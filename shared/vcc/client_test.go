package vcc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// statsHandler answers stats.get for any guid.
func statsHandler(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{
		"guid": r.PathValue("guid"), "start": "2026-11-02T10:00:00Z", "duration": 61500,
		"direction": "Inbound", "medium": "Phone", "status": "Completed", "serviceName": "Sales",
	})
}

func TestTokenReusedAndScopesExact(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("/stats/interactions/{guid}", statsHandler)
	c := newTestClient(t, f)
	for i := 0; i < 5; i++ {
		if _, err := c.GetStats(context.Background(), guid(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.tokenRequests.Load(); n != 1 {
		t.Errorf("token requests = %d, want 1", n)
	}
	cn := c.Counters()
	if cn.TokenRequests != 1 || cn.Calls["token"] != 1 || cn.Calls["stats.get"] != 5 {
		t.Errorf("counters = %+v", cn)
	}
	if len(f.tokenScopes) != 1 || f.tokenScopes[0] != "interaction-content:read users:read stats" {
		t.Errorf("requested scopes = %q", f.tokenScopes)
	}
	got, err := c.GrantedScopes(context.Background())
	if err != nil || !slices.Equal(got, []string{"interaction-content:read", "users:read", "stats"}) {
		t.Errorf("GrantedScopes = %q, %v", got, err)
	}
}

func TestGrantedScopesAbsent(t *testing.T) {
	f := newFake(t)
	f.scope = ""
	c := newTestClient(t, f)
	got, err := c.GrantedScopes(context.Background())
	if err != nil || got != nil {
		t.Errorf("GrantedScopes = %q, %v; want nil, nil", got, err)
	}
	f2 := newFake(t)
	f2.scope = "stats"
	c2 := newTestClient(t, f2)
	got, err = c2.GrantedScopes(context.Background())
	if err != nil || !slices.Equal(got, []string{"stats"}) {
		t.Errorf("GrantedScopes = %q, %v", got, err)
	}
}

func TestTokenRefreshedAtFractionOfLifetime(t *testing.T) {
	tests := []struct {
		name      string
		expiresIn any
		refreshAt float64
		before    time.Duration // still the first token
		after     time.Duration // a second token
	}{
		{"default 0.9 of 7200s", 7200, 0, 6479 * time.Second, 6481 * time.Second},
		{"0.5 of 100s", 100, 0.5, 49 * time.Second, 51 * time.Second},
		{"expires_in as string", "3600", 0.9, 3239 * time.Second, 3241 * time.Second},
		{"missing expires_in: 7200s assumed", nil, 0.9, 6479 * time.Second, 6481 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.expiresIn = tt.expiresIn
			f.mux.HandleFunc("/stats/interactions/{guid}", statsHandler)
			c := newTestClient(t, f, func(c *Config) { c.RefreshAt = tt.refreshAt })
			clock := &fakeClock{t: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}
			c.now = clock.now
			ctx := context.Background()
			if _, err := c.GetStats(ctx, guid(1)); err != nil {
				t.Fatal(err)
			}
			clock.advance(tt.before)
			if _, err := c.GetStats(ctx, guid(1)); err != nil {
				t.Fatal(err)
			}
			if n := f.tokenRequests.Load(); n != 1 {
				t.Fatalf("token requests before the refresh point = %d, want 1", n)
			}
			clock.advance(tt.after - tt.before)
			if _, err := c.GetStats(ctx, guid(1)); err != nil {
				t.Fatal(err)
			}
			if n := f.tokenRequests.Load(); n != 2 {
				t.Fatalf("token requests after the refresh point = %d, want 2", n)
			}
		})
	}
}

func TestConcurrentCallersShareOneTokenRequest(t *testing.T) {
	f := newFake(t)
	f.tokenDelay = 100 * time.Millisecond // every caller arrives while the token is in flight
	var served atomic.Int64
	f.mux.HandleFunc("/stats/interactions/{guid}", func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		statsHandler(w, r)
	})
	c := newTestClient(t, f)
	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := c.GetStats(context.Background(), guid(i)); err != nil {
				errs <- err
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := f.tokenRequests.Load(); got != 1 {
		t.Errorf("token requests = %d, want exactly 1", got)
	}
	if got := served.Load(); got != n {
		t.Errorf("served %d, want %d", got, n)
	}
	if got := c.Counters().TokenRequests; got != 1 {
		t.Errorf("TokenRequests counter = %d", got)
	}
}

func TestUnauthorizedReauthenticatesOnce(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("/stats/interactions/{guid}", statsHandler)
	c := newTestClient(t, f)
	ctx := context.Background()
	if _, err := c.GetStats(ctx, guid(1)); err != nil {
		t.Fatal(err)
	}
	f.revokeAll() // the token expired early on the server's side
	if _, err := c.GetStats(ctx, guid(1)); err != nil {
		t.Fatalf("after revocation: %v", err)
	}
	if n := f.tokenRequests.Load(); n != 2 {
		t.Errorf("token requests = %d, want 2", n)
	}
	if cn := c.Counters(); cn.Calls["stats.get"] != 3 || cn.Retries != 0 {
		t.Errorf("counters = %+v, want 3 stats.get calls, no transient retries", cn)
	}

	// A server that rejects every token: one re-authentication, then the 401.
	always := newFake(t)
	always.mux.HandleFunc("/stats/interactions/{guid}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 401, map[string]any{"statusCode": 401, "error": "Unauthorized", "message": "token rejected"})
	})
	c2 := newTestClient(t, always)
	_, err := c2.GetStats(ctx, guid(1))
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Message != "token rejected" {
		t.Fatalf("err = %v", err)
	}
	if n := always.tokenRequests.Load(); n != 2 {
		t.Errorf("token requests = %d, want 2", n)
	}
	if n := c2.Counters().Calls["stats.get"]; n != 2 {
		t.Errorf("stats.get calls = %d, want 2", n)
	}
}

func TestThrottledWithRetryAfter(t *testing.T) {
	tests := []struct {
		name  string
		value func() string
		min   time.Duration
	}{
		{"seconds", func() string { return "1" }, 900 * time.Millisecond},
		{"http date", func() string { return time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat) }, 900 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			var calls atomic.Int64
			f.mux.HandleFunc("/stats/interactions/{guid}", func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) == 1 {
					w.Header().Set("Retry-After", tt.value())
					writeJSON(w, 429, map[string]any{"message": "Too many requests"})
					return
				}
				statsHandler(w, r)
			})
			c := newTestClient(t, f)
			began := time.Now()
			if _, err := c.GetStats(context.Background(), guid(1)); err != nil {
				t.Fatal(err)
			}
			if el := time.Since(began); el < tt.min {
				t.Errorf("retried after %v; Retry-After not honoured", el)
			}
			cn := c.Counters()
			if cn.Throttled != 1 || cn.Retries != 1 || cn.Calls["stats.get"] != 2 {
				t.Errorf("counters = %+v", cn)
			}
		})
	}
}

func TestThrottlePausesEveryCaller(t *testing.T) {
	f := newFake(t)
	var mu sync.Mutex
	var throttledAt, otherAt time.Time
	throttled := make(chan struct{})
	f.mux.HandleFunc("/stats/interactions/{guid}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.PathValue("guid") == guid(1) && throttledAt.IsZero():
			throttledAt = time.Now()
			w.Header().Set("Retry-After", "1")
			writeJSON(w, 429, map[string]any{"message": "slow down"})
			close(throttled)
			return
		case r.PathValue("guid") == guid(2):
			otherAt = time.Now()
		}
		statsHandler(w, r)
	})
	c := newTestClient(t, f)
	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := c.GetStats(ctx, guid(1)); err != nil {
			t.Error(err)
		}
	}()
	<-throttled
	time.Sleep(100 * time.Millisecond) // the 429 has reached the client
	// Another worker, never throttled itself, must wait for the pause too.
	if _, err := c.GetStats(ctx, guid(2)); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if d := otherAt.Sub(throttledAt); d < 900*time.Millisecond {
		t.Errorf("second caller went %v after the 429; want >= Retry-After", d)
	}
}

func TestThrottledWithoutRetryAfterBacksOff(t *testing.T) {
	f := newFake(t)
	var calls atomic.Int64
	f.mux.HandleFunc("/stats/interactions/{guid}", func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			writeJSON(w, 429, map[string]any{"message": "Too many requests"})
			return
		}
		statsHandler(w, r)
	})
	c := newTestClient(t, f)
	if _, err := c.GetStats(context.Background(), guid(1)); err != nil {
		t.Fatal(err)
	}
	cn := c.Counters()
	if cn.Throttled != 2 || cn.Retries != 2 || cn.Calls["stats.get"] != 3 {
		t.Errorf("counters = %+v", cn)
	}
}

func TestServerErrorsRetriedThenGiveUp(t *testing.T) {
	f := newFake(t)
	var calls atomic.Int64
	f.mux.HandleFunc("/stats/interactions/{guid}", func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if r.PathValue("guid") == guid(1) && n <= 2 {
			writeJSON(w, 503, map[string]any{"statusCode": 503, "error": "Service Unavailable", "message": "try later"})
			return
		}
		if r.PathValue("guid") == guid(2) {
			writeJSON(w, 500, map[string]any{"message": "boom"})
			return
		}
		statsHandler(w, r)
	})
	c := newTestClient(t, f)
	ctx := context.Background()
	if _, err := c.GetStats(ctx, guid(1)); err != nil {
		t.Fatalf("recoverable 503: %v", err)
	}
	if cn := c.Counters(); cn.Retries != 2 || cn.Calls["stats.get"] != 3 {
		t.Errorf("counters = %+v", cn)
	}
	_, err := c.GetStats(ctx, guid(2))
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 500 || ae.Message != "boom" || !IsTransient(err) || IsPermanent(err) {
		t.Fatalf("err = %v", err)
	}
	// MaxRetries is 3 in tests: 1 + 3 calls.
	if cn := c.Counters(); cn.Calls["stats.get"] != 3+4 {
		t.Errorf("stats.get calls = %d, want 7", cn.Calls["stats.get"])
	}
}

func TestPermanentErrorsNotRetried(t *testing.T) {
	for _, status := range []int{400, 403, 404} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			f := newFake(t)
			f.mux.HandleFunc("/stats/interactions/{guid}", func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, status, map[string]any{"statusCode": status, "error": http.StatusText(status), "message": "nope " + fmt.Sprint(status)})
			})
			c := newTestClient(t, f)
			_, err := c.GetStats(context.Background(), guid(1))
			var ae *APIError
			if !errors.As(err, &ae) || ae.Status != status || ae.Endpoint != "stats.get" || ae.Message != "nope "+fmt.Sprint(status) {
				t.Fatalf("err = %v", err)
			}
			if !IsPermanent(err) || IsTransient(err) {
				t.Errorf("classification: permanent %v transient %v", IsPermanent(err), IsTransient(err))
			}
			if errors.Is(err, ErrNotFound) != (status == 404) {
				t.Errorf("errors.Is(ErrNotFound) wrong for %d", status)
			}
			if cn := c.Counters(); cn.Calls["stats.get"] != 1 || cn.Retries != 0 {
				t.Errorf("counters = %+v", cn)
			}
		})
	}
}

func TestErrorBodyShapes(t *testing.T) {
	tests := []struct {
		body, ctype, want string
	}{
		{`{"message":"Request window size limit exceeded 31 days"}`, "application/json", "Request window size limit exceeded 31 days"},
		{`{"statusCode":400,"error":"Bad Request","message":"start is required"}`, "application/json", "start is required"},
		{`{"statusCode":400,"error":"Bad Request"}`, "application/json", "Bad Request"},
		{`{"message":["a","b"]}`, "application/json", `["a","b"]`},
		{`plain words`, "text/plain", "plain words"},
		{`<html>gateway</html>`, "text/html", ""},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			f := newFake(t)
			f.mux.HandleFunc("/stats/interactions/{guid}", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.ctype)
				w.WriteHeader(400)
				_, _ = w.Write([]byte(tt.body))
			})
			c := newTestClient(t, f)
			_, err := c.GetStats(context.Background(), guid(1))
			var ae *APIError
			if !errors.As(err, &ae) || ae.Message != tt.want {
				t.Fatalf("err = %v, want message %q", err, tt.want)
			}
		})
	}
}

func TestRotatedSecretReadOnce(t *testing.T) {
	f := newFake(t)
	f.secret = "new-secret"
	f.mux.HandleFunc("/stats/interactions/{guid}", statsHandler)
	src := &countingSecrets{old: "old-secret", fresh: "new-secret"}
	c := newTestClient(t, f, func(c *Config) { c.Secret = src })
	if _, err := c.GetStats(context.Background(), guid(1)); err != nil {
		t.Fatalf("with rotated secret: %v", err)
	}
	// The old secret is refused as form fields and as Basic; the fresh one
	// is accepted as form fields.
	if src.freshReads.Load() != 1 || f.tokenRequests.Load() != 3 {
		t.Errorf("fresh reads %d, token requests %d; want 1, 3", src.freshReads.Load(), f.tokenRequests.Load())
	}
	if got := strings.Join(f.tokenStyles, " "); got != "form basic form" {
		t.Errorf("token requests as %s", got)
	}

	// Both secrets wrong: one fresh read, then a permanent error without the secret.
	f2 := newFake(t)
	f2.secret = "unknown"
	src2 := &countingSecrets{old: "old-secret-AAA", fresh: "new-secret-BBB"}
	c2 := newTestClient(t, f2, func(c *Config) { c.Secret = src2 })
	_, err := c2.GetStats(context.Background(), guid(1))
	var ae *APIError
	if !errors.As(err, &ae) || ae.Endpoint != "token" || !strings.Contains(ae.Message, "invalid_client") {
		t.Fatalf("err = %v", err)
	}
	if !IsPermanent(err) {
		t.Error("a rejected credential must be permanent")
	}
	if src2.freshReads.Load() != 1 || f2.tokenRequests.Load() != 4 {
		t.Errorf("fresh reads %d, token requests %d; want 1, 4", src2.freshReads.Load(), f2.tokenRequests.Load())
	}
	if s := err.Error(); strings.Contains(s, "old-secret-AAA") || strings.Contains(s, "new-secret-BBB") {
		t.Errorf("error contains the secret: %s", s)
	}
	if f2.apiRequests.Load() != 0 {
		t.Error("API called without a token")
	}
}

func TestSecretAndTokenNeverInErrors(t *testing.T) {
	t.Run("token endpoint echoes the secret", func(t *testing.T) {
		for _, withCode := range []bool{true, false} {
			f := newFake(t)
			f.tokenHook = func(w http.ResponseWriter, r *http.Request) bool {
				_, sec, _ := r.BasicAuth()
				if withCode {
					writeJSON(w, 400, map[string]any{"error": "invalid_request", "error_description": "bad secret " + sec})
				} else {
					w.WriteHeader(502)
					_, _ = w.Write([]byte("upstream said: " + sec + " / " + testSecret))
				}
				return true
			}
			c := newTestClient(t, f)
			_, err := c.GetStats(context.Background(), guid(1))
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), testSecret) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), testSecret) {
				t.Errorf("error contains the secret: %v", err)
			}
			if withCode && !IsPermanent(err) || !withCode && !IsTransient(err) {
				t.Errorf("classification of %v", err)
			}
		}
	})
	t.Run("API echoes the token", func(t *testing.T) {
		f := newFake(t)
		f.mux.HandleFunc("/stats/interactions/{guid}", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 403, map[string]any{"message": "token " + r.Header.Get("Authorization") + " lacks scope"})
		})
		c := newTestClient(t, f)
		_, err := c.GetStats(context.Background(), guid(1))
		if err == nil || strings.Contains(err.Error(), "access-token-1") {
			t.Fatalf("err = %v", err)
		}
		if !strings.Contains(err.Error(), "[REDACTED]") {
			t.Errorf("err = %v; want the token replaced", err)
		}
	})
}

func TestTokenEndpointTransientErrorsRetried(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("/stats/interactions/{guid}", statsHandler)
	var n atomic.Int64
	f.tokenHook = func(w http.ResponseWriter, r *http.Request) bool {
		if n.Add(1) == 1 {
			writeJSON(w, 503, map[string]any{"error": "temporarily_unavailable"})
			return true
		}
		return false
	}
	c := newTestClient(t, f)
	if _, err := c.GetStats(context.Background(), guid(1)); err != nil {
		t.Fatal(err)
	}
	if f.tokenRequests.Load() != 2 || c.Counters().Retries != 1 {
		t.Errorf("token requests %d, retries %d", f.tokenRequests.Load(), c.Counters().Retries)
	}
}

func TestContextCancelStopsRetries(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("/stats/interactions/{guid}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		writeJSON(w, 429, map[string]any{"message": "later"})
	})
	c := newTestClient(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := c.GetStats(ctx, guid(1))
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(began) > 5*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(began))
	}
}

// The token is requested in the documented form (client id and secret as
// form fields); HTTP Basic only when the form is refused, and then for good.
func TestTokenFormFirstThenBasic(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("/stats/interactions/{guid}", statsHandler)
	c := newTestClient(t, f)
	if _, err := c.GetStats(context.Background(), guid(1)); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.tokenStyles, " "); got != "form" {
		t.Errorf("token requests as %q, want form", got)
	}

	b := newFake(t)
	b.basicOnly = true
	b.mux.HandleFunc("/stats/interactions/{guid}", statsHandler)
	cb := newTestClient(t, b)
	if _, err := cb.GetStats(context.Background(), guid(1)); err != nil {
		t.Fatal(err)
	}
	cb.tokens.invalidate(cb.tokens.current().access)
	if _, err := cb.GetStats(context.Background(), guid(1)); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(b.tokenStyles, " "); got != "form basic basic" {
		t.Errorf("token requests as %q, want form basic basic", got)
	}
}
