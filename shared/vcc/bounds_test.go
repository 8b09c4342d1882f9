package vcc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// serveChunked answers a download with n bytes and no Content-Length.
func serveChunked(n int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		chunk := make([]byte, 32<<10)
		for left := n; left > 0; left -= len(chunk) {
			if left < len(chunk) {
				chunk = chunk[:left]
			}
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}
}

// A download served without Content-Length and far longer than its listed
// length is cut off at the bound, as a permanent failure, never passing a
// byte past it.
func TestDownloadPastListedLengthRefused(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("/interaction-content/interactions/{guid}/content/{key}", serveChunked(5<<20))
	c := newTestClient(t, f)
	d, err := c.Download(context.Background(), guid(1), "callRecording")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Body.Close()
	if err := d.Expect(1000); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, d.Body)
	if err == nil || !IsPermanent(err) || IsTransient(err) {
		t.Fatalf("read %d bytes, err %v: want a permanent failure", n, err)
	}
	if bound := 1000 + LengthTolerance(1000); n > bound {
		t.Fatalf("passed on %d bytes, past the bound %d", n, bound)
	}
	if !strings.Contains(err.Error(), "listed 1000 bytes") {
		t.Errorf("error does not say why: %v", err)
	}
	// Within the tolerance it is a recording like any other.
	f.mux.HandleFunc("/interaction-content/interactions/{guid}/content/near", serveChunked(int(1000+LengthTolerance(1000))))
	d, err = c.Download(context.Background(), guid(1), "near")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Body.Close()
	if err := d.Expect(1000); err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, d.Body); err != nil || n != 1000+LengthTolerance(1000) {
		t.Fatalf("within tolerance: read %d, err %v", n, err)
	}
}

// Without a listed length the hard cap bounds the stream; a Content-Length
// past the bound is refused before any byte is read.
func TestDownloadCapWithoutListedLength(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("/interaction-content/interactions/{guid}/content/chunked", serveChunked(300<<10))
	f.mux.HandleFunc("/interaction-content/interactions/{guid}/content/announced", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(300<<10))
		_, _ = w.Write(make([]byte, 300<<10))
	})
	c := newTestClient(t, f, func(c *Config) { c.MaxRecordingBytes = 100 << 10 })
	d, err := c.Download(context.Background(), guid(1), "chunked")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Body.Close()
	if err := d.Expect(-1); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, d.Body)
	if !IsPermanent(err) || n > 100<<10 {
		t.Fatalf("read %d, err %v: want the cap enforced as a permanent failure", n, err)
	}
	d, err = c.Download(context.Background(), guid(1), "announced")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Body.Close()
	if err := d.Expect(0); !IsPermanent(err) || !strings.Contains(err.Error(), "announced") {
		t.Fatalf("Content-Length past the cap, no length listed: err %v", err)
	}
	// A listed length longer than the cap is VCC's word: it bounds instead.
	d, err = c.Download(context.Background(), guid(1), "announced")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Body.Close()
	if err := d.Expect(300 << 10); err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, d.Body); err != nil || n != 300<<10 {
		t.Fatalf("listed past the cap: read %d, err %v", n, err)
	}
	// Expect narrows a body the client did not make too.
	own := &Download{Body: io.NopCloser(bytes.NewReader(make([]byte, 200<<10))), Length: -1}
	if err := own.Expect(10); err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, own.Body); !IsPermanent(err) || n > 10+LengthTolerance(10) {
		t.Fatalf("foreign body: read %d, err %v", n, err)
	}
	announced := &Download{Body: io.NopCloser(strings.NewReader("")), Length: 1 << 30}
	if err := announced.Expect(10); !IsPermanent(err) {
		t.Fatalf("Content-Length past the listed length: %v", err)
	}
}

// A download that goes silent fails after ReadStall, as a transient failure,
// instead of holding its caller until the invocation's deadline.
func TestDownloadStallIsTransient(t *testing.T) {
	f := newFake(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	f.mux.HandleFunc("/interaction-content/interactions/{guid}/content/{key}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		_, _ = w.Write(make([]byte, 10))
		w.(http.Flusher).Flush()
		select { // then nothing
		case <-release:
		case <-r.Context().Done():
		}
	})
	c := newTestClient(t, f, func(c *Config) { c.ReadStall = 200 * time.Millisecond })
	d, err := c.Download(context.Background(), guid(1), "callRecording")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Body.Close()
	start := time.Now()
	n, err := io.Copy(io.Discard, d.Body)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("stalled read held for %s", took)
	}
	if n != 10 || !IsTransient(err) || IsPermanent(err) || !strings.Contains(err.Error(), "stalled after 10 bytes") {
		t.Fatalf("read %d, err %v: want a transient stall", n, err)
	}
}

