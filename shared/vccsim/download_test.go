package vccsim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// firstAudio returns a visible audio recording.
func firstAudio(t *testing.T, s *Sim) Recording {
	t.Helper()
	for _, r := range s.Recordings() {
		if r.Visible && r.Audio {
			return r
		}
	}
	t.Fatal("no visible audio recording")
	return Recording{}
}

func downloadPath(r Recording) string {
	return "/interaction-content/interactions/" + r.InteractionGUID + "/content/" + r.ContentKey
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestDownloadMatchesGroundTruth(t *testing.T) {
	s := startSim(t, Options{Seed: 12})
	tok := token(t, s, allScopes)
	n := 0
	for _, rec := range s.Recordings() {
		if !rec.Visible {
			continue
		}
		resp := get(t, s, tok, MediaV3, downloadPath(rec))
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v", rec.ContentKey, resp.StatusCode, err)
		}
		if resp.Header.Get("Content-Type") != rec.ContentType || resp.ContentLength != rec.Size ||
			int64(len(b)) != rec.Size || sha(b) != rec.SHA256 {
			t.Fatalf("%s/%s: type %q length %d bytes %d", rec.InteractionGUID, rec.ContentKey,
				resp.Header.Get("Content-Type"), resp.ContentLength, len(b))
		}
		if n++; n == 40 {
			break
		}
	}
	rec := firstAudio(t, s)
	getJSON(t, s, tok, MediaV3, "/interaction-content/interactions/"+rec.InteractionGUID+"/content/nope", 404, nil)

	// Range requests.
	req, _ := http.NewRequest(http.MethodGet, s.APIURL()+downloadPath(rec), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", MediaV3)
	req.Header.Set("Range", "bytes=100-199")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	part, _ := io.ReadAll(resp.Body)
	whole := get(t, s, tok, MediaV3, downloadPath(rec))
	all, _ := io.ReadAll(whole.Body)
	if resp.StatusCode != http.StatusPartialContent || string(part) != string(all[100:200]) {
		t.Fatalf("range: status %d, %d bytes", resp.StatusCode, len(part))
	}
}

func TestTruncatedDownloads(t *testing.T) {
	tests := []struct {
		name       string
		faults     Faults
		wantLength bool
	}{
		{"with Content-Length", Faults{Truncate: 1}, true},
		{"chunked", Faults{TruncateNoLength: 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t, Options{Seed: 13, Faults: tt.faults})
			tok := token(t, s, allScopes)
			rec := firstAudio(t, s)
			resp := get(t, s, tok, MediaV3, downloadPath(rec))
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := resp.ContentLength == rec.Size; got != tt.wantLength {
				t.Fatalf("ContentLength %d (size %d)", resp.ContentLength, rec.Size)
			}
			b, err := io.ReadAll(resp.Body)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("read error %v after %d bytes, want unexpected EOF", err, len(b))
			}
			if int64(len(b)) >= rec.Size {
				t.Fatalf("got %d of %d bytes", len(b), rec.Size)
			}
			if s.Counters().Faults != 1 {
				t.Fatalf("faults %d", s.Counters().Faults)
			}
		})
	}
}

func TestCrossHostRedirect(t *testing.T) {
	s := startSim(t, Options{Seed: 14, Faults: Faults{Redirect: 1}})
	tok := token(t, s, allScopes)
	rec := firstAudio(t, s)

	// Go's default client drops Authorization on a cross-host redirect.
	resp := get(t, s, tok, MediaV3, downloadPath(rec))
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || sha(b) != rec.SHA256 {
		t.Fatalf("redirected download: status %d err %v", resp.StatusCode, err)
	}
	if resp.Request.URL.Host == strings.TrimPrefix(s.APIURL(), "http://") {
		t.Fatalf("not redirected to another host: %s", resp.Request.URL)
	}
	c := s.Counters()
	if c.ByEndpoint[EndpointRedirected] != 1 || c.RedirectAuthRejected != 0 {
		t.Fatalf("counters %+v", c)
	}

	// A client that forwards the token is refused.
	leaky := &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
		req.Header.Set("Authorization", via[0].Header.Get("Authorization"))
		return nil
	}}
	req, _ := http.NewRequest(http.MethodGet, s.APIURL()+downloadPath(rec), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", MediaV3)
	resp2, err := leaky.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusBadRequest || s.Counters().RedirectAuthRejected != 1 {
		t.Fatalf("leaked token: status %d", resp2.StatusCode)
	}

	// Without following, the answer is a 307 to a signed URL on another host.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ = http.NewRequest(http.MethodGet, s.APIURL()+downloadPath(rec), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", MediaV3)
	resp3, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp3.Body.Close()
	if loc := resp3.Header.Get("Location"); resp3.StatusCode != http.StatusTemporaryRedirect || !strings.HasPrefix(loc, "http://localhost:") {
		t.Fatalf("status %d location %q", resp3.StatusCode, loc)
	}
}

