package vcc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func item(g string, start time.Time, extra map[string]any) map[string]any {
	m := map[string]any{
		"guid":           g,
		"start":          start.UTC().Format(time.RFC3339),
		"direction":      "inbound",
		"connectFrom":    "+441234",
		"connectTo":      "+449876",
		"handlingAgents": []map[string]any{{"id": "1342"}},
		"content": []map[string]any{{
			"contentKey": "callRecording", "type": "callRecording", "contentType": "audio/wav",
			"contentLength": 1234, "lastModified": start.UTC().Format(time.RFC3339), "owningAgent": map[string]any{"id": 1342},
		}},
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestListInteractionsPaging(t *testing.T) {
	f := newFake(t)
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	var queries []string
	f.mux.HandleFunc("/interaction-content/interactions", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		q := r.URL.Query()
		if q.Get("start") != "2026-11-02T00:00:00Z" || q.Get("end") != "2026-11-03T00:00:00Z" || q.Get("limit") != "2" {
			writeJSON(w, 400, map[string]any{"message": "bad query " + r.URL.RawQuery})
			return
		}
		switch q.Get("continuationToken") {
		case "":
			writeJSON(w, 200, map[string]any{
				"items": []any{item(guid(1), day.Add(time.Hour), nil), item(guid(2), day.Add(2*time.Hour), map[string]any{
					"direction": "OUTBOUND",
					"content": []map[string]any{
						{"contentKey": "callRecording", "type": "callRecording", "contentType": "audio/wav"},
						{"contentKey": "transcript-1", "type": "transcript", "contentType": "application/json", "contentLength": "77"},
					},
				})},
				"meta": map[string]any{"nextContinuationToken": "tok+/=1"},
			})
		case "tok+/=1":
			writeJSON(w, 200, map[string]any{
				"items": []any{item(guid(2), day.Add(2*time.Hour), nil), item(guid(3), day.Add(3*time.Hour), nil)},
				"meta":  map[string]any{"nextContinuationToken": "tok2"},
			})
		case "tok2":
			writeJSON(w, 200, map[string]any{"items": []any{}, "meta": map[string]any{"nextContinuationToken": nil}})
		default:
			writeJSON(w, 400, map[string]any{"message": "unknown token"})
		}
	})
	c := newTestClient(t, f, func(c *Config) { c.PageSize = 2 })
	var got []Interaction
	err := c.ListInteractions(context.Background(), day, day.Add(24*time.Hour), func(in Interaction) error {
		got = append(got, in)
		return nil
	})
	if err != nil {
		t.Fatalf("ListInteractions: %v", err)
	}
	if len(queries) != 3 {
		t.Fatalf("requests = %d, want 3: %v", len(queries), queries)
	}
	if len(got) != 3 {
		t.Fatalf("got %d interactions, want 3 (guid 2 de-duplicated)", len(got))
	}
	for i, in := range got {
		if in.GUID != guid(i+1) {
			t.Errorf("interaction %d guid = %s, want %s", i, in.GUID, guid(i+1))
		}
	}
	first := got[0]
	if !first.Start.Equal(day.Add(time.Hour)) || first.Direction != DirectionInbound ||
		first.ConnectFrom != "+441234" || first.ConnectTo != "+449876" ||
		len(first.HandlingAgents) != 1 || first.HandlingAgents[0].ID != "1342" {
		t.Errorf("first interaction decoded wrongly: %+v", first)
	}
	if len(first.Content) != 1 {
		t.Fatalf("first content = %+v", first.Content)
	}
	ci := first.Content[0]
	if ci.ContentKey != "callRecording" || ci.Type != "callRecording" || ci.ContentType != "audio/wav" ||
		ci.ContentLength != 1234 || ci.OwningAgentID != "1342" || !ci.LastModified.Equal(day.Add(time.Hour)) {
		t.Errorf("content decoded wrongly: %+v", ci)
	}
	second := got[1]
	if second.Direction != DirectionOutbound {
		t.Errorf("direction = %q, want outbound", second.Direction)
	}
	if len(second.Content) != 2 || second.Content[0].ContentLength != -1 || second.Content[1].ContentLength != 77 {
		t.Errorf("content lengths: %+v", second.Content)
	}
	if n := c.Counters().Calls["content.list"]; n != 3 {
		t.Errorf("content.list calls = %d, want 3", n)
	}
	if f.badHeaders.Load() != 0 {
		t.Errorf("%d requests without the required headers", f.badHeaders.Load())
	}
}

func TestListInteractionsSplitsWindowsAndDeduplicates(t *testing.T) {
	f := newFake(t)
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	end := start.Add(17 * 24 * time.Hour)
	var mu sync.Mutex
	var wins [][2]time.Time
	f.mux.HandleFunc("/interaction-content/interactions", func(w http.ResponseWriter, r *http.Request) {
		s, err1 := time.Parse(time.RFC3339, r.URL.Query().Get("start"))
		e, err2 := time.Parse(time.RFC3339, r.URL.Query().Get("end"))
		if err1 != nil || err2 != nil {
			writeJSON(w, 400, map[string]any{"message": "bad window"})
			return
		}
		if e.Sub(s) > 7*24*time.Hour {
			writeJSON(w, 400, map[string]any{"message": "window exceeds 7 days"})
			return
		}
		mu.Lock()
		wins = append(wins, [2]time.Time{s, e})
		mu.Unlock()
		// One interaction inside the window, and one exactly at each
		// boundary: an API with an inclusive end lists it in both windows.
		items := []any{
			item(guid(int(s.Unix()/3600)), s, nil),
			item(guid(int(e.Unix()/3600)), e, nil),
			item(guid(int(s.Add(time.Hour).Unix()/3600)), s.Add(time.Hour), nil),
		}
		writeJSON(w, 200, map[string]any{"items": items, "meta": map[string]any{}})
	})
	c := newTestClient(t, f)
	seen := map[string]int{}
	err := c.ListInteractions(context.Background(), start, end, func(in Interaction) error {
		seen[in.GUID]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantWins := [][2]time.Time{
		{start, start.Add(7 * 24 * time.Hour)},
		{start.Add(7 * 24 * time.Hour), start.Add(14 * 24 * time.Hour)},
		{start.Add(14 * 24 * time.Hour), end},
	}
	if fmt.Sprint(wins) != fmt.Sprint(wantWins) {
		t.Errorf("windows = %v, want %v", wins, wantWins)
	}
	// 3 windows x 3 items; the one at each window's end is dropped there
	// (half-open windows), and the next window lists it at its start; the
	// one at the last end is outside [start, end) altogether.
	if len(seen) != 6 {
		t.Errorf("distinct interactions = %d, want 6", len(seen))
	}
	if _, ok := seen[guid(int(end.Unix()/3600))]; ok {
		t.Errorf("the interaction starting exactly at end was passed")
	}
	if n := c.Counters().OutOfWindow; n != 3 {
		t.Errorf("OutOfWindow = %d, want 3", n)
	}
	for g, n := range seen {
		if n != 1 {
			t.Errorf("%s passed %d times", g, n)
		}
	}
}

func TestListInteractionsSkipsInvalidIDs(t *testing.T) {
	f := newFake(t)
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	f.mux.HandleFunc("/interaction-content/interactions", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"items": []any{
			item("../../useradmin/users", day, nil),
			item(guid(7), day, map[string]any{"content": []map[string]any{
				{"contentKey": "../secret", "type": "callRecording"},
				{"contentKey": "..", "type": "callRecording"},
				{"contentKey": "callRecording", "type": "callRecording"},
			}}),
		}, "meta": map[string]any{"nextContinuationToken": nil}})
	})
	c := newTestClient(t, f)
	var got []Interaction
	if err := c.ListInteractions(context.Background(), day, day.Add(time.Hour), func(in Interaction) error {
		got = append(got, in)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].GUID != guid(7) || len(got[0].Content) != 1 || got[0].Content[0].ContentKey != "callRecording" {
		t.Fatalf("got %+v", got)
	}
	if n := c.Counters().Invalid; n != 3 {
		t.Errorf("Invalid = %d, want 3", n)
	}
}

func TestListInteractionsStopsOnCallbackError(t *testing.T) {
	f := newFake(t)
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	f.mux.HandleFunc("/interaction-content/interactions", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"items": []any{item(guid(1), day, nil), item(guid(2), day, nil)},
			"meta": map[string]any{"nextContinuationToken": "more"}})
	})
	c := newTestClient(t, f)
	stop := errors.New("stop")
	calls := 0
	err := c.ListInteractions(context.Background(), day, day.Add(time.Hour), func(Interaction) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("err = %v, calls = %d", err, calls)
	}
	if n := c.Counters().Calls["content.list"]; n != 1 {
		t.Errorf("content.list calls = %d, want 1", n)
	}
}

