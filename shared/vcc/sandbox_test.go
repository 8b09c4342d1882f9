package vcc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// These tests run the client against the VCC sandbox, which models VCC's
// token endpoint, scopes, Accept versions, limits, permissions and faults.

var sandboxDay = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

func startSandbox(t *testing.T, opts vccsim.Options) *vccsim.Sim {
	t.Helper()
	if opts.Seed == 0 {
		opts.Seed = 7
	}
	if opts.InteractionsPerDay == 0 {
		opts.InteractionsPerDay = 30
	}
	if opts.Agents == 0 {
		opts.Agents = 8
	}
	if opts.MaxRecordingBytes == 0 {
		opts.MaxRecordingBytes = 64 << 10
	}
	sim := vccsim.New(opts)
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim
}

func sandboxClient(t *testing.T, sim *vccsim.Sim, mods ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		TokenURL:      sim.TokenURL(),
		APIURL:        sim.APIURL(),
		ClientID:      sim.ClientID(),
		Secret:        secrets.Static(secrets.New(sim.ClientSecret())),
		RatePerMinute: 600_000,
		MaxRetries:    8,
		PageSize:      7, // several pages per day
		StatsPageSize: 9,
		BackoffBase:   time.Millisecond,
		BackoffMax:    10 * time.Millisecond,
		Application:   "vcc-ingest-sandbox-test",
		Logger:        slog.New(slog.DiscardHandler),
	}
	for _, m := range mods {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func listDay(t *testing.T, c *Client) []Interaction {
	t.Helper()
	var got []Interaction
	if err := c.ListInteractions(context.Background(), sandboxDay, sandboxDay.Add(24*time.Hour), func(in Interaction) error {
		got = append(got, in)
		return nil
	}); err != nil {
		t.Fatalf("ListInteractions: %v", err)
	}
	return got
}

// visibleKeys is the ground truth: "guid/contentKey" of every visible item.
func visibleKeys(sim *vccsim.Sim) []string {
	var keys []string
	for _, r := range sim.Recordings() {
		if r.Visible {
			keys = append(keys, r.InteractionGUID+"/"+r.ContentKey)
		}
	}
	sort.Strings(keys)
	return keys
}

func listedKeys(ins []Interaction) []string {
	var keys []string
	for _, in := range ins {
		for _, ci := range in.Content {
			keys = append(keys, in.GUID+"/"+ci.ContentKey)
		}
	}
	sort.Strings(keys)
	return keys
}

func TestSandboxListDayAndDownload(t *testing.T) {
	sim := startSandbox(t, vccsim.Options{})
	c := sandboxClient(t, sim)
	ins := listDay(t, c)
	if len(ins) == 0 {
		t.Fatal("nothing listed")
	}
	if got, want := listedKeys(ins), visibleKeys(sim); !slices.Equal(got, want) {
		t.Fatalf("listed %d content items, sandbox has %d visible", len(got), len(want))
	}
	for _, in := range ins {
		if in.Direction == DirectionUnknown || in.Start.Before(sandboxDay) || !in.Start.Before(sandboxDay.Add(24*time.Hour)) {
			t.Errorf("%s: direction %q start %v", in.GUID, in.Direction, in.Start)
		}
	}

	downloaded := 0
	for _, r := range sim.Recordings() {
		if !r.Visible || !r.Audio {
			continue
		}
		d, err := c.Download(context.Background(), r.InteractionGUID, r.ContentKey)
		if err != nil {
			t.Fatalf("Download %s/%s: %v", r.InteractionGUID, r.ContentKey, err)
		}
		h := sha256.New()
		n, err := io.Copy(h, d.Body)
		d.Body.Close()
		if err != nil {
			t.Fatalf("reading %s/%s: %v", r.InteractionGUID, r.ContentKey, err)
		}
		if n != r.Size || hex.EncodeToString(h.Sum(nil)) != r.SHA256 || d.ContentType != r.ContentType {
			t.Errorf("%s/%s: %d bytes %s; want %d bytes %s", r.InteractionGUID, r.ContentKey, n, d.ContentType, r.Size, r.ContentType)
		}
		if d.Length >= 0 && d.Length != r.Size {
			t.Errorf("%s/%s: Length %d, want %d", r.InteractionGUID, r.ContentKey, d.Length, r.Size)
		}
		downloaded++
	}
	if downloaded == 0 {
		t.Fatal("no audio downloaded")
	}
	t.Logf("%d interactions listed, %d recordings downloaded and verified", len(ins), downloaded)

	sc := sim.Counters()
	if sc.TokenRequests != 1 || len(sc.TokenScopes) != 1 || !slices.Equal(sc.TokenScopes[0], []string{"interaction-content:read", "users:read", "stats"}) {
		t.Errorf("token requests %d, scopes %q", sc.TokenRequests, sc.TokenScopes)
	}
	if len(sc.NonGET) != 0 {
		t.Errorf("non-GET requests: %v", sc.NonGET)
	}
	cc := c.Counters()
	if got := sc.ByApplication["vcc-ingest-sandbox-test"]; got != cc.Calls["content.list"]+cc.Calls["content.download"] {
		t.Errorf("sandbox saw %d identified requests, client counted %+v", got, cc.Calls)
	}
	if scopes, err := c.GrantedScopes(context.Background()); err != nil || len(scopes) == 0 {
		t.Errorf("GrantedScopes = %q, %v", scopes, err)
	}
}

func TestSandboxGetInteractionAndStats(t *testing.T) {
	sim := startSandbox(t, vccsim.Options{})
	c := sandboxClient(t, sim)
	ctx := context.Background()
	infos := sim.Interactions()
	stats := map[string]Stats{}
	if err := c.ListStats(ctx, sandboxDay, sandboxDay.Add(24*time.Hour), func(s Stats) error {
		stats[s.GUID] = s
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(stats) != len(infos) {
		t.Errorf("stats listed %d interactions, sandbox has %d", len(stats), len(infos))
	}
	for _, info := range infos {
		s, ok := stats[info.GUID]
		if !ok {
			t.Errorf("%s missing from stats", info.GUID)
			continue
		}
		if string(s.Direction) != info.Direction || !s.Start.Equal(info.Start) || s.Duration != info.Duration.Truncate(time.Millisecond) {
			t.Errorf("%s: stats %+v, truth %+v", info.GUID, s, info)
		}
	}
	for _, info := range infos[:5] {
		in, err := c.GetInteraction(ctx, info.GUID)
		switch {
		case info.Visible && err != nil:
			t.Errorf("GetInteraction %s: %v", info.GUID, err)
		case !info.Visible && !errors.Is(err, ErrNotFound):
			t.Errorf("GetInteraction %s (not visible): %+v, %v", info.GUID, in, err)
		}
		s, err := c.GetStats(ctx, info.GUID)
		if err != nil || s != stats[info.GUID] {
			t.Errorf("GetStats %s = %+v, %v", info.GUID, s, err)
		}
	}
}

func TestSandboxResolveAgents(t *testing.T) {
	for _, q := range []vccsim.Quirks{{}, {UsersBareArray: true}} {
		sim := startSandbox(t, vccsim.Options{Quirks: q, Agents: 12}) // one unlisted, one deleted
		c := sandboxClient(t, sim)
		c.usersPageSize = 3 // several pages
		ctx := context.Background()
		resolved := 0
		deleted := map[string]bool{}
		for _, a := range sim.Agents() {
			deleted[a.ID] = !a.InDirectory
		}
		var loadCalls int64 = -1
		for _, info := range sim.Interactions() {
			for _, id := range info.AgentIDs {
				a, err := c.ResolveAgent(ctx, id)
				if err != nil {
					t.Fatalf("%+v: ResolveAgent(%q): %v", q, id, err)
				}
				if deleted[id] {
					if a.Resolved {
						t.Errorf("%+v: deleted agent %q resolved: %+v", q, id, a)
					}
					continue
				}
				if !a.Resolved || a.ID != id || a.UserID == "" || a.Name == "" {
					t.Errorf("%+v: ResolveAgent(%q) = %+v", q, id, a)
				}
				resolved++
				if loadCalls < 0 {
					loadCalls = c.Counters().Calls["users.list"]
				}
			}
		}
		if resolved == 0 {
			t.Fatal("no agents to resolve")
		}
		t.Logf("%+v: %d agent references resolved with %d directory requests", q, resolved, c.Counters().Calls["users.list"])
		if a, err := c.ResolveAgent(ctx, "no-such-agent"); err != nil || a.Resolved {
			t.Errorf("unknown agent: %+v, %v", a, err)
		}
		cc := c.Counters()
		// The agent outside the owner's listing is found by display id,
		// once; the deleted one and "no-such-agent" are asked for once each.
		if cc.Calls["users.byDisplayId"] != 3 {
			t.Errorf("%+v: users.byDisplayId %d", q, cc.Calls["users.byDisplayId"])
		}
		if cc.Calls["users.get"] != 0 || cc.Calls["users.list"] != loadCalls || loadCalls < 2 {
			t.Errorf("%+v: users calls %+v; the directory must be read once", q, cc.Calls)
		}
	}
}

func TestSandboxFaultsAndReauth(t *testing.T) {
	sim := startSandbox(t, vccsim.Options{Faults: vccsim.Faults{Status5xx: 0.15, ThrottleNoRetryAfter: 0.1, Redirect: 0.5}})
	src := &countingSecrets{old: sim.ClientSecret(), fresh: "rotated-secret"}
	c := sandboxClient(t, sim, func(c *Config) { c.Secret = src; c.MaxRetries = 12 })
	if got, want := listedKeys(listDay(t, c)), visibleKeys(sim); !slices.Equal(got, want) {
		t.Fatalf("with faults: listed %d items, want %d", len(got), len(want))
	}
	for _, r := range sim.Recordings() {
		if !r.Visible || !r.Audio {
			continue
		}
		d, err := c.Download(context.Background(), r.InteractionGUID, r.ContentKey)
		if err != nil {
			t.Fatalf("Download: %v", err)
		}
		h := sha256.New()
		_, err = io.Copy(h, d.Body)
		d.Body.Close()
		if err != nil || hex.EncodeToString(h.Sum(nil)) != r.SHA256 {
			t.Errorf("%s/%s: %v or checksum mismatch", r.InteractionGUID, r.ContentKey, err)
		}
	}
	sc := sim.Counters()
	if sc.Faults == 0 || c.Counters().Retries == 0 {
		t.Errorf("no faults exercised: sandbox %d faults, client %d retries", sc.Faults, c.Counters().Retries)
	}
	t.Logf("sandbox injected %d faults; client retried %d times", sc.Faults, c.Counters().Retries)
	if sc.RedirectAuthRejected != 0 {
		t.Errorf("bearer token sent to the redirect target %d times", sc.RedirectAuthRejected)
	}

	// Rotated secret plus revoked tokens: 401, then invalid_client, then the
	// fresh secret.
	sim.SetFaults(vccsim.Faults{})
	sim.RotateSecret("rotated-secret")
	sim.RevokeTokens()
	if _, err := c.GetStats(context.Background(), sim.Interactions()[0].GUID); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if src.freshReads.Load() != 1 {
		t.Errorf("fresh secret reads = %d, want 1", src.freshReads.Load())
	}
}

func TestSandboxTruncatedDownloads(t *testing.T) {
	for _, f := range []vccsim.Faults{{Truncate: 1}, {TruncateNoLength: 1}} {
		sim := startSandbox(t, vccsim.Options{Faults: f})
		c := sandboxClient(t, sim)
		var rec vccsim.Recording
		for _, r := range sim.Recordings() {
			if r.Visible && r.Audio {
				rec = r
				break
			}
		}
		d, err := c.Download(context.Background(), rec.InteractionGUID, rec.ContentKey)
		if err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		n, err := io.Copy(io.Discard, d.Body)
		d.Body.Close()
		if n >= rec.Size || !errors.Is(err, io.ErrUnexpectedEOF) || !IsTransient(err) {
			t.Errorf("%+v: read %d of %d, err %v; want a transient unexpected EOF", f, n, rec.Size, err)
		}
	}
}

func TestSandboxLongWindowQuirks(t *testing.T) {
	sim := startSandbox(t, vccsim.Options{Days: 9, InteractionsPerDay: 6,
		Quirks: vccsim.Quirks{InclusiveEnd: true, OmitContentLength: true, OmitContentDirection: true}})
	c := sandboxClient(t, sim)
	var ins []Interaction
	if err := c.ListInteractions(context.Background(), sandboxDay, sandboxDay.Add(9*24*time.Hour), func(in Interaction) error {
		ins = append(ins, in)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, want := listedKeys(ins), visibleKeys(sim); !slices.Equal(got, want) {
		t.Errorf("listed %d items over 9 days, sandbox says %d visible", len(got), len(want))
	}
	for _, in := range ins {
		for _, ci := range in.Content {
			if ci.ContentLength != -1 {
				t.Fatalf("%s/%s: ContentLength %d without a contentLength field", in.GUID, ci.ContentKey, ci.ContentLength)
			}
		}
	}
	if n := c.Counters().Calls["content.list"]; n < 2 {
		t.Errorf("content.list calls = %d; 9 days need two windows", n)
	}
}

func TestSandboxPermissionsHideContent(t *testing.T) {
	sim := startSandbox(t, vccsim.Options{Deny: vccsim.Permissions{Inbound: true}})
	c := sandboxClient(t, sim)
	ins := listDay(t, c)
	for _, in := range ins {
		if in.Direction == DirectionInbound {
			t.Errorf("%s: inbound listed although the permission is off", in.GUID)
		}
	}
	if got, want := listedKeys(ins), visibleKeys(sim); !slices.Equal(got, want) {
		t.Errorf("listed %d items, sandbox says %d visible", len(got), len(want))
	}
}

// With tokens that live 20 s and a budget that makes calls wait a minute
// for their slot, no call goes out with an expired token: the token is
// taken after the wait. The clock is the sandbox's and the client's, moved
// by the client's waits.
func TestSandboxShortTokensNever401(t *testing.T) {
	clock := &fakeClock{t: sandboxDay.Add(36 * time.Hour)}
	sim := startSandbox(t, vccsim.Options{TokenLifetime: 20 * time.Second, Now: clock.now})
	c := sandboxClient(t, sim, func(c *Config) { c.RatePerMinute = 6 })
	c.now = clock.now
	var waited time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error {
		waited += d
		clock.advance(d)
		return ctx.Err()
	}
	ins := sim.Interactions()
	for i := 0; i < 40; i++ {
		if _, err := c.GetStats(context.Background(), ins[i%len(ins)].GUID); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		clock.advance(3 * time.Second) // work between calls
	}
	sc := sim.Counters()
	if n := sc.ByStatus[401]; n != 0 {
		t.Errorf("%d calls answered 401 with 20 s tokens", n)
	}
	if sc.TokenRequests < 5 || waited < 4*time.Minute {
		t.Errorf("%d token requests over %v of waits: the test did not outlive its tokens", sc.TokenRequests, waited)
	}
	t.Logf("40 calls over %v of pacing waits, %d tokens", waited, sc.TokenRequests)
}

// A listing whose end is inclusive returns an interaction starting exactly
// at the window's end; the client drops it before anyone sees it, in both
// the content and the stats listing, so it is neither downloaded nor looked
// up. The one starting exactly at the window's start is kept.
func TestSandboxWindowClippedToHalfOpen(t *testing.T) {
	sim := startSandbox(t, vccsim.Options{Days: 2, InteractionsPerDay: 10, Quirks: vccsim.Quirks{InclusiveEnd: true}})
	from, to := sandboxDay.Add(6*time.Hour), sandboxDay.Add(18*time.Hour)
	atFrom := sim.AddInteraction(from, "inbound", 4096)
	atTo := sim.AddInteraction(to, "inbound", 4096)
	c := sandboxClient(t, sim)
	ctx := context.Background()
	var listed []string
	err := c.ListInteractions(ctx, from, to, func(in Interaction) error {
		listed = append(listed, in.GUID)
		// What ingest does with a listed interaction.
		if _, err := c.GetStats(ctx, in.GUID); err != nil {
			return err
		}
		for _, ci := range in.Content {
			d, err := c.Download(ctx, in.GUID, ci.ContentKey)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, d.Body)
			d.Body.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var stats []string
	if err := c.ListStats(ctx, from, to, func(s Stats) error {
		stats = append(stats, s.GUID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]string{"content": listed, "stats": stats} {
		if slices.Contains(got, atTo) {
			t.Errorf("%s listing passed the interaction starting exactly at to", name)
		}
		if !slices.Contains(got, atFrom) {
			t.Errorf("%s listing lost the interaction starting exactly at from", name)
		}
	}
	for _, a := range sim.Arrivals() {
		if a.ID == atTo {
			t.Errorf("%s was called for the interaction at to", a.Endpoint)
		}
	}
	if n := c.Counters().OutOfWindow; n != 2 {
		t.Errorf("OutOfWindow = %d, want 2 (once per listing)", n)
	}
}

// Against the sandbox's rolling-minute limit at the same budget, a client
// asking far faster than the budget is never refused, uses the budget of
// every window, and its first burst is not held back.
func TestSandboxBudgetHeldOverAnyRollingMinute(t *testing.T) {
	const budget = 160
	clock := &fakeClock{t: sandboxDay.Add(36 * time.Hour)}
	sim := startSandbox(t, vccsim.Options{RateLimitPerMinute: budget, Now: clock.now})
	c := sandboxClient(t, sim, func(c *Config) { c.RatePerMinute = budget })
	c.now = clock.now
	var waited time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error {
		waited += d
		clock.advance(d)
		return ctx.Err()
	}
	g := sim.Interactions()[0].GUID
	for i := 0; i < 3*budget+10; i++ {
		if _, err := c.GetStats(context.Background(), g); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if i == budget-1 && waited != 0 {
			t.Fatalf("the first %d calls waited %v", budget, waited)
		}
		clock.advance(10 * time.Millisecond)
	}
	if n := sim.RateLimited(); n != 0 {
		t.Errorf("the sandbox refused %d calls", n)
	}
	if got := sim.MaxPerMinute(); got > budget {
		t.Errorf("%d calls in one rolling minute, budget %d", got, budget)
	}
	// 490 calls: three full windows of waiting, no more.
	if w := 3 * (time.Minute + pacerMargin); waited > w {
		t.Errorf("waited %v, want at most %v", waited, w)
	}
}

func TestSandboxOwnerPermissions(t *testing.T) {
	sim := startSandbox(t, vccsim.Options{Deny: vccsim.Permissions{Lines: true}})
	c := sandboxClient(t, sim)
	ctx := context.Background()
	addrs, err := c.UserAddresses(ctx, sim.OwnerUserID())
	if err != nil || len(addrs) != 2 || addrs[0].Address != sim.Lines()[0].Address {
		t.Fatalf("addresses %+v, %v", addrs, err)
	}
	groups, err := c.UserGroups(ctx, sim.OwnerUserID())
	if err != nil || len(groups) != 1 || groups[0].Name != "Reporting line" {
		t.Fatalf("groups %+v, %v", groups, err)
	}
	if _, err := c.UserAddresses(ctx, "not-a-guid"); err == nil {
		t.Error("an invalid user id was sent")
	}
	refused := startSandbox(t, vccsim.Options{Quirks: vccsim.Quirks{PermissionsRefused: true}})
	if _, err := sandboxClient(t, refused).UserGroups(ctx, refused.OwnerUserID()); !IsPermanent(err) {
		t.Errorf("refused: %v", err)
	}
}

func TestPermissionsBodies(t *testing.T) {
	for body, want := range map[string]string{
		`[{"address":"+44800","name":"Sales"}]`:        "+44800 (Sales)",
		`{"addresses":["+44801"]}`:                     "+44801",
		`{"items":[{"groupId":"g1","name":"Team A"}]}`: "Team A",
		`{"data":[{"id":"a1","phoneNumber":4480}]}`:    "4480",
	} {
		var w wirePermissions
		if err := w.UnmarshalJSON([]byte(body)); err != nil || len(w.items) != 1 || w.items[0].Label() != want {
			t.Errorf("%s: %+v %v, want %q", body, w.items, err, want)
		}
	}
}
