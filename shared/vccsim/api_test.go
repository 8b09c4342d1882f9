package vccsim

import (
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTokenScopesAndExpiry(t *testing.T) {
	clock := &fakeClock{t: day.Add(30 * 24 * time.Hour)}
	s := startSim(t, Options{Seed: 1, Now: clock.Now, GrantedScopes: []string{ScopeContent, ScopeStats, ScopeUsers}})

	tests := []struct {
		name       string
		id, secret string
		scope      string
		basic      bool
		wantStatus int
		wantError  string
		wantScope  string
	}{
		{"basic, three scopes", "sandbox-client", "sandbox-secret", allScopes, true, 200, "", allScopes},
		{"form fields, one scope", "sandbox-client", "sandbox-secret", "stats", false, 200, "", "stats"},
		{"no scope gives all granted", "sandbox-client", "sandbox-secret", "", true, 200, "", ScopeContent + " " + ScopeStats + " " + ScopeUsers},
		{"unknown scope", "sandbox-client", "sandbox-secret", "stats interaction-content:write", true, 400, "invalid_scope", ""},
		{"wrong secret", "sandbox-client", "nope", "stats", true, 401, "invalid_client", ""},
		{"wrong client", "other", "sandbox-secret", "stats", false, 401, "invalid_client", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := requestToken(t, s, tt.id, tt.secret, tt.scope, tt.basic)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d (%v)", status, tt.wantStatus, body)
			}
			if tt.wantError != "" {
				if body["error"] != tt.wantError {
					t.Fatalf("error %v, want %s", body["error"], tt.wantError)
				}
				return
			}
			if body["scope"] != tt.wantScope || body["token_type"] != "Bearer" || body["expires_in"] != float64(7200) {
				t.Fatalf("unexpected token response %v", body)
			}
			if tok, _ := body["access_token"].(string); len(tok) < 20 {
				t.Fatalf("access_token %q too short", tok)
			}
		})
	}
	c := s.Counters()
	if c.TokenRequests != int64(len(tests)) || c.ByEndpoint[EndpointToken] != int64(len(tests)) {
		t.Fatalf("token requests %d / %d, want %d", c.TokenRequests, c.ByEndpoint[EndpointToken], len(tests))
	}
	if !slices.Equal(c.TokenScopes[0], strings.Fields(allScopes)) || len(c.TokenScopes[2]) != 0 {
		t.Fatalf("recorded scopes %v", c.TokenScopes)
	}

	tok := token(t, s, "stats")
	g := s.Interactions()[0].GUID
	getJSON(t, s, tok, MediaV3, "/stats/interactions/"+g, http.StatusOK, nil)
	clock.Add(7199 * time.Second)
	getJSON(t, s, tok, MediaV3, "/stats/interactions/"+g, http.StatusOK, nil)
	clock.Add(time.Second)
	getJSON(t, s, tok, MediaV3, "/stats/interactions/"+g, http.StatusUnauthorized, nil)
	getJSON(t, s, "garbage", MediaV3, "/stats/interactions/"+g, http.StatusUnauthorized, nil)
	getJSON(t, s, "", MediaV3, "/stats/interactions/"+g, http.StatusUnauthorized, nil)

	// Rotation: the old secret stops working, tokens already issued do not.
	tok = token(t, s, "stats")
	s.RotateSecret("new-secret")
	if st, _ := requestToken(t, s, "sandbox-client", "sandbox-secret", "stats", true); st != 401 {
		t.Fatalf("old secret after rotation: %d", st)
	}
	if st, _ := requestToken(t, s, "sandbox-client", "new-secret", "stats", true); st != 200 {
		t.Fatalf("new secret after rotation: %d", st)
	}
	getJSON(t, s, tok, MediaV3, "/stats/interactions/"+g, http.StatusOK, nil)
	if issued := s.IssuedTokens(); len(issued) != 6 || issued[len(issued)-2] != tok {
		t.Fatalf("issued tokens: %d", len(issued))
	}
	s.RevokeTokens()
	getJSON(t, s, tok, MediaV3, "/stats/interactions/"+g, http.StatusUnauthorized, nil)
}

func TestDisallowedGrantedScope(t *testing.T) {
	s := startSim(t, Options{Seed: 1, GrantedScopes: []string{ScopeContent}})
	if st, body := requestToken(t, s, s.ClientID(), s.ClientSecret(), allScopes, true); st != 400 || body["error"] != "invalid_scope" {
		t.Fatalf("status %d body %v, want 400 invalid_scope", st, body)
	}
}