func TestListInteractionsRepeatedContinuationToken(t *testing.T) {
	f := newFake(t)
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	f.mux.HandleFunc("/interaction-content/interactions", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"items": []any{item(guid(1), day, nil)},
			"meta": map[string]any{"nextContinuationToken": "same"}})
	})
	c := newTestClient(t, f)
	err := c.ListInteractions(context.Background(), day, day.Add(time.Hour), func(Interaction) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "repeated") {
		t.Fatalf("err = %v, want a repeated-token error", err)
	}
	if n := c.Counters().Calls["content.list"]; n != 2 {
		t.Errorf("content.list calls = %d, want 2", n)
	}
}

func TestGetInteraction(t *testing.T) {
	f := newFake(t)
	day := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	f.mux.HandleFunc("/interaction-content/interactions/{guid}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("guid") == guid(1) {
			writeJSON(w, 200, item(guid(1), day, map[string]any{"start": "2026-11-02T10:00:00.000Z"}))
			return
		}
		writeJSON(w, 404, map[string]any{"message": "Interaction not found"})
	})
	c := newTestClient(t, f)
	in, err := c.GetInteraction(context.Background(), guid(1))
	if err != nil {
		t.Fatal(err)
	}
	if in.GUID != guid(1) || !in.Start.Equal(day) || len(in.Content) != 1 {
		t.Errorf("got %+v", in)
	}
	_, err = c.GetInteraction(context.Background(), guid(2))
	var ae *APIError
	if !errors.Is(err, ErrNotFound) || !IsPermanent(err) || IsTransient(err) || !errors.As(err, &ae) ||
		ae.Message != "Interaction not found" || ae.Endpoint != "content.get" {
		t.Fatalf("404: err = %v", err)
	}
	if n := c.Counters().Calls["content.get"]; n != 2 {
		t.Errorf("content.get calls = %d, want 2 (no retry of the 404)", n)
	}
}

