package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// tenantSims starts one sandbox account per id (distinct credentials and
// contact centres) and writes their tenants document.
func tenantSims(t *testing.T, day time.Time, perDay int, ids ...string) (map[string]*vccsim.Sim, string) {
	return tenantSimsWith(t, day, func(string) (int, int) { return perDay, 3000 }, ids...)
}

// tenantSimsWith is tenantSims with each tenant's interactions a day and
// budget from shape.
func tenantSimsWith(t *testing.T, day time.Time, shape func(id string) (perDay, rate int), ids ...string) (map[string]*vccsim.Sim, string) {
	t.Helper()
	sims := map[string]*vccsim.Sim{}
	var doc strings.Builder
	doc.WriteString(`{"tenants": [`)
	for i, id := range ids {
		perDay, rate := shape(id)
		sim := vccsim.New(vccsim.Options{Seed: int64(40 + i), Start: day, Days: 1, InteractionsPerDay: perDay,
			ClientID: "client-" + id, ClientSecret: "secret-of-" + id + "-7f3a9c"})
		if err := sim.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sim.Close)
		sims[id] = sim
		if i > 0 {
			doc.WriteString(",")
		}
		fmt.Fprintf(&doc, `{"id": %q, "region": "emea", "clientId": %q, "secretName": "vcc-client-secret-%s", "ratePerMinute": %d, "tokenUrl": %q, "apiUrl": %q}`,
			id, sim.ClientID(), id, rate, sim.TokenURL(), sim.APIURL())
	}
	doc.WriteString("]}")
	path := filepath.Join(t.TempDir(), "tenants.json")
	if err := os.WriteFile(path, []byte(doc.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return sims, path
}

func visibleAudio(sim *vccsim.Sim) map[string]bool {
	out := map[string]bool{}
	for _, r := range sim.Recordings() {
		if r.Visible && isAudio(r.Type) && r.Audio {
			out[r.InteractionGUID] = true
		}
	}
	return out
}

// sidecarsUnder reads every interaction.json under dir.
func sidecarsUnder(t *testing.T, dir string) map[string]records.Sidecar {
	t.Helper()
	out := map[string]records.Sidecar{}
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "interaction.json" {
			data, _ := os.ReadFile(p)
			var sc records.Sidecar
			if json.Unmarshal(data, &sc) != nil {
				t.Errorf("%s: unreadable", p)
			}
			out[sc.InteractionID] = sc
		}
		return nil
	})
	return out
}

// A window export over a tenants document: each tenant's recordings under
// DIR/<id>/yyyy/mm/dd/<guid>/, from its own account only. One tenant with a
// wrong secret fails alone: the others complete, the exit status is 1 and
// the summary names the failing tenant and why. No credential reaches
// another tenant's hosts, no secret appears in any output, and every log
// line of a tenant's work names the tenant.
func TestLocalTenantsExport(t *testing.T) {
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	sims, doc := tenantSims(t, day, 30, "acme", "globex", "initech")
	out, data := t.TempDir(), t.TempDir()
	env := map[string]string{
		"VCC_TENANTS_FILE":          doc,
		"VCC_CLIENT_SECRET_ACME":    sims["acme"].ClientSecret(),
		"VCC_CLIENT_SECRET_GLOBEX":  "not-the-secret-5e1d",
		"VCC_CLIENT_SECRET_INITECH": sims["initech"].ClientSecret(),
		"VCC_OWNER_USER_ID":         "",
		"FUNCTIONS_APP_ROOT_PATH":   "..",
	}
	var stdout, stderr bytes.Buffer
	status := runMain(t, []string{"local", "--from", "2026-11-02", "--to", "2026-11-03", "--out", out, "--data", data, "--workers", "4"}, env, &stdout, &stderr)
	if status != 1 {
		t.Fatalf("exit status %d, want 1 (one tenant failed)\n%s\n%s", status, stdout.String(), stderr.String())
	}
	summary := stdout.String()
	if !strings.Contains(summary, "globex") || !strings.Contains(summary, "FAILED") || !strings.Contains(summary, "1 of 3 tenants failed") || !strings.Contains(summary, "token") {
		t.Errorf("the summary does not name the failing tenant and why:\n%s", summary)
	}
	for _, id := range []string{"acme", "initech"} {
		want := visibleAudio(sims[id])
		got := sidecarsUnder(t, filepath.Join(out, id))
		checkSidecarKeys(t, filepath.Join(out, id))
		if len(want) == 0 || len(got) != len(want) {
			t.Errorf("%s: %d interactions stored, want %d", id, len(got), len(want))
		}
		for guid, sc := range got {
			if !want[guid] || sc.Tenant != id {
				t.Errorf("%s: interaction %s (tenant %q) is not its own", id, guid, sc.Tenant)
			}
		}
		if !strings.Contains(summary, id) {
			t.Errorf("summary does not list %s", id)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "globex")); !os.IsNotExist(err) {
		t.Errorf("the failing tenant wrote under its prefix: %v", err)
	}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if e.Name() != "acme" && e.Name() != "initech" {
			t.Errorf("%s/%s: nothing but the tenants' prefixes at the top", out, e.Name())
		}
	}
	// Each account's token endpoint saw its own client id only.
	for id, sim := range sims {
		for client := range sim.Counters().TokenClients {
			if client != "client-"+id {
				t.Errorf("tenant %s's VCC was sent the credential of %s", id, client)
			}
		}
	}
	logData, _ := os.ReadFile(filepath.Join(data, "run.log"))
	for _, text := range []string{summary, stderr.String(), string(logData)} {
		for id, sim := range sims {
			if strings.Contains(text, sim.ClientSecret()) {
				t.Errorf("tenant %s's secret appears in the output", id)
			}
		}
		if strings.Contains(text, "not-the-secret-5e1d") {
			t.Error("the wrong secret appears in the output")
		}
	}
	lines, tenantLines := 0, 0
	sc := bufio.NewScanner(bytes.NewReader(logData))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		if _, ok := line["interactionId"]; !ok && line["msg"] != "discover failed" {
			continue
		}
		lines++
		if tn, _ := line["tenant"].(string); tn != "" {
			tenantLines++
		} else {
			t.Errorf("a line of a tenant's work does not name the tenant: %s", sc.Bytes())
			break
		}
	}
	if lines == 0 || tenantLines != lines {
		t.Errorf("%d of %d lines of tenants' work name the tenant", tenantLines, lines)
	}

	// The same export again, every secret right: the failing tenant is
	// caught up, the others are found complete, exit 0.
	env["VCC_CLIENT_SECRET_GLOBEX"] = sims["globex"].ClientSecret()
	stdout.Reset()
	if status := runMain(t, []string{"local", "--from", "2026-11-02", "--to", "2026-11-03", "--out", out, "--data", data, "--workers", "4"}, env, &stdout, &stderr); status != 0 {
		t.Fatalf("rerun: exit status %d\n%s", status, stdout.String())
	}
	if got, want := len(sidecarsUnder(t, filepath.Join(out, "globex"))), len(visibleAudio(sims["globex"])); got != want {
		t.Errorf("globex after the rerun: %d of %d", got, want)
	}
}