func TestAcceptAndScopeEnforcement(t *testing.T) {
	s := startSim(t, Options{Seed: 2})
	all := token(t, s, allScopes)
	statsOnly := token(t, s, "stats")
	info := s.Interactions()
	var g string
	for _, in := range info {
		if in.Visible {
			g = in.GUID
			break
		}
	}
	user := s.Agents()[0].UserID
	win := "?start=2026-11-02T00:00:00Z&end=2026-11-03T00:00:00Z"
	paths := map[string]string{
		"content.list": "/interaction-content/interactions" + win,
		"content.get":  "/interaction-content/interactions/" + g,
		"stats.get":    "/stats/interactions/" + g,
		"stats.list":   "/stats/interactions" + win,
		"users.get":    "/useradmin/users/" + user,
		"users.list":   "/useradmin/users?include=All",
	}
	tests := []struct {
		endpoint, tok, accept string
		want                  int
	}{
		{"content.list", all, MediaV3, 200},
		{"content.list", all, MediaV2, 200},
		{"content.list", all, "", 400},
		{"content.list", all, "application/json", 400},
		{"content.list", all, MediaV4, 400},
		{"content.list", statsOnly, MediaV3, 403},
		{"content.get", all, "application/json, " + MediaV3, 200},
		{"content.get", all, "", 400},
		{"content.get", statsOnly, MediaV3, 403},
		{"stats.get", all, MediaV3, 200},
		{"stats.get", all, MediaV2, 200},
		{"stats.get", all, "", 400},
		{"stats.get", statsOnly, MediaV3, 200},
		{"stats.list", all, MediaV3, 200},
		{"stats.list", all, "*/*", 400},
		{"users.get", all, MediaV4, 200},
		{"users.get", all, MediaV3, 400},
		{"users.get", statsOnly, MediaV4, 403},
		{"users.list", all, MediaV4, 200},
		{"users.list", all, "", 400},
		{"users.list", statsOnly, MediaV4, 403},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint+" "+tt.accept, func(t *testing.T) {
			getJSON(t, s, tt.tok, tt.accept, paths[tt.endpoint], tt.want, nil)
		})
	}
}

func TestWindowAndLimitRules(t *testing.T) {
	s := startSim(t, Options{Seed: 3})
	tok := token(t, s, allScopes)
	q := func(start, end string, extra ...string) string {
		v := url.Values{"start": {start}, "end": {end}}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return "?" + v.Encode()
	}
	tests := []struct {
		name, path, accept string
		want               int
		wantMessage        string
	}{
		{"content 7 days", "/interaction-content/interactions" + q("2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z"), MediaV3, 200, ""},
		{"content 7 days + 1s", "/interaction-content/interactions" + q("2026-11-01T00:00:00Z", "2026-11-08T00:00:01Z"), MediaV3, 400, "The time window may not exceed 7 days"},
		{"content no end", "/interaction-content/interactions?start=2026-11-01T00:00:00Z", MediaV3, 400, "start and end are required"},
		{"content end before start", "/interaction-content/interactions" + q("2026-11-02T00:00:00Z", "2026-11-01T00:00:00Z"), MediaV3, 400, "end must be after start"},
		{"content limit 1000", "/interaction-content/interactions" + q("2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z", "limit", "1000"), MediaV3, 200, ""},
		{"content limit 1001", "/interaction-content/interactions" + q("2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z", "limit", "1001"), MediaV3, 400, "limit must be between 1 and 1000"},
		{"content bad token", "/interaction-content/interactions" + q("2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z", "continuationToken", "xyz"), MediaV3, 400, "Invalid continuationToken"},
		{"stats 31 days", "/stats/interactions" + q("2026-10-10T00:00:00Z", "2026-11-10T00:00:00Z"), MediaV3, 200, ""},
		{"stats 32 days", "/stats/interactions" + q("2026-10-09T00:00:00Z", "2026-11-10T00:00:00Z"), MediaV3, 400, "Request window size limit exceeded 31 days"},
		{"stats limit 0", "/stats/interactions" + q("2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z", "limit", "0"), MediaV3, 400, "limit must be between 1 and 5000"},
		{"users limit 5001", "/useradmin/users?limit=5001", MediaV4, 400, "limit must be between 1 and 5000"},
		{"users page 0", "/useradmin/users?page=0", MediaV4, 400, "page is out of range"},
		{"users bad include", "/useradmin/users?include=Deleted", MediaV4, 400, "include must be Active, Archived or All"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body map[string]any
			getJSON(t, s, tok, tt.accept, tt.path, tt.want, &body)
			if tt.wantMessage != "" && body["message"] != tt.wantMessage {
				t.Fatalf("message %q, want %q", body["message"], tt.wantMessage)
			}
			if tt.want == 400 && strings.HasPrefix(tt.path, "/stats") {
				if body["statusCode"] != float64(400) || body["error"] != "Bad Request" {
					t.Fatalf("stats error body %v", body)
				}
			}
		})
	}
}

