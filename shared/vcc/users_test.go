package vcc

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func user(n int) map[string]any {
	return map[string]any{
		"userId": guid(1000 + n), "username": fmt.Sprintf("user%d", n), "name": fmt.Sprintf("Agent %d", n),
		"email": fmt.Sprintf("agent%d@example.com", n), "active": true, "ssoExternalId": fmt.Sprintf("sso-%d", n),
		"userAccountConfiguration": map[string]any{"role": "Agent", "actAsAgent": true,
			"agentConfiguration": map[string]any{"agentDisplayId": 1300 + n}},
	}
}

// Page numbering of the directory as servers may do it.
type pageMode int

const (
	oneBasedRejectZero pageMode = iota // page=0 is a 400
	oneBasedZeroIsOne                  // page=0 is served as page 1
	zeroBased                          // pages count from 0 (page 1 is the second page)
)

// displayIDServer serves GET /useradmin/users/by/agentDisplayId/{id} for the
// n users of directoryServer (display ids 1301..1300+n).
func displayIDServer(f *fakeVCC, n int) *atomic.Int64 {
	var lookups atomic.Int64
	f.mux.HandleFunc("/useradmin/users/by/agentDisplayId/{id}", func(w http.ResponseWriter, r *http.Request) {
		lookups.Add(1)
		if k, err := strconv.Atoi(r.PathValue("id")); err == nil && k > 1300 && k <= 1300+n {
			writeJSON(w, 200, user(k-1300))
			return
		}
		writeJSON(w, 404, map[string]any{"statusCode": 404, "error": "Not Found", "message": "User not found"})
	})
	return &lookups
}

// directoryServer serves n users in pages; bare makes it answer arrays.
func directoryServer(t *testing.T, f *fakeVCC, n int, bare bool, mode pageMode) *atomic.Int64 {
	var lists atomic.Int64
	f.mux.HandleFunc("/useradmin/users", func(w http.ResponseWriter, r *http.Request) {
		lists.Add(1)
		q := r.URL.Query()
		page, err1 := strconv.Atoi(q.Get("page"))
		limit, err2 := strconv.Atoi(q.Get("limit"))
		if q.Get("include") != "All" || err1 != nil || err2 != nil || page < 0 || (page == 0 && mode == oneBasedRejectZero) {
			writeJSON(w, 400, map[string]any{"statusCode": 400, "error": "Bad Request", "message": "bad query " + r.URL.RawQuery})
			return
		}
		switch {
		case mode == zeroBased:
			page++
		case page == 0:
			page = 1
		}
		var users []map[string]any
		for i := (page-1)*limit + 1; i <= min(page*limit, n); i++ {
			users = append(users, user(i))
		}
		if users == nil {
			users = []map[string]any{}
		}
		if bare {
			writeJSON(w, 200, users)
			return
		}
		writeJSON(w, 200, map[string]any{"users": users, "meta": map[string]any{"page": page, "count": len(users), "totalCount": n}})
	})
	return &lists
}

