package vccsim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// startSim starts a sandbox for one test.
func startSim(t *testing.T, opts Options) *Sim {
	t.Helper()
	s := New(opts)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// token gets a token with the given scopes (space separated), failing the
// test on any error.
func token(t *testing.T, s *Sim, scope string) string {
	t.Helper()
	status, body := requestToken(t, s, s.ClientID(), s.ClientSecret(), scope, true)
	if status != http.StatusOK {
		t.Fatalf("token: status %d body %v", status, body)
	}
	return body["access_token"].(string)
}

func requestToken(t *testing.T, s *Sim, id, secret, scope string, basic bool) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	if !basic {
		form.Set("client_id", id)
		form.Set("client_secret", secret)
	}
	req, err := http.NewRequest(http.MethodPost, s.TokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("token body: %v", err)
	}
	return resp.StatusCode, m
}

const allScopes = "interaction-content:read users:read stats"

// get calls path (relative to APIURL) with the token and Accept header.
func get(t *testing.T, s *Sim, tok, accept, path string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.APIURL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// getJSON calls path and decodes the answer, checking the status.
func getJSON(t *testing.T, s *Sim, tok, accept, path string, wantStatus int, v any) {
	t.Helper()
	resp := get(t, s, tok, accept, path)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: status %d, want %d; body %s", path, resp.StatusCode, wantStatus, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: decode %s: %v", path, b, err)
		}
	}
}

type contentPage struct {
	Items []struct {
		GUID           string `json:"guid"`
		Direction      string `json:"direction"`
		HandlingAgents []struct {
			ID string `json:"id"`
		} `json:"handlingAgents"`
		Content []struct {
			ContentKey    string `json:"contentKey"`
			Type          string `json:"type"`
			ContentType   string `json:"contentType"`
			ContentLength *int64 `json:"contentLength"`
		} `json:"content"`
	} `json:"items"`
	Meta struct {
		NextContinuationToken *string `json:"nextContinuationToken"`
	} `json:"meta"`
}

// listContent pages through the content listing and returns the guids.
func listContent(t *testing.T, s *Sim, tok string, start, end time.Time, limit int, extra string) []string {
	t.Helper()
	var guids []string
	next := ""
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("paging does not end")
		}
		q := url.Values{"start": {start.Format(time.RFC3339Nano)}, "end": {end.Format(time.RFC3339Nano)}, "limit": {itoa(limit)}}
		if next != "" {
			q.Set("continuationToken", next)
		}
		var p contentPage
		getJSON(t, s, tok, MediaV3, "/interaction-content/interactions?"+q.Encode()+extra, http.StatusOK, &p)
		if len(p.Items) > limit {
			t.Fatalf("page of %d items, limit %d", len(p.Items), limit)
		}
		for _, it := range p.Items {
			guids = append(guids, it.GUID)
		}
		if p.Meta.NextContinuationToken == nil {
			return guids
		}
		next = *p.Meta.NextContinuationToken
	}
}

type statsPage struct {
	Items []struct {
		GUID      string `json:"guid"`
		Start     string `json:"start"`
		Direction string `json:"direction"`
		Duration  int64  `json:"duration"`
		Medium    string `json:"medium"`
	} `json:"items"`
	Meta struct {
		Page, Count, PageCount, TotalCount int
	} `json:"meta"`
}

func listStats(t *testing.T, s *Sim, tok string, start, end time.Time, limit int) []string {
	t.Helper()
	var guids []string
	for page := 1; ; page++ {
		q := url.Values{"start": {start.Format(time.RFC3339Nano)}, "end": {end.Format(time.RFC3339Nano)},
			"limit": {itoa(limit)}, "page": {itoa(page)}}
		var p statsPage
		getJSON(t, s, tok, MediaV3, "/stats/interactions?"+q.Encode(), http.StatusOK, &p)
		for i, it := range p.Items {
			guids = append(guids, it.GUID)
			if i > 0 && it.Start < p.Items[i-1].Start {
				t.Fatalf("stats not sorted by start: %s after %s", it.Start, p.Items[i-1].Start)
			}
		}
		if page >= p.Meta.PageCount {
			return guids
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

var day = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