func TestPagingIsComplete(t *testing.T) {
	s := startSim(t, Options{Seed: 4, Days: 2, InteractionsPerDay: 150})
	tok := token(t, s, allScopes)
	var wantContent, wantStats []string
	for _, in := range s.Interactions() {
		wantStats = append(wantStats, in.GUID)
		if in.Visible {
			wantContent = append(wantContent, in.GUID)
		}
	}
	end := day.Add(48 * time.Hour)
	for _, limit := range []int{1, 7, 100, 1000} {
		got := listContent(t, s, tok, day, end, limit, "")
		if !slices.Equal(got, wantContent) {
			t.Fatalf("limit %d: content listing %d items, want %d (in order, no duplicates)", limit, len(got), len(wantContent))
		}
		gotStats := listStats(t, s, tok, day, end, limit)
		if !slices.Equal(gotStats, wantStats) {
			t.Fatalf("limit %d: stats listing %d items, want %d", limit, len(gotStats), len(wantStats))
		}
	}
	if len(wantStats) != 300 || len(wantContent) >= len(wantStats) || len(wantContent) < 200 {
		t.Fatalf("population: %d interactions, %d with content", len(wantStats), len(wantContent))
	}
	// v2 page/limit form of the content listing agrees.
	var p struct {
		Items []struct{ GUID string }
		Meta  struct{ TotalCount, PageCount int }
	}
	getJSON(t, s, tok, MediaV2, "/interaction-content/interactions?start=2026-11-02T00:00:00Z&end=2026-11-04T00:00:00Z&limit=50&page=2", 200, &p)
	if p.Meta.TotalCount != len(wantContent) || len(p.Items) != 50 || p.Items[0].GUID != wantContent[50] {
		t.Fatalf("v2 page: total %d items %d", p.Meta.TotalCount, len(p.Items))
	}
}

func TestFilters(t *testing.T) {
	s := startSim(t, Options{Seed: 5})
	tok := token(t, s, allScopes)
	agent := s.Agents()[0].ID
	var wantOut, wantAgent []string
	for _, in := range s.Interactions() {
		if !in.Visible {
			continue
		}
		if in.Direction == "outbound" {
			wantOut = append(wantOut, in.GUID)
		}
		if slices.Contains(in.AgentIDs, agent) {
			wantAgent = append(wantAgent, in.GUID)
		}
	}
	if got := listContent(t, s, tok, day, day.Add(24*time.Hour), 1000, "&direction=Outbound"); !slices.Equal(got, wantOut) {
		t.Fatalf("direction filter: %d, want %d", len(got), len(wantOut))
	}
	if got := listContent(t, s, tok, day, day.Add(24*time.Hour), 1000, "&handlingAgentId="+agent); !slices.Equal(got, wantAgent) || len(got) == 0 {
		t.Fatalf("agent filter: %d, want %d", len(got), len(wantAgent))
	}
}

func TestPermissionsOmitSilently(t *testing.T) {
	tests := []struct {
		name string
		deny Permissions
		hide func(in InteractionInfo, inLine map[string]bool) bool
	}{
		{"all on", Permissions{}, func(InteractionInfo, map[string]bool) bool { return false }},
		{"inbound off", Permissions{Inbound: true}, func(in InteractionInfo, _ map[string]bool) bool { return in.Direction == "inbound" }},
		{"outbound off", Permissions{Outbound: true}, func(in InteractionInfo, _ map[string]bool) bool { return in.Direction == "outbound" }},
		{"groups off", Permissions{Groups: true}, func(in InteractionInfo, inLine map[string]bool) bool {
			for _, id := range in.AgentIDs {
				if !inLine[id] {
					return true
				}
			}
			return false
		}},
	}
	s := startSim(t, Options{Seed: 6})
	tok := token(t, s, allScopes)
	inLine := map[string]bool{}
	for _, a := range s.Agents() {
		inLine[a.ID] = a.InReportingLine
	}
	all := s.Interactions()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.SetDeny(tt.deny)
			var want []string
			var hidden InteractionInfo
			for _, in := range all {
				if !in.HasContent {
					continue
				}
				if tt.hide(in, inLine) {
					hidden = in
				} else {
					want = append(want, in.GUID)
				}
			}
			got := listContent(t, s, tok, day, day.Add(24*time.Hour), 1000, "")
			if !slices.Equal(got, want) {
				t.Fatalf("content listing has %d, want %d", len(got), len(want))
			}
			if stats := listStats(t, s, tok, day, day.Add(24*time.Hour), 1000); len(stats) != len(all) {
				t.Fatalf("stats listing has %d, want all %d", len(stats), len(all))
			}
			if hidden.GUID != "" {
				getJSON(t, s, tok, MediaV3, "/interaction-content/interactions/"+hidden.GUID, http.StatusNotFound, nil)
				getJSON(t, s, tok, MediaV3, "/interaction-content/interactions/"+hidden.GUID+"/content/callRecording", http.StatusNotFound, nil)
				getJSON(t, s, tok, MediaV3, "/stats/interactions/"+hidden.GUID, http.StatusOK, nil)
			} else if tt.deny != (Permissions{}) {
				t.Fatal("the population has nothing this permission hides")
			}
			visible := 0
			for _, r := range s.Recordings() {
				if r.Visible {
					visible++
				}
			}
			if visible == 0 {
				t.Fatal("no recording visible")
			}
		})
	}
}