func TestDownloadStreams(t *testing.T) {
	f := newFake(t)
	payload := bytes.Repeat([]byte("RIFF-wave-data-"), 10000)
	f.mux.HandleFunc("/interaction-content/interactions/{guid}/content/{key}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("key") != "callRecording" || r.Header.Get("Accept-Encoding") != "identity" {
			writeJSON(w, 404, map[string]any{"message": "no"})
			return
		}
		w.Header().Set("Content-Type", "audio/wav")
		w.Header().Set("Content-Length", strconv.Itoa(len(payload)))
		_, _ = w.Write(payload)
	})
	c := newTestClient(t, f)
	d, err := c.Download(context.Background(), guid(1), "callRecording")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Body.Close()
	if d.ContentType != "audio/wav" || d.Length != int64(len(payload)) {
		t.Errorf("ContentType %q Length %d", d.ContentType, d.Length)
	}
	got, err := io.ReadAll(d.Body)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("read %d bytes, err %v", len(got), err)
	}
}

func TestDownloadUnknownLength(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("/interaction-content/interactions/{guid}/content/{key}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		for i := 0; i < 3; i++ {
			_, _ = w.Write(make([]byte, 1000))
			w.(http.Flusher).Flush() // chunked: no Content-Length
		}
	})
	c := newTestClient(t, f)
	d, err := c.Download(context.Background(), guid(1), "callRecording")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Body.Close()
	n, err := io.Copy(io.Discard, d.Body)
	if d.Length != -1 || n != 3000 || err != nil {
		t.Fatalf("Length %d, read %d, err %v", d.Length, n, err)
	}
}