func TestThrottleAnd5xx(t *testing.T) {
	tests := []struct {
		name           string
		faults         Faults
		wantStatus     int
		wantRetryAfter string
	}{
		{"429 with Retry-After", Faults{Throttle: 1, RetryAfter: 1500 * time.Millisecond}, 429, "2"},
		{"429 default Retry-After", Faults{Throttle: 1}, 429, "1"},
		{"429 without Retry-After", Faults{ThrottleNoRetryAfter: 1}, 429, ""},
		{"5xx", Faults{Status5xx: 1}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t, Options{Seed: 15})
			tok := token(t, s, allScopes)
			s.SetFaults(tt.faults)
			// Faults never touch the token endpoint.
			if st, _ := requestToken(t, s, s.ClientID(), s.ClientSecret(), "stats", true); st != 200 {
				t.Fatalf("token under faults: %d", st)
			}
			resp := get(t, s, tok, MediaV3, "/stats/interactions/"+s.Interactions()[0].GUID)
			if tt.wantStatus != 0 && resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if tt.wantStatus == 0 && resp.StatusCode < 500 {
				t.Fatalf("status %d, want 5xx", resp.StatusCode)
			}
			if got := resp.Header.Get("Retry-After"); got != tt.wantRetryAfter {
				t.Fatalf("Retry-After %q, want %q", got, tt.wantRetryAfter)
			}
			s.SetFaults(Faults{})
			if resp := get(t, s, tok, MediaV3, "/stats/interactions/"+s.Interactions()[0].GUID); resp.StatusCode != 200 {
				t.Fatalf("after clearing faults: %d", resp.StatusCode)
			}
		})
	}
}

func TestFaultRateIsRoughlyAsConfigured(t *testing.T) {
	fr := newFaultRoller(1, Faults{Status5xx: 0.1, Throttle: 0.1, Redirect: 0.2})
	n := map[fault]int{}
	for i := 0; i < 10000; i++ {
		f, _ := fr.roll(true)
		n[f]++
	}
	if n[fault5xx] < 900 || n[fault5xx] > 1100 || n[faultThrottle] < 900 || n[faultThrottle] > 1100 ||
		n[faultRedirect] < 1400 || n[faultRedirect] > 1800 || n[faultTruncate] != 0 {
		t.Fatalf("fault counts %v", n)
	}
}

func TestLatency(t *testing.T) {
	s := startSim(t, Options{Seed: 16, Latency: 50 * time.Millisecond})
	t0 := time.Now()
	token(t, s, allScopes)
	if d := time.Since(t0); d < 50*time.Millisecond {
		t.Fatalf("answered in %v", d)
	}
}

func TestDeterminism(t *testing.T) {
	a, b, c := New(Options{Seed: 99}), New(Options{Seed: 99}), New(Options{Seed: 100})
	if !reflect.DeepEqual(a.Interactions(), b.Interactions()) || !reflect.DeepEqual(a.Agents(), b.Agents()) {
		t.Fatal("same seed, different population")
	}
	ra, rb := a.Recordings(), b.Recordings()
	if !reflect.DeepEqual(ra, rb) || len(ra) == 0 {
		t.Fatal("same seed, different recordings")
	}
	if reflect.DeepEqual(ra, c.Recordings()) {
		t.Fatal("different seeds, same recordings")
	}
	ga := a.AddInteraction(day.Add(time.Hour), "outbound", 1000)
	gb := b.AddInteraction(day.Add(time.Hour), "outbound", 1000)
	if ga != gb {
		t.Fatal("AddInteraction is not deterministic")
	}
}