// runMain runs the handler's dispatch in-process with env as the whole
// environment.
func runMain(t *testing.T, args []string, env map[string]string, stdout, stderr *bytes.Buffer) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return run(ctx, args, stdout, stderr, func(k string) string { return env[k] })
}

// Fairness: tenant A's budget is taken for a minute by its own backlog, and
// tenant B's recordings are still stored within seconds: A's deliveries are
// put off with scheduled copies instead of holding the invocation slots
// while they wait for A's budget. A completes once its budget has room.
func TestTenantBudgetDoesNotHoldOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a budget window (about a minute)")
	}
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	sims, doc := tenantSimsWith(t, day, func(id string) (int, int) {
		if id == "busy" {
			return 10, 8 // more calls than its budget allows in a minute than its budget allows in a minute
		}
		return 12, 3000
	}, "busy", "fresh")
	out, data := t.TempDir(), t.TempDir()
	env := map[string]string{
		"VCC_TENANTS_FILE":        doc,
		"VCC_CLIENT_SECRET_BUSY":  sims["busy"].ClientSecret(),
		"VCC_CLIENT_SECRET_FRESH": sims["fresh"].ClientSecret(),
		"FUNCTIONS_APP_ROOT_PATH": "..",
	}
	wantFresh, wantBusy := len(visibleAudio(sims["fresh"])), len(visibleAudio(sims["busy"]))
	started := time.Now()
	done := make(chan int, 1)
	var stdout, stderr bytes.Buffer
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		done <- run(ctx, []string{"local", "--from", "2026-11-02", "--to", "2026-11-03", "--out", out, "--data", data, "--workers", "4"},
			&stdout, &stderr, func(k string) string { return env[k] })
	}()
	var freshAfter time.Duration
	for freshAfter == 0 {
		select {
		case status := <-done:
			t.Fatalf("the run ended (status %d) before fresh was stored\n%s", status, stdout.String())
		case <-time.After(200 * time.Millisecond):
		}
		if len(sidecarsUnder(t, filepath.Join(out, "fresh"))) == wantFresh {
			freshAfter = time.Since(started)
		}
	}
	busyThen := len(sidecarsUnder(t, filepath.Join(out, "busy")))
	status := <-done
	total := time.Since(started)
	t.Logf("fresh's %d stored after %v (busy had %d of %d); the run took %v", wantFresh, freshAfter.Round(time.Millisecond), busyThen, wantBusy, total.Round(time.Second))
	if status != 0 {
		t.Fatalf("status %d\n%s", status, stdout.String())
	}
	if busyThen >= wantBusy || total < time.Minute {
		t.Fatalf("busy's budget was never taken (%d of %d stored when fresh was done, run %v): the test shows nothing", busyThen, wantBusy, total)
	}
	if freshAfter > 20*time.Second {
		t.Errorf("fresh waited %v behind busy's budget", freshAfter)
	}
	if got := len(sidecarsUnder(t, filepath.Join(out, "busy"))); got != wantBusy {
		t.Errorf("busy: %d of %d stored", got, wantBusy)
	}
	if !strings.Contains(stdout.String(), "put off while the VCC budget was taken") {
		t.Errorf("the summary does not count the put-off deliveries:\n%s", stdout.String())
	}
}