// truncatingHandler announces size bytes and sends half, then drops the
// connection.
func truncatingHandler(size int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.WriteHeader(200)
		_, _ = w.Write(make([]byte, size/2))
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}
}

func TestDownloadTruncatedIsDetected(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("/interaction-content/interactions/{guid}/content/{key}", truncatingHandler(100000))
	c := newTestClient(t, f)
	d, err := c.Download(context.Background(), guid(1), "callRecording")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Body.Close()
	n, err := io.Copy(io.Discard, d.Body)
	if n >= 100000 {
		t.Fatalf("read %d bytes of a truncated body", n)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) || !IsTransient(err) || IsPermanent(err) {
		t.Fatalf("err = %v, want a transient io.ErrUnexpectedEOF", err)
	}
}

// A body that ends cleanly before the announced length (a transport that does
// not enforce Content-Length) is reported as truncated too.
func TestDownloadBodyShortCleanEOF(t *testing.T) {
	b := &downloadBody{rc: io.NopCloser(strings.NewReader("abc")), want: 10, guid: guid(1), key: "callRecording"}
	_, err := io.ReadAll(b)
	if !errors.Is(err, io.ErrUnexpectedEOF) || !IsTransient(err) {
		t.Fatalf("err = %v", err)
	}
	b = &downloadBody{rc: io.NopCloser(strings.NewReader("abc")), want: 3}
	if _, err := io.ReadAll(b); err != nil {
		t.Fatalf("complete body: %v", err)
	}
}

func TestDownloadCrossHostRedirectDropsAuthorization(t *testing.T) {
	payload := []byte("signed-storage-bytes")
	type seen struct{ auth, accept string }
	var mu sync.Mutex
	var storage []seen
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		storage = append(storage, seen{r.Header.Get("Authorization"), r.Header.Get("Accept")})
		mu.Unlock()
		w.Header().Set("Content-Type", "audio/wav")
		_, _ = w.Write(payload)
	}))
	defer store.Close()
	_, storePort, _ := net.SplitHostPort(store.Listener.Addr().String())

	f := newFake(t)
	f.mux.HandleFunc("/interaction-content/interactions/{guid}/content/{key}", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("same") == "" && r.PathValue("key") == "callRecording" {
			// A different host name (resolved to the storage server below).
			http.Redirect(w, r, "http://storage.invalid:"+storePort+"/blob?sig=abc", http.StatusFound)
			return
		}
		http.Redirect(w, r, f.srv.URL+"/same-host-blob", http.StatusTemporaryRedirect)
	})
	var sameHostAuth string
	f.mux.HandleFunc("/same-host-blob", func(w http.ResponseWriter, r *http.Request) {
		sameHostAuth = r.Header.Get("Authorization")
		_, _ = w.Write(payload)
	})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if strings.HasPrefix(addr, "storage.invalid:") {
			addr = store.Listener.Addr().String()
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	c := newTestClient(t, f, func(c *Config) { c.HTTPClient = &http.Client{Transport: tr} })

	d, err := c.Download(context.Background(), guid(1), "callRecording")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(d.Body)
	d.Body.Close()
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("got %q, %v", got, err)
	}
	if len(storage) != 1 || storage[0].auth != "" {
		t.Fatalf("storage saw Authorization %+v; the bearer token must not leave the API host", storage)
	}
	// The default client too: same policy.
	c2 := newTestClient(t, f)
	if c2.cfg.HTTPClient.CheckRedirect == nil {
		t.Error("the client has no redirect policy of its own")
	}
	// Same host: the header stays (Go's policy), proving the test can see it.
	d, err = c.Download(context.Background(), guid(1), "voicemail")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, d.Body)
	d.Body.Close()
	if !strings.HasPrefix(sameHostAuth, "Bearer ") {
		t.Errorf("same-host redirect Authorization = %q", sameHostAuth)
	}
}