func TestNoContentInteractionsOnlyInStats(t *testing.T) {
	s := startSim(t, Options{Seed: 7})
	tok := token(t, s, allScopes)
	var none *InteractionInfo
	for _, in := range s.Interactions() {
		if !in.HasContent {
			none = &in
			break
		}
	}
	if none == nil {
		t.Fatal("population has no interaction without content")
	}
	getJSON(t, s, tok, MediaV3, "/interaction-content/interactions/"+none.GUID, http.StatusNotFound, nil)
	var st map[string]any
	getJSON(t, s, tok, MediaV3, "/stats/interactions/"+none.GUID, http.StatusOK, &st)
	want := strings.ToUpper(none.Direction[:1]) + none.Direction[1:]
	if st["direction"] != want || st["guid"] != none.GUID {
		t.Fatalf("stats %v", st)
	}
}

func TestPopulationShape(t *testing.T) {
	s := New(Options{Seed: 8, Days: 5})
	counts := map[string]int{}
	types := map[string]int{}
	multi := 0
	for _, in := range s.Interactions() {
		counts[in.Direction]++
		if len(in.AgentIDs) > 1 {
			multi++
		}
		if in.Medium == "Chat" {
			counts["chat"]++
		}
		if !in.HasContent {
			counts["none"]++
		}
	}
	for _, r := range s.Recordings() {
		types[r.Type+" "+r.ContentType]++
	}
	n := 1000.0
	frac := func(k string) float64 { return float64(counts[k]) / n }
	if f := frac("inbound"); f < 0.5 || f > 0.65 { // chats are inbound too
		t.Errorf("inbound fraction %.2f", f)
	}
	if f := frac("outbound"); f < 0.25 || f > 0.4 {
		t.Errorf("outbound fraction %.2f", f)
	}
	if f := frac("internal"); f < 0.05 || f > 0.15 {
		t.Errorf("internal fraction %.2f", f)
	}
	if counts["chat"] == 0 || counts["none"] == 0 || multi == 0 {
		t.Errorf("missing kinds: %v multi=%d", counts, multi)
	}
	for _, k := range []string{"callRecording audio/wav", "voicemail audio/wav", "ivrAudioRecording audio/wav",
		"screenRecording video/webm", "transcript application/json", "chatTranscript application/json"} {
		if types[k] == 0 {
			t.Errorf("no %s content", k)
		}
	}
	// Identifier mismatch: some agents match only through ssoExternalId;
	// one is archived; one is not in the directory.
	var mismatch, archived, missing int
	for _, a := range s.Agents() {
		if a.AgentDisplayID != a.ID && a.SSOExternalID == a.ID {
			mismatch++
		}
		if !a.Active {
			archived++
		}
		if !a.InDirectory {
			missing++
		}
		if !numericID(a.ID) || len(a.UserID) != 36 {
			t.Errorf("agent ids %q %q", a.ID, a.UserID)
		}
	}
	if mismatch == 0 || archived != 1 || missing != 1 {
		t.Errorf("agents: mismatch %d archived %d missing %d", mismatch, archived, missing)
	}
}