func TestAddLargeInteraction(t *testing.T) {
	s := startSim(t, Options{Seed: 17, InteractionsPerDay: -1})
	const size = 256 << 20
	g := s.AddInteraction(day.Add(2*time.Hour), "Inbound", size)
	tok := token(t, s, allScopes)
	got := listContent(t, s, tok, day, day.Add(24*time.Hour), 10, "")
	if len(got) != 1 || got[0] != g {
		t.Fatalf("listing %v", got)
	}
	resp := get(t, s, tok, MediaV3, "/interaction-content/interactions/"+g+"/content/callRecording")
	if resp.ContentLength != size {
		t.Fatalf("Content-Length %d", resp.ContentLength)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil || n != size {
		t.Fatalf("read %d: %v", n, err)
	}
	recs := s.Recordings()
	if len(recs) != 1 || recs[0].SHA256 != hex.EncodeToString(h.Sum(nil)) || recs[0].Size != size {
		t.Fatalf("ground truth %+v", recs)
	}
}

func TestRunStandalone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- RunStandalone(ctx, "127.0.0.1:0", Options{Seed: 18}, nil, pw); pw.Close() }()
	env := map[string]string{}
	buf := make([]byte, 4096)
	var out string
	for strings.Count(out, "\n") < 4 {
		n, err := pr.Read(buf)
		if err != nil {
			t.Fatalf("read output: %v (%q)", err, out)
		}
		out += string(buf[:n])
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(line, "=")
		env[k] = v
	}
	if env["VCC_CLIENT_ID"] != "sandbox-client" || env["VCC_CLIENT_SECRET"] != "sandbox-secret" ||
		env["VCC_TOKEN_URL"] != env["VCC_API_URL"]+TokenPath {
		t.Fatalf("output %q", out)
	}
	resp, err := http.Post(env["VCC_TOKEN_URL"], "application/x-www-form-urlencoded",
		strings.NewReader("grant_type=client_credentials&client_id=sandbox-client&client_secret=sandbox-secret"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("token status %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("RunStandalone did not return")
	}
}

func TestConcurrentClientsUnderFaults(t *testing.T) {
	s := startSim(t, Options{Seed: 19, Faults: Faults{Status5xx: 0.1, Throttle: 0.1, Truncate: 0.1, Redirect: 0.1}})
	tok := token(t, s, allScopes)
	var recs []Recording
	for _, r := range s.Recordings() {
		if r.Visible {
			recs = append(recs, r)
		}
	}
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		go func(w int) {
			for i := w; i < len(recs); i += 4 {
				rec := recs[i]
				for attempt := 0; ; attempt++ {
					if attempt == 50 {
						errs <- errors.New("no success after 50 attempts: " + rec.InteractionGUID)
						return
					}
					req, _ := http.NewRequest(http.MethodGet, s.APIURL()+downloadPath(rec), nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					req.Header.Set("Accept", MediaV3)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						continue
					}
					b, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode == 200 {
						if sha(b) != rec.SHA256 {
							errs <- errors.New("wrong bytes for " + rec.InteractionGUID)
							return
						}
						break
					}
				}
			}
			errs <- nil
		}(w)
	}
	for w := 0; w < 4; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if c := s.Counters(); c.Faults == 0 || c.ByStatus[http.StatusTooManyRequests] == 0 {
		t.Fatalf("no faults injected: %+v", c)
	}
}

// Some callRecordings are a video call's: listed and served as video/webm
// (WebM bytes), and not audio in the ground truth.
func TestVideoCallRecording(t *testing.T) {
	s := startSim(t, Options{Seed: 23, InteractionsPerDay: 200})
	tok := token(t, s, allScopes)
	var videos, audio int
	for _, rec := range s.Recordings() {
		if rec.Type != TypeCallRecording || !rec.Visible {
			continue
		}
		if rec.ContentType != "video/webm" {
			audio++
			continue
		}
		videos++
		if rec.Audio {
			t.Errorf("%s: a video callRecording counted as audio", rec.InteractionGUID)
		}
		if videos > 1 {
			continue
		}
		resp := get(t, s, tok, MediaV3, downloadPath(rec))
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "video/webm" || len(b) < 4 || string(b[:4]) != "\x1a\x45\xdf\xa3" {
			t.Errorf("%s: %d %q %v, want WebM bytes", rec.InteractionGUID, resp.StatusCode, resp.Header.Get("Content-Type"), err)
		}
	}
	if videos == 0 || audio < 10*videos {
		t.Errorf("%d video and %d audio callRecordings: want a few videos among mostly audio", videos, audio)
	}
}