func TestInvalidIDsRejectedBeforeAnyRequest(t *testing.T) {
	f := newFake(t)
	c := newTestClient(t, f)
	ctx := context.Background()
	badGUIDs := []string{"", "1234", "../../x", guid(1) + "/x", strings.ToUpper(guid(1)) + "0",
		"0000000g-0000-4000-8000-000000000000", "00000000_0000-4000-8000-000000000000", "00000000-0000-4000-8000-00000000000%"}
	for _, g := range badGUIDs {
		if _, err := c.GetInteraction(ctx, g); !errors.Is(err, ErrInvalidID) || !IsPermanent(err) {
			t.Errorf("GetInteraction(%q) err = %v", g, err)
		}
		if _, err := c.GetStats(ctx, g); !errors.Is(err, ErrInvalidID) {
			t.Errorf("GetStats(%q) err = %v", g, err)
		}
		if _, err := c.Download(ctx, g, "callRecording"); !errors.Is(err, ErrInvalidID) {
			t.Errorf("Download(%q) err = %v", g, err)
		}
	}
	for _, k := range []string{"", ".", "..", "a/b", "../etc", "a b", "a?b=c", "a%2f", strings.Repeat("a", 37), "ключ"} {
		if _, err := c.Download(ctx, guid(1), k); !errors.Is(err, ErrInvalidID) || !IsPermanent(err) {
			t.Errorf("Download key %q err = %v", k, err)
		}
	}
	if n := f.apiRequests.Load() + f.tokenRequests.Load(); n != 0 {
		t.Errorf("%d requests made for invalid ids", n)
	}
}

func TestValidContentKeyEscaping(t *testing.T) {
	f := newFake(t)
	var gotKey, gotGUID string
	f.mux.HandleFunc("/interaction-content/interactions/{guid}/content/{key}", func(w http.ResponseWriter, r *http.Request) {
		gotKey, gotGUID = r.PathValue("key"), r.PathValue("guid")
		_, _ = w.Write([]byte("x"))
	})
	c := newTestClient(t, f)
	const key = "a!-_.,*'()Z9"
	d, err := c.Download(context.Background(), guid(1), key)
	if err != nil {
		t.Fatal(err)
	}
	d.Body.Close()
	if gotKey != key || gotGUID != guid(1) {
		t.Errorf("server saw guid %q key %q", gotGUID, gotKey)
	}
}

func TestDownloadSHA256Streamed(t *testing.T) {
	// A download far larger than any buffer the client uses arrives intact.
	f := newFake(t)
	const size = 8 << 20
	f.mux.HandleFunc("/interaction-content/interactions/{guid}/content/{key}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		_, _ = io.Copy(w, io.LimitReader(&patternReader{}, size))
	})
	c := newTestClient(t, f)
	d, err := c.Download(context.Background(), guid(1), "callRecording")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, d.Body); err != nil {
		t.Fatal(err)
	}
	want := sha256.New()
	_, _ = io.Copy(want, io.LimitReader(&patternReader{}, size))
	if !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
		t.Error("sha256 mismatch")
	}
}

// patternReader yields a byte pattern that depends only on the position.
type patternReader struct{ pos int }

func (r *patternReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r.pos * 7 / 3)
		r.pos++
	}
	return len(p), nil
}

// Go's own policy keeps Authorization on a redirect to the same host name
// on another port, or from https to http; ours does not.
func TestRedirectPolicyKeepsTheTokenOnItsOrigin(t *testing.T) {
	mk := func(raw string) *http.Request {
		r, err := http.NewRequest(http.MethodGet, raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Authorization", "Bearer t")
		return r
	}
	origin := mk("https://emea.api.newvoicemedia.com/interaction-content/x")
	cases := []struct {
		to       string
		keepAuth bool
		refuse   bool
	}{
		{"https://emea.api.newvoicemedia.com/other", true, false},
		{"https://emea.api.newvoicemedia.com:8443/other", false, false},
		{"https://storage.example.net/signed", false, false},
		{"http://emea.api.newvoicemedia.com/other", false, true},
	}
	for _, tc := range cases {
		req := mk(tc.to)
		err := keepTokenOnOrigin(req, []*http.Request{origin})
		if (err != nil) != tc.refuse {
			t.Errorf("%s: err = %v, refuse %v", tc.to, err, tc.refuse)
		}
		if got := req.Header.Get("Authorization") != ""; !tc.refuse && got != tc.keepAuth {
			t.Errorf("%s: Authorization kept = %v, want %v", tc.to, got, tc.keepAuth)
		}
	}
}
