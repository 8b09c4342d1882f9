package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

var start = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

// diagnose runs the doctor against a sandbox of two days configured by opts.
func diagnose(t *testing.T, opts vccsim.Options) (Report, *vccsim.Sim) {
	t.Helper()
	return diagnoseWith(t, opts, nil)
}

// diagnoseWith is diagnose with the doctor's options adjusted by tune.
func diagnoseWith(t *testing.T, opts vccsim.Options, tune func(*Options, *vccsim.Sim)) (Report, *vccsim.Sim) {
	t.Helper()
	opts.Start, opts.Days = start, 2
	if opts.InteractionsPerDay == 0 {
		opts.InteractionsPerDay = 150
	}
	if opts.Seed == 0 {
		opts.Seed = 21
	}
	sim := vccsim.New(opts)
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	secret := secrets.Static(secrets.New(sim.ClientSecret()))
	client, err := vcc.New(vcc.Config{TokenURL: sim.TokenURL(), APIURL: sim.APIURL(), ClientID: sim.ClientID(), Secret: secret, RatePerMinute: 600000, MaxRetries: 1, BackoffBase: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	p := &HTTPProber{TokenURL: sim.TokenURL(), APIURL: sim.APIURL(), ClientID: sim.ClientID(), Secret: secret}
	o := Options{From: start, To: start.Add(48 * time.Hour), OwnerUserID: sim.OwnerUserID()}
	if tune != nil {
		tune(&o, sim)
	}
	r := Run(context.Background(), client, p, o)
	// Nothing the doctor prints may hold a token or the secret.
	var out bytes.Buffer
	_ = WriteTable(&out, r)
	_ = WriteJSON(&out, r)
	for _, tok := range append(sim.IssuedTokens(), sim.ClientSecret()) {
		if strings.Contains(out.String(), tok) {
			t.Fatal("output contains a token or the secret")
		}
	}
	return r, sim
}

func find(r Report, name string) []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

func problems(r Report) []string {
	var out []string
	for _, c := range r.Checks {
		if c.Status == Problem {
			out = append(out, c.Name+": "+c.Detail)
		}
	}
	return out
}

func TestDoctor(t *testing.T) {
	tests := []struct {
		name     string
		opts     vccsim.Options
		exit     int
		problems []string // check name: substring of its detail
	}{
		{name: "fully permitted sandbox is all well", exit: 0},
		{name: "inbound off", opts: vccsim.Options{Deny: vccsim.Permissions{Inbound: true}}, exit: 1,
			problems: []string{"permission inbound: " + PermInbound}},
		{name: "outbound off", opts: vccsim.Options{Deny: vccsim.Permissions{Outbound: true}}, exit: 1,
			problems: []string{"permission outbound: " + PermOutbound}},
		{name: "groups off", opts: vccsim.Options{Deny: vccsim.Permissions{Groups: true}}, exit: 1,
			problems: []string{"permission groups: " + PermGroups}},
		{name: "lines only (Access groups off)", opts: vccsim.Options{Deny: vccsim.Permissions{Lines: true}}, exit: 1,
			problems: []string{"permission lines: " + PermGroups}},
		{name: "inbound and lines off", opts: vccsim.Options{Seed: 5, Deny: vccsim.Permissions{Inbound: true, Lines: true}}, exit: 1,
			problems: []string{"permission inbound: " + PermInbound, "permission lines: " + PermGroups}},
		{name: "inbound and groups off", opts: vccsim.Options{Seed: 5, Deny: vccsim.Permissions{Inbound: true, Groups: true}}, exit: 1,
			problems: []string{"permission inbound: " + PermInbound, "permission groups: " + PermGroups}},
		{name: "extra scopes", opts: vccsim.Options{GrantedScopes: []string{"interaction-content:read", "users:read", "stats", "users:write", "interaction-content:delete"}}, exit: 1,
			problems: []string{"scopes: over-privileged: the credential also holds users:write, interaction-content:delete"}},
		{name: "missing scope", opts: vccsim.Options{GrantedScopes: []string{"interaction-content:read", "users:read"}}, exit: 1,
			problems: []string{"token: invalid_scope", "scopes: missing: stats", "api Insights Stats: 403"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := diagnose(t, tt.opts)
			var table bytes.Buffer
			_ = WriteTable(&table, r)
			got := problems(r)
			if r.Exit != tt.exit || len(got) != len(tt.problems) {
				t.Fatalf("exit %d, problems %q; want exit %d, %d problems\n%s", r.Exit, got, tt.exit, len(tt.problems), table.String())
			}
			for i, want := range tt.problems {
				name, detail, _ := strings.Cut(want, ": ")
				if !strings.HasPrefix(got[i], name+": ") || !strings.Contains(got[i], detail) {
					t.Errorf("problem %d = %q, want %q", i, got[i], want)
				}
			}
			if tt.exit == 0 && !strings.Contains(table.String(), "All well.") {
				t.Errorf("table:\n%s", table.String())
			}
			t.Logf("\n%s", table.String())
		})
	}
}

// The evidence of a hidden direction is the counts, and the fix names the
// permission; a sandbox without content for a direction says so.
func TestDoctorEvidence(t *testing.T) {
	r, sim := diagnose(t, vccsim.Options{Deny: vccsim.Permissions{Outbound: true}})
	outbound := 0
	for _, in := range sim.Interactions() {
		if in.Direction == "outbound" {
			outbound++
		}
	}
	c := find(r, "permission outbound")
	if len(c) != 1 || len(c[0].Evidence) == 0 || !strings.Contains(c[0].Evidence[0], "Stats lists "+itoa(outbound)+" outbound interactions, Interaction Content lists 0") ||
		!strings.Contains(c[0].Fix, PermOutbound) {
		t.Fatalf("check = %+v (sandbox has %d outbound)", c, outbound)
	}
	if r.Sample == nil || r.Sample.Stats != len(sim.Interactions()) {
		t.Fatalf("sample = %+v", r.Sample)
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back.Exit != 1 || len(back.Checks) != len(r.Checks) {
		t.Fatalf("JSON round trip: %v %+v", err, back)
	}
}

// Groups off: the hidden agents are exactly those outside the owner's
// reporting line, and none of the directions is blamed.
func TestDoctorNamesHiddenAgents(t *testing.T) {
	r, sim := diagnose(t, vccsim.Options{Deny: vccsim.Permissions{Groups: true}})
	inLine := map[string]bool{}
	for _, a := range sim.Agents() {
		inLine[a.ID] = a.InReportingLine
	}
	if r.Sample == nil || len(r.Sample.HiddenAgents) == 0 {
		t.Fatalf("sample = %+v", r.Sample)
	}
	for _, h := range r.Sample.HiddenAgents {
		if inLine[h.Agent] {
			t.Errorf("agent %s is in the reporting line but reported hidden", h.Agent)
		}
	}
	for _, name := range []string{"permission inbound", "permission outbound"} {
		if c := find(r, name); len(c) != 1 || c[0].Status != OK {
			t.Errorf("%s = %+v", name, c)
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// No answer at all: nothing could be checked, exit status 2.
func TestDoctorUnreachable(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	secret := secrets.Static(secrets.New("s"))
	client, err := vcc.New(vcc.Config{TokenURL: url + "/token", APIURL: url, ClientID: "c", Secret: secret, MaxRetries: 1, BackoffBase: time.Millisecond, BackoffMax: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r := Run(context.Background(), client, &HTTPProber{TokenURL: url + "/token", APIURL: url, ClientID: "c", Secret: secret}, Options{})
	if r.Exit != 2 {
		t.Fatalf("exit %d, checks %+v", r.Exit, r.Checks)
	}
	for _, c := range r.Checks {
		if c.Status != Unchecked {
			t.Errorf("%s: %s", c.Name, c.Status)
		}
	}
}

// An API that refuses the version the client speaks is a problem naming it.
func TestDoctorVersionRefused(t *testing.T) {
	sim := vccsim.New(vccsim.Options{Start: start, InteractionsPerDay: 10})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	// A gateway that serves User Admin only in v5.
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/useradmin") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"statusCode":400,"message":"A supported Accept header is required: application/vnd.newvoicemedia.v5+json"}`))
			return
		}
		sim.Handler().ServeHTTP(w, r)
	}))
	defer gw.Close()
	p := &HTTPProber{TokenURL: gw.URL + vccsim.TokenPath, APIURL: gw.URL, ClientID: sim.ClientID(), Secret: secrets.Static(secrets.New(sim.ClientSecret()))}
	res := p.Probe(context.Background(), APIs[2])
	var r Report
	r.checkAPI(context.Background(), p, APIs[2])
	if res.Status != 400 || r.Checks[0].Status != Problem || !strings.Contains(r.Checks[0].Detail, "v4") || !strings.Contains(r.Checks[0].Detail, "v5") {
		t.Fatalf("probe %+v, check %+v", res, r.Checks[0])
	}
	for _, api := range APIs[:2] {
		if res := p.Probe(context.Background(), api); res.Status != 200 {
			t.Errorf("%s: %+v", api.Name, res)
		}
	}
}

// Over many seeds: clean data raises nothing (no false alarm), and line
// permissions only are named every time, with exactly the lines the owner
// is not permitted as evidence.
func TestDoctorLinesOverSeeds(t *testing.T) {
	falseAlarms, found := 0, 0
	const seeds = 12
	for seed := int64(1); seed <= seeds; seed++ {
		clean, _ := diagnose(t, vccsim.Options{Seed: seed})
		if p := problems(clean); len(p) > 0 || clean.Exit != 0 {
			falseAlarms++
			t.Errorf("seed %d, clean data: exit %d, %q", seed, clean.Exit, p)
		}
		r, sim := diagnose(t, vccsim.Options{Seed: seed, Deny: vccsim.Permissions{Lines: true}})
		c := find(r, "permission lines")
		if r.Exit != 1 || len(c) != 1 || c[0].Status != Problem || !strings.Contains(c[0].Fix, PermGroups) {
			t.Errorf("seed %d, line permissions: exit %d, %+v", seed, r.Exit, c)
			continue
		}
		if p := problems(r); len(p) != 1 {
			t.Errorf("seed %d, line permissions: problems %q, want only the lines", seed, p)
		}
		hidden := map[string]bool{}
		for _, h := range r.Sample.HiddenLines {
			hidden[h.Line] = true
		}
		for _, l := range sim.Lines() {
			if hidden[l.Address] == l.Permitted {
				t.Errorf("seed %d: line %s permitted %v, reported hidden %v", seed, l.Address, l.Permitted, hidden[l.Address])
			}
		}
		found++
	}
	t.Logf("%d seeds: %d false alarms on clean data; line permissions named in %d", seeds, falseAlarms, found)
}

// The owner's permissions are read when its id is known; otherwise, or when
// VCC refuses, the check says unchecked and why. The check is optional: on
// an account with nothing wrong the exit status stays 0, unless Strict.
func TestDoctorOwnerPermissions(t *testing.T) {
	r, sim := diagnose(t, vccsim.Options{Deny: vccsim.Permissions{Lines: true}})
	if c := find(r, "owner permissions"); len(c) != 1 || c[0].Status != OK || r.Owner == nil || len(r.Owner.Addresses) != 2 ||
		!strings.Contains(r.Owner.Addresses[0], sim.Lines()[0].Address) {
		t.Fatalf("owner %+v, check %+v", r.Owner, c)
	}
	if c := find(r, "permission lines"); len(c) != 1 || !strings.Contains(strings.Join(c[0].Evidence, "\n"), "the owner's line permissions name: "+r.Owner.Addresses[0]) {
		t.Errorf("line finding without the owner's lines: %+v", c)
	}
	noOwner := func(o *Options, _ *vccsim.Sim) { o.OwnerUserID = "" }
	strict := func(o *Options, _ *vccsim.Sim) { o.Strict = true }
	for _, tt := range []struct {
		name string
		opts vccsim.Options
		tune func(*Options, *vccsim.Sim)
		exit int
	}{
		{"refused", vccsim.Options{Quirks: vccsim.Quirks{PermissionsRefused: true}}, nil, 0},
		{"no owner id", vccsim.Options{}, noOwner, 0},
		{"refused, strict", vccsim.Options{Quirks: vccsim.Quirks{PermissionsRefused: true}}, strict, 2},
		{"no owner id, strict", vccsim.Options{}, func(o *Options, s *vccsim.Sim) { noOwner(o, s); strict(o, s) }, 2},
	} {
		r, _ := diagnoseWith(t, tt.opts, tt.tune)
		var table bytes.Buffer
		_ = WriteTable(&table, r)
		c := find(r, "owner permissions")
		if len(c) != 1 || c[0].Status != Unchecked || !c[0].Optional || !strings.Contains(c[0].Detail, "unchecked") || r.Exit != tt.exit || len(problems(r)) != 0 {
			t.Errorf("%s: exit %d (want %d), %+v\n%s", tt.name, r.Exit, tt.exit, c, table.String())
		}
		if want := "All well. Optional, not checked: owner permissions"; tt.exit == 0 && !strings.Contains(table.String(), want) {
			t.Errorf("%s: table lacks %q:\n%s", tt.name, want, table.String())
		}
		if tt.exit == 2 && !strings.Contains(table.String(), "UNCHECKED") {
			t.Errorf("%s: table:\n%s", tt.name, table.String())
		}
	}
	var rep Report
	rep.checkOwner(context.Background(), &vcc.Client{}, "")
	if c := rep.Checks[0]; c.Status != Unchecked || !strings.Contains(c.Fix, "VCC_OWNER_USER_ID") {
		t.Errorf("unknown id: %+v", c)
	}
}