// numericID reports a short numeric handling-agent id.
func numericID(s string) bool {
	if len(s) == 0 || len(s) > 6 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func TestUsers(t *testing.T) {
	s := startSim(t, Options{Seed: 9})
	tok := token(t, s, allScopes)
	type page struct {
		Users []struct {
			UserID        string `json:"userId"`
			Active        bool   `json:"active"`
			SSOExternalID string `json:"ssoExternalId"`
			Config        struct {
				Agent struct {
					AgentDisplayID string `json:"agentDisplayId"`
				} `json:"agentConfiguration"`
			} `json:"userAccountConfiguration"`
		} `json:"users"`
		Meta struct{ Page, Count, PageCount, TotalCount int }
	}
	seen := map[string]bool{}
	archived := 0
	for p := 1; ; p++ {
		var pg page
		getJSON(t, s, tok, MediaV4, "/useradmin/users?include=All&limit=7&page="+itoa(p), 200, &pg)
		for _, u := range pg.Users {
			if seen[u.UserID] {
				t.Fatalf("user %s twice", u.UserID)
			}
			seen[u.UserID] = true
			if !u.Active {
				archived++
			}
		}
		if p >= pg.Meta.PageCount {
			break
		}
	}
	// 25 agents, one not in the directory and one outside the owner's
	// listing, plus the credential owner.
	if len(seen) != 24 || archived != 1 {
		t.Fatalf("directory: %d users, %d archived", len(seen), archived)
	}
	var active page
	getJSON(t, s, tok, MediaV4, "/useradmin/users?limit=5000", 200, &active)
	if active.Meta.TotalCount != 23 {
		t.Fatalf("active users %d", active.Meta.TotalCount)
	}
	a := s.Agents()[0]
	getJSON(t, s, tok, MediaV4, "/useradmin/users/"+a.UserID, 200, nil)
	getJSON(t, s, tok, MediaV4, "/useradmin/users/"+a.ID, 404, nil)
}

func TestUsersQuirks(t *testing.T) {
	s := startSim(t, Options{Seed: 9, Quirks: Quirks{UsersBareArray: true, UsersZeroBasedPages: true}})
	tok := token(t, s, allScopes)
	var arr []map[string]any
	getJSON(t, s, tok, MediaV4, "/useradmin/users?include=All&page=0&limit=10", 200, &arr)
	if len(arr) != 10 {
		t.Fatalf("bare array of %d", len(arr))
	}
}

func TestLateRecordings(t *testing.T) {
	clock := &fakeClock{t: day}
	s := startSim(t, Options{Seed: 10, Days: 2, LateRecording: time.Hour, Now: clock.Now})
	var late []InteractionInfo
	for _, in := range s.Interactions() {
		if in.Late && in.HasContent {
			late = append(late, in)
		}
	}
	if len(late) < 5 || len(late) > 40 {
		t.Fatalf("%d late interactions out of 400", len(late))
	}
	clock.t = day.Add(3 * 24 * time.Hour)
	tok := token(t, s, allScopes)
	first := late[0]
	clock.t = first.AvailableAt.Add(-time.Second)
	getJSON(t, s, tok, MediaV3, "/interaction-content/interactions/"+first.GUID, http.StatusNotFound, nil)
	got := listContent(t, s, tok, first.Start, first.Start.Add(time.Millisecond), 10, "")
	if len(got) != 0 {
		t.Fatalf("late interaction listed before it is available: %v", got)
	}
	getJSON(t, s, tok, MediaV3, "/stats/interactions/"+first.GUID, http.StatusOK, nil)
	clock.t = first.AvailableAt
	getJSON(t, s, tok, MediaV3, "/interaction-content/interactions/"+first.GUID, http.StatusOK, nil)
	if got := listContent(t, s, tok, first.Start, first.Start.Add(time.Millisecond), 10, ""); !slices.Equal(got, []string{first.GUID}) {
		t.Fatalf("late interaction after availability: %v", got)
	}
}

func TestCountersAndNonGET(t *testing.T) {
	s := startSim(t, Options{Seed: 11})
	tok := token(t, s, allScopes)
	g := s.Interactions()[0].GUID
	req, _ := http.NewRequest(http.MethodGet, s.APIURL()+"/stats/interactions/"+g, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", MediaV3)
	req.Header.Set("x-nvm-application", "vcc-ingest")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ = http.NewRequest(http.MethodDelete, s.APIURL()+"/interaction-content/interactions/"+g, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE answered %d", resp.StatusCode)
	}
	c := s.Counters()
	if c.ByEndpoint[EndpointStatsGet] != 1 || c.ByClient["sandbox-client"] != 1 || c.ByApplication["vcc-ingest"] != 1 {
		t.Fatalf("counters %+v", c)
	}
	if !slices.Equal(c.NonGET, []string{"DELETE /interaction-content/interactions/" + g}) {
		t.Fatalf("NonGET %v", c.NonGET)
	}
	s.ResetCounters()
	if c := s.Counters(); c.TokenRequests != 0 || len(c.ByEndpoint) != 0 || len(c.NonGET) != 0 {
		t.Fatalf("after reset %+v", c)
	}
}
