package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

var day0 = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

// audit runs one audit of the sandbox's two days, on the third, and returns
// the result, what was stored and the one event logged.
func audit(t *testing.T, deny vccsim.Permissions, seed int64) (records.Audit, records.Audit, map[string]any, *vccsim.Sim) {
	t.Helper()
	sim := vccsim.New(vccsim.Options{Seed: seed, Start: day0, Days: 2, InteractionsPerDay: 150, Deny: deny})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	client, err := vcc.New(vcc.Config{TokenURL: sim.TokenURL(), APIURL: sim.APIURL(), ClientID: sim.ClientID(),
		Secret: secrets.Static(secrets.New(sim.ClientSecret())), RatePerMinute: 600000})
	if err != nil {
		t.Fatal(err)
	}
	state := store.NewDirState(t.TempDir())
	var logs bytes.Buffer
	a := New(client, store.NewDir(t.TempDir()), state, nil, Options{
		Days: 2, OwnerUserID: sim.OwnerUserID(), IsAudio: func(string) bool { return true },
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	res, err := a.Run(context.Background(), day0.Add(50*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	data, _, found, err := state.Load(context.Background(), records.AuditName(day0.Add(48*time.Hour)))
	if err != nil || !found {
		t.Fatalf("result not stored: %v", err)
	}
	var stored records.Audit
	if err := json.Unmarshal(data, &stored); err != nil {
		t.Fatal(err)
	}
	page, _, found, _ := state.Load(context.Background(), records.AuditPageName(day0.Add(48*time.Hour)))
	if !found || !bytes.Contains(page, []byte(`id="lines"`)) {
		t.Error("coverage page not stored")
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	var events []map[string]any
	for _, l := range lines {
		var e map[string]any
		if json.Unmarshal([]byte(l), &e) == nil && e["msg"] == records.AuditEvent {
			events = append(events, e)
		}
	}
	if len(events) != 1 {
		t.Fatalf("%d audit events in\n%s", len(events), logs.String())
	}
	for _, tok := range append(sim.IssuedTokens(), sim.ClientSecret()) {
		if strings.Contains(logs.String(), tok) || bytes.Contains(data, []byte(tok)) {
			t.Fatal("a token or the secret in the logs or the result")
		}
	}
	return res, stored, events[0], sim
}

func TestAuditFindsHiddenLines(t *testing.T) {
	res, stored, ev, sim := audit(t, vccsim.Permissions{Lines: true}, 4)
	if !res.PermissionIssue || res.Gaps == 0 || res.LineGaps == 0 || len(res.HiddenLines) < 4 {
		t.Fatalf("result %+v", res)
	}
	for _, l := range sim.Lines() {
		if !l.Permitted && !strings.Contains(strings.Join(res.HiddenLines, " "), l.Address) {
			t.Errorf("line %s not reported hidden", l.Address)
		}
	}
	if stored.Gaps != res.Gaps || len(stored.HiddenLines) != len(res.HiddenLines) || len(stored.Report) == 0 || len(stored.Doctor) == 0 {
		t.Errorf("stored %+v", stored)
	}
	if ev["level"] != "WARN" || ev["permissionProblem"] != true || ev["hiddenLines"].(float64) != float64(len(res.HiddenLines)) ||
		ev["gaps"].(float64) != float64(res.Gaps) || ev["from"] != "2026-11-02" || ev["to"] != "2026-11-04" {
		t.Errorf("event %v", ev)
	}
	// It used only the product's token: the three scopes, nothing else.
	for _, sc := range sim.Counters().TokenScopes {
		if strings.Join(sc, " ") != vcc.Scopes {
			t.Errorf("token requested with scopes %q", sc)
		}
	}
}

func TestAuditQuietOnCleanData(t *testing.T) {
	for seed := int64(1); seed <= 4; seed++ {
		res, _, ev, _ := audit(t, vccsim.Permissions{}, seed)
		// Nothing was ingested, so every recording is "missing" (a gap);
		// what must stay quiet is the permission side.
		if res.PermissionIssue || res.LineGaps != 0 || len(res.HiddenLines)+len(res.HiddenAgents)+len(res.HiddenDirections) != 0 || len(res.Problems) != 0 {
			t.Errorf("seed %d: clean data raised %+v", seed, res.Problems)
		}
		if ev["permissionProblem"] != false {
			t.Errorf("seed %d: event %v", seed, ev)
		}
	}
}
