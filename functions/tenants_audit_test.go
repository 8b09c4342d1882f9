package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/message"
	"github.com/vcc-ingest/vcc-ingest/shared/ops"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/tenants"
)

// Audit over a tenants document: each tenant audited with its own client,
// prefix and state, its own owner checked and only its own dead letters
// counted; one failing tenant stops none of the others, and the invocation
// then fails naming it and why. One audit event per tenant, naming it.
func TestAuditEveryTenant(t *testing.T) {
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	w := newTenantWorld(t, day, 25, func(env map[string]string) {
		env[tenants.SecretEnv("initech")] = "not-the-secret-77aa"
	}, "acme", "globex", "initech")
	w.discoverDay("acme", day) // acme is complete, globex never ingested
	w.drain()
	var guid string
	var start time.Time
	for g, s := range w.audioGUIDs("globex") {
		guid, start = g, s
		break
	}
	w.deadLetter("globex", guid, start)

	status, body := w.invokeTimer("audit")
	if status != 500 {
		t.Fatalf("audit status %d, want 500 (initech failed): %s", status, body)
	}
	var resp struct{ ReturnValue records.InvocationFailure }
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	if e := resp.ReturnValue.Error; !strings.Contains(e, "tenant initech") || !strings.Contains(e, "token") || strings.Contains(e, "acme") || strings.Contains(e, "globex") {
		t.Errorf("failure %q: want it to name initech and why, and only initech", e)
	}
	if strings.Contains(string(body), "not-the-secret-77aa") || strings.Contains(w.logs.String(), "not-the-secret-77aa") {
		t.Error("a secret reached the answer or the log")
	}

	ctx := context.Background()
	to := time.Now().UTC().Truncate(24 * time.Hour)
	load := func(id string) (records.Audit, bool) {
		data, _, found, err := w.env.State.Load(ctx, store.TenantStatePrefix(id)+records.AuditName(to))
		if err != nil || !found {
			return records.Audit{}, false
		}
		var a records.Audit
		if err := json.Unmarshal(data, &a); err != nil {
			t.Fatal(err)
		}
		return a, true
	}
	acme, ok := load("acme")
	if !ok || acme.Tenant != "acme" || acme.Gaps != 0 || acme.DeadLetters != 0 || len(acme.Report) == 0 {
		t.Errorf("acme's audit (found %v): tenant %q gaps %d dead letters %d", ok, acme.Tenant, acme.Gaps, acme.DeadLetters)
	}
	globex, ok := load("globex")
	if !ok || globex.Tenant != "globex" || globex.Gaps == 0 || globex.DeadLetters != 1 || globex.Missing != len(w.audioGUIDs("globex")) {
		t.Errorf("globex's audit (found %v): tenant %q gaps %d missing %d dead letters %d; want gaps, every interaction missing, its 1 dead letter",
			ok, globex.Tenant, globex.Gaps, globex.Missing, globex.DeadLetters)
	}
	for _, a := range []records.Audit{acme, globex} {
		for _, u := range a.Unchecked {
			if strings.HasPrefix(u, "owner permissions") {
				t.Errorf("%s: the tenant's owner was not checked: %s", a.Tenant, u)
			}
		}
	}
	if _, ok := load("initech"); ok {
		t.Error("initech's failed audit was stored")
	}
	if _, _, found, _ := w.env.State.Load(ctx, records.AuditName(to)); found {
		t.Error("an audit was stored at the state's root, where no tenant's records are")
	}

	events := w.logEvents(records.AuditEvent)
	byTenant := map[string]map[string]any{}
	for _, e := range events {
		id, _ := e["tenant"].(string)
		byTenant[id] = e
	}
	if len(events) != 2 || byTenant["acme"] == nil || byTenant["globex"] == nil {
		t.Fatalf("audit events %v: want one per audited tenant, each naming it", events)
	}
	if byTenant["acme"]["level"] != "INFO" || byTenant["globex"]["level"] != "WARN" || byTenant["globex"]["deadLetters"] != float64(1) {
		t.Errorf("events: acme %v, globex %v", byTenant["acme"], byTenant["globex"])
	}
	failed := w.logEvents("audit failed")
	named := false
	for _, f := range failed {
		if f["tenant"] == "initech" && f["function"] == "audit" {
			named = true
		}
	}
	if !named {
		t.Errorf("no error line naming initech: %v", failed)
	}

	// Every secret right: the invocation succeeds, its answer lists each tenant.
	t.Run("all well", func(t *testing.T) {
		w2 := newTenantWorld(t, day, 10, nil, "acme", "globex")
		status, body := w2.invokeTimer("audit")
		var ok struct{ ReturnValue records.Audit }
		if status != 200 || json.Unmarshal(body, &ok) != nil || len(ok.ReturnValue.Tenants) != 2 || ok.ReturnValue.Tenants[1].Tenant != "globex" {
			t.Fatalf("status %d: %s", status, body)
		}
	})
}