// A download that drips (a byte every few tens of milliseconds, never
// silent for ReadStall) is given up too: less than minStallBytes in a
// ReadStall of waiting.
func TestDownloadDripIsTransient(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("/interaction-content/interactions/{guid}/content/{key}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		for i := 0; i < 100000; i++ {
			if _, err := w.Write([]byte{'x'}); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-time.After(20 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
	})
	c := newTestClient(t, f, func(c *Config) { c.ReadStall = 300 * time.Millisecond })
	// The deadline stands for the invocation's: the drip must end first.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := c.Download(ctx, guid(1), "callRecording")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Body.Close()
	n, err := io.Copy(io.Discard, d.Body)
	if ctx.Err() != nil {
		t.Fatalf("a dripping download held until the deadline (%d bytes, %v)", n, err)
	}
	if !IsTransient(err) || n >= minStallBytes {
		t.Fatalf("read %d, err %v: want a transient stall", n, err)
	}
}

// The watchdog times the reads, not the whole download: a steady stream,
// or a consumer slow between reads (a slow upload), is not a stall.
func TestDownloadSteadyStreamIsNotAStall(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("/interaction-content/interactions/{guid}/content/{key}", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 6; i++ {
			_, _ = w.Write(make([]byte, 4<<10))
			w.(http.Flusher).Flush()
			time.Sleep(60 * time.Millisecond)
		}
	})
	c := newTestClient(t, f, func(c *Config) { c.ReadStall = 250 * time.Millisecond })
	d, err := c.Download(context.Background(), guid(1), "callRecording")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Body.Close()
	var n int
	buf := make([]byte, 512)
	for {
		k, err := d.Body.Read(buf)
		n += k
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read %d, err %v", n, err)
		}
		if n == 4<<10 {
			time.Sleep(400 * time.Millisecond) // the consumer, not VCC, is slow
		}
	}
	if n != 6*4<<10 {
		t.Fatalf("read %d", n)
	}
}

// A JSON answer longer than maxJSONBody is refused, not decoded.
func TestJSONAnswerCapped(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("/interaction-content/interactions/{guid}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"guid":"`+guid(1)+`","start":"2026-11-02T10:00:00Z","connectFrom":"`)
		pad := bytes.Repeat([]byte("x"), 1<<20)
		for i := 0; i < maxJSONBody>>20+1; i++ {
			if _, err := w.Write(pad); err != nil {
				return
			}
		}
		_, _ = io.WriteString(w, `"}`)
	})
	c := newTestClient(t, f)
	_, err := c.GetInteraction(context.Background(), guid(1))
	if !IsPermanent(err) || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("err = %v, want the answer refused as too long", err)
	}
}

// A token endpoint answering with a redirect gets no second request: the
// client secret is sent to TokenURL and nowhere else.
func TestTokenRequestFollowsNoRedirect(t *testing.T) {
	var elsewhere atomic.Int64
	var leaked atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		_ = r.ParseForm()
		leaked.Store(r.PostForm.Get("client_secret") + r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "stolen", "expires_in": 7200})
	}))
	defer other.Close()
	f := newFake(t)
	f.tokenHook = func(w http.ResponseWriter, r *http.Request) bool {
		http.Redirect(w, r, other.URL+"/Auth/connect/token", http.StatusTemporaryRedirect)
		return true
	}
	f.mux.HandleFunc("/interaction-content/interactions/{guid}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"guid": guid(1), "start": "2026-11-02T10:00:00Z"})
	})
	c := newTestClient(t, f)
	_, err := c.GetInteraction(context.Background(), guid(1))
	if elsewhere.Load() != 0 {
		t.Fatalf("the token request was re-sent to the redirect target %d times (saw %q)", elsewhere.Load(), leaked.Load())
	}
	if !errors.Is(err, ErrRedirectRefused) || !IsPermanent(err) {
		t.Fatalf("err = %v, want a permanent refused redirect", err)
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Fatal("secret in the error")
	}
}

// Whatever client is given, the VCC redirect policy replaces its own.
func TestGivenHTTPClientGetsTheRedirectPolicy(t *testing.T) {
	leaky := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
	f := newFake(t)
	c := newTestClient(t, f, func(c *Config) { c.HTTPClient = leaky })
	origin, _ := http.NewRequest(http.MethodGet, "https://emea.api.newvoicemedia.com/x", nil)
	next, _ := http.NewRequest(http.MethodGet, "https://emea.api.newvoicemedia.com:8443/x", nil)
	next.Header.Set("Authorization", "Bearer t")
	if err := c.cfg.HTTPClient.CheckRedirect(next, []*http.Request{origin}); err != nil || next.Header.Get("Authorization") != "" {
		t.Fatalf("the given client's policy was kept: err %v, Authorization %q", err, next.Header.Get("Authorization"))
	}
	if leaky.CheckRedirect(next, nil) != nil {
		t.Fatal("the caller's client was changed")
	}
}

// The access token never prints, whatever the verb, handler or encoder.
func TestTokenNeverPrints(t *testing.T) {
	tok := &token{access: "access-token-that-must-not-print"}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		out = append(out, fmt.Sprintf(verb, tok), fmt.Sprintf(verb, struct{ T *token }{tok}))
	}
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("m", "token", tok)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("m", "token", tok)
	data, _ := json.Marshal(struct{ T *token }{tok})
	out = append(out, text.String(), js.String(), string(data))
	for _, o := range out {
		if strings.Contains(o, tok.access) || strings.Contains(o, fmt.Sprintf("%x", tok.access)) {
			t.Errorf("printed the token: %s", o)
		}
	}
}