func TestResolveAgent(t *testing.T) {
	modes := []struct {
		name  string
		bare  bool
		mode  pageMode
		lists int64 // directory requests for 5 users in pages of 2
		// display-id lookups: "9999" (unknown) always; on a 0-based
		// server the first page is never read, and its users are found
		// by display id.
		lookups int64
	}{
		{"object, 1-based, page 0 rejected", false, oneBasedRejectZero, 3, 1},
		{"array, 1-based, page 0 rejected", true, oneBasedRejectZero, 3, 1},
		{"object, 1-based, page 0 is page 1", false, oneBasedZeroIsOne, 3, 1},
		{"object, 0-based", false, zeroBased, 2, 2},
		{"array, 0-based", true, zeroBased, 2, 2},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			f := newFake(t)
			lists := directoryServer(t, f, 5, m.bare, m.mode)
			lookups := displayIDServer(f, 5)
			var gets atomic.Int64
			f.mux.HandleFunc("/useradmin/users/{id}", func(w http.ResponseWriter, r *http.Request) {
				gets.Add(1)
				if r.PathValue("id") == guid(4242) {
					u := user(42)
					u["userId"] = guid(4242)
					writeJSON(w, 200, u)
					return
				}
				writeJSON(w, 404, map[string]any{"statusCode": 404, "error": "Not Found", "message": "User not found"})
			})
			c := newTestClient(t, f)
			c.usersPageSize = 2 // pages of 2, 2, 1
			ctx := context.Background()
			want := func(id string, n int) Agent {
				return Agent{ID: id, UserID: guid(1000 + n), Name: fmt.Sprintf("Agent %d", n),
					Email: fmt.Sprintf("agent%d@example.com", n), AgentCode: strconv.Itoa(1300 + n), Resolved: true}
			}
			tests := []struct {
				id   string
				want Agent
			}{
				{"1302", want("1302", 2)},         // agentDisplayId (numeric on the wire)
				{guid(1003), want(guid(1003), 3)}, // userId
				{"sso-5", want("sso-5", 5)},       // ssoExternalId
				{"9999", Agent{ID: "9999"}},       // unknown display id: looked up once, unresolved
				{guid(7), Agent{ID: guid(7)}},     // guid-shaped, 404: unresolved
				{"", Agent{}},                     // nothing to resolve
			}
			for _, tt := range tests {
				got, err := c.ResolveAgent(ctx, tt.id)
				if err != nil || got != tt.want {
					t.Errorf("ResolveAgent(%q) = %+v, %v; want %+v", tt.id, got, err, tt.want)
				}
			}
			got, err := c.ResolveAgent(ctx, guid(4242))
			if err != nil || !got.Resolved || got.UserID != guid(4242) || got.Name != "Agent 42" {
				t.Errorf("fallback lookup = %+v, %v", got, err)
			}
			// Cached: no more requests for repeats.
			for _, id := range []string{"1302", "9999", guid(7), guid(4242)} {
				if _, err := c.ResolveAgent(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			if lists.Load() != m.lists || gets.Load() != 2 {
				t.Errorf("users.list %d (want %d: one load), users.get %d (want 2)", lists.Load(), m.lists, gets.Load())
			}
			if lookups.Load() != m.lookups {
				t.Errorf("display-id lookups %d, want %d", lookups.Load(), m.lookups)
			}
			if cn := c.Counters(); cn.Calls["users.list"] != m.lists || cn.Calls["users.get"] != 2 || cn.Calls["users.byDisplayId"] != m.lookups {
				t.Errorf("counters = %+v", cn)
			}
			if f.badHeaders.Load() != 0 {
				t.Error("User Admin requests without the v4 Accept header")
			}
		})
	}
}

func TestResolveAgentTTL(t *testing.T) {
	f := newFake(t)
	lists := directoryServer(t, f, 1, false, oneBasedRejectZero)
	c := newTestClient(t, f, func(c *Config) { c.AgentCacheTTL = time.Hour })
	clock := &fakeClock{t: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}
	c.now = clock.now
	ctx := context.Background()
	for _, step := range []struct {
		advance time.Duration
		loads   int64
	}{{0, 1}, {59 * time.Minute, 1}, {2 * time.Minute, 2}} { // one short page per load
		clock.advance(step.advance)
		if a, err := c.ResolveAgent(ctx, "1301"); err != nil || !a.Resolved {
			t.Fatalf("%+v %v", a, err)
		}
		if lists.Load() != step.loads {
			t.Errorf("after %v: directory loads = %d, want %d", step.advance, lists.Load(), step.loads)
		}
	}
}