// handler local --audit over a tenants document audits every tenant after
// the window, each stored in its own state.
func TestLocalAuditEveryTenant(t *testing.T) {
	out, data := filepath.Join(t.TempDir(), "export"), t.TempDir()
	var stdout, stderr bytes.Buffer
	today := time.Now().UTC().Truncate(24 * time.Hour)
	status := run(context.Background(), []string{"local", "--sandbox", "--sandbox-tenants", "2", "--seed", "12", "--per-day", "20", "--out", out, "--data", data, "--audit"}, &stdout, &stderr, func(k string) string {
		return map[string]string{"FUNCTIONS_APP_ROOT_PATH": ".."}[k]
	})
	if status != 0 {
		t.Fatalf("status %d\nstdout:\n%s\nstderr:\n%s", status, stdout.String(), stderr.String())
	}
	if after := time.Now().UTC().Truncate(24 * time.Hour); !after.Equal(today) {
		t.Skip("the UTC day changed during the run")
	}
	for _, id := range []string{ops.SandboxTenantID(1), ops.SandboxTenantID(2)} {
		name := store.TenantStatePrefix(id) + records.AuditName(today)
		if !strings.Contains(stdout.String(), "Audit of "+id+" ") || !strings.Contains(stdout.String(), "result in the state at "+name) {
			t.Errorf("stdout lacks %s's audit:\n%s", id, stdout.String())
		}
		b, err := os.ReadFile(filepath.Join(data, "state", filepath.FromSlash(name)))
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		var a records.Audit
		if err := json.Unmarshal(b, &a); err != nil || a.Tenant != id {
			t.Errorf("%s: stored audit of %q (%v)", id, a.Tenant, err)
		}
		for _, u := range a.Unchecked {
			if strings.HasPrefix(u, "owner permissions") {
				t.Errorf("%s: owner unchecked: %s", id, u)
			}
		}
	}
}

// report --tenant counts that tenant's dead letters only (one queue serves
// every tenant), as the audit does.
func TestReportCommandCountsTheTenantsDeadLetters(t *testing.T) {
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	sims, doc := tenantSims(t, day, 12, "acme", "globex")
	out, data := t.TempDir(), t.TempDir()
	env := map[string]string{"VCC_TENANTS_FILE": doc, "FUNCTIONS_APP_ROOT_PATH": "..",
		"VCC_CLIENT_SECRET_ACME": sims["acme"].ClientSecret(), "VCC_CLIENT_SECRET_GLOBEX": sims["globex"].ClientSecret()}
	var stdout, stderr bytes.Buffer
	if status := runMain(t, []string{"local", "--from", "2026-11-02", "--to", "2026-11-03", "--out", out, "--data", data}, env, &stdout, &stderr); status != 0 {
		t.Fatalf("local: %d\n%s\n%s", status, stdout.String(), stderr.String())
	}
	// Two of globex's interactions dead-lettered (as if ingest had given up).
	q, err := queue.OpenEmbedded(filepath.Join(data, "queue.db"), queue.EmbeddedOptions{LockDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	n, seen := 0, map[string]bool{}
	for _, r := range sims["globex"].Recordings() {
		if n == 2 || !r.Visible || !r.Audio || seen[r.InteractionGUID] {
			continue
		}
		seen[r.InteractionGUID] = true
		start := r.Start
		body, _ := message.Encode(message.Body{InteractionID: r.InteractionGUID, Start: &start, Tenant: "globex"})
		if err := q.SendBatch(context.Background(), []queue.Outgoing{{ID: "globex:" + r.InteractionGUID + ".x", Body: body}}); err != nil {
			t.Fatal(err)
		}
		msgs, err := q.Receive(context.Background(), 1, time.Second)
		if err != nil || len(msgs) != 1 {
			t.Fatal(err)
		}
		if err := q.DeadLetter(context.Background(), msgs[0], "MaxDeliveryCountExceeded", "test"); err != nil {
			t.Fatal(err)
		}
		n++
	}
	q.Close()
	for id, want := range map[string]int{"acme": 0, "globex": 2} {
		stdout.Reset()
		runMain(t, []string{"report", "--tenant", id, "--json", "--from", "2026-11-02", "--to", "2026-11-03", "--out", out, "--data", data}, env, &stdout, &stderr)
		var r struct {
			DeadLetters bool `json:"deadLettersCounted"`
			Total       struct{ DeadLettered int }
		}
		if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v\n%s\n%s", id, err, stdout.String(), stderr.String())
		}
		if !r.DeadLetters || r.Total.DeadLettered != want {
			t.Errorf("report --tenant %s: %d dead letters (counted %v), want %d", id, r.Total.DeadLettered, r.DeadLetters, want)
		}
	}
}
