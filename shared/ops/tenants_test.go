package ops

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/store"
)

const opsTenants = `{"tenants": [
  {"id": "acme", "region": "emea", "clientId": "acme-client", "secretName": "vcc-client-secret-acme", "ratePerMinute": 160},
  {"id": "globex", "region": "nam", "clientId": "globex-client", "secretName": "vcc-client-secret-globex", "ratePerMinute": 80}
]}`

func tenantsEnv(t *testing.T, doc string) func(string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tenants.json")
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{"VCC_TENANTS_FILE": p, "VCC_CLIENT_SECRET_ACME": "a", "VCC_CLIENT_SECRET_GLOBEX": "g"}
	return func(k string) string { return m[k] }
}

// --tenant picks one tenant's adapters (required when there are several);
// every tenant gets its own client, prefix and state.
func TestOpenSelectsTenant(t *testing.T) {
	ctx := context.Background()
	getenv := tenantsEnv(t, opsTenants)
	need := Need{VCC: true, Sink: true, State: true}
	f := Flags{Out: t.TempDir(), Data: t.TempDir()}
	if _, err := Open(ctx, f, need, io.Discard, io.Discard, getenv); err == nil || !strings.Contains(err.Error(), "--tenant: required") || !strings.Contains(err.Error(), "acme, globex") {
		t.Fatalf("no --tenant: %v", err)
	}
	f.Tenant = "initech"
	if _, err := Open(ctx, f, need, io.Discard, io.Discard, getenv); err == nil || !strings.Contains(err.Error(), `"initech" is not in the tenants document`) {
		t.Fatalf("unknown --tenant: %v", err)
	}
	f.Tenant = "globex"
	env, err := Open(ctx, f, need, io.Discard, io.Discard, getenv)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if env.Config.Tenant != "globex" || env.VCCConfig.ClientID != "globex-client" || env.VCCConfig.RatePerMinute != 80 || env.Client == nil {
		t.Errorf("globex's settings: tenant %q client %q rate %d", env.Config.Tenant, env.VCCConfig.ClientID, env.VCCConfig.RatePerMinute)
	}
	start := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	if err := env.Sink.PutSidecar(ctx, store.SidecarName(start, "2480fc2c-7a3b-4b5e-9c61-0d2f4e8a1b7c"), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.Out, "globex", "2026", "11", "02")); err != nil {
		t.Errorf("globex's sink is not under globex/: %v", err)
	}
	if err := env.State.Put(ctx, "x.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.Data, "state", "tenants", "globex", "x.json")); err != nil {
		t.Errorf("globex's state is not under tenants/globex/: %v", err)
	}

	// Every tenant, for handler local.
	f.Tenant = ""
	all, err := Open(ctx, f, Need{VCC: true, Sink: true, State: true, AllTenants: true}, io.Discard, io.Discard, getenv)
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	if len(all.Tenants) != 2 || all.Tenants[0].VCC == all.Tenants[1].VCC || all.Tenants[0].VCCConfig.ClientID != "acme-client" {
		t.Errorf("tenants: %+v", all.Tenants)
	}
}