// A User Admin outage after the directory expired: agents are still named
// from the previous directory, and the outage costs one load a minute.
func TestResolveAgentServesStaleDirectoryDuringOutage(t *testing.T) {
	f := newFake(t)
	var down atomic.Bool
	var lists atomic.Int64
	f.mux.HandleFunc("/useradmin/users", func(w http.ResponseWriter, r *http.Request) {
		lists.Add(1)
		if down.Load() {
			writeJSON(w, 503, map[string]any{"message": "down"})
			return
		}
		writeJSON(w, 200, map[string]any{"users": []any{user(1)}})
	})
	c := newTestClient(t, f, func(c *Config) { c.AgentCacheTTL = time.Hour; c.MaxRetries = 1 })
	clock := &fakeClock{t: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}
	c.now = clock.now
	ctx := context.Background()
	if a, err := c.ResolveAgent(ctx, "1301"); err != nil || !a.Resolved {
		t.Fatalf("%+v %v", a, err)
	}
	down.Store(true)
	clock.advance(2 * time.Hour)
	before := lists.Load()
	for i := 0; i < 5; i++ {
		a, err := c.ResolveAgent(ctx, "1301")
		if err != nil || !a.Resolved || a.Name != "Agent 1" {
			t.Fatalf("during the outage: %+v %v", a, err)
		}
	}
	if got := lists.Load() - before; got < 1 || got > 2 { // one load, retried at most once
		t.Errorf("directory requests during the outage = %d, want one failing load", got)
	}
}

func TestResolveAgentConcurrentLoadsOnce(t *testing.T) {
	f := newFake(t)
	var lists atomic.Int64
	f.mux.HandleFunc("/useradmin/users", func(w http.ResponseWriter, r *http.Request) {
		lists.Add(1)
		time.Sleep(50 * time.Millisecond)
		writeJSON(w, 200, map[string]any{"users": []any{user(1), user(2)}})
	})
	c := newTestClient(t, f)
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := []string{"1301", "1302", "unknown"}[i%3]
			a, err := c.ResolveAgent(context.Background(), id)
			if err != nil || a.Resolved == (id == "unknown") {
				t.Errorf("ResolveAgent(%q) = %+v, %v", id, a, err)
			}
		}()
	}
	wg.Wait()
	// One load: a single short page.
	if lists.Load() != 1 {
		t.Errorf("directory requests = %d, want 1", lists.Load())
	}
}

func TestResolveAgentErrors(t *testing.T) {
	t.Run("forbidden directory: unresolved, no error, not reloaded", func(t *testing.T) {
		f := newFake(t)
		var lists atomic.Int64
		f.mux.HandleFunc("/useradmin/users", func(w http.ResponseWriter, r *http.Request) {
			lists.Add(1)
			writeJSON(w, 403, map[string]any{"statusCode": 403, "error": "Forbidden", "message": "missing scope"})
		})
		c := newTestClient(t, f)
		for i := 0; i < 3; i++ {
			a, err := c.ResolveAgent(context.Background(), "1301")
			if err != nil || a != (Agent{ID: "1301"}) {
				t.Fatalf("%+v %v", a, err)
			}
		}
		if lists.Load() != 1 {
			t.Errorf("directory requests = %d, want 1", lists.Load())
		}
	})
	t.Run("failing directory: transient error returned", func(t *testing.T) {
		f := newFake(t)
		f.mux.HandleFunc("/useradmin/users", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 503, map[string]any{"message": "down"})
		})
		c := newTestClient(t, f)
		_, err := c.ResolveAgent(context.Background(), "1301")
		if !IsTransient(err) {
			t.Fatalf("err = %v, want transient", err)
		}
	})
	t.Run("failing lookup: transient error returned", func(t *testing.T) {
		f := newFake(t)
		directoryServer(t, f, 1, false, oneBasedRejectZero)
		f.mux.HandleFunc("/useradmin/users/{id}", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 500, map[string]any{"message": "down"})
		})
		c := newTestClient(t, f)
		_, err := c.ResolveAgent(context.Background(), guid(77))
		if !IsTransient(err) {
			t.Fatalf("err = %v, want transient", err)
		}
	})
}
