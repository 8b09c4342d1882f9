//go:build !product

package ops

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// --sandbox --sandbox-tenants N serves N accounts with distinct credentials.
func TestSandboxTenants(t *testing.T) {
	var out bytes.Buffer
	f := Flags{Sandbox: true, SandboxTenants: 3, PerDay: 5, Days: 1, Seed: 1, Data: t.TempDir(), Tenant: "sandbox-3"}
	env, err := Open(context.Background(), f, Need{VCC: true}, &out, io.Discard, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if len(env.Sims) != 3 || env.Sims["sandbox-1"].ClientID() == env.Sims["sandbox-2"].ClientID() || env.Sims["sandbox-1"].ClientSecret() == env.Sims["sandbox-2"].ClientSecret() {
		t.Fatalf("sims: %d, credentials not distinct", len(env.Sims))
	}
	if env.VCCConfig.APIURL != env.Sims["sandbox-3"].APIURL() || env.Config.Tenant != "sandbox-3" {
		t.Errorf("--tenant sandbox-3 uses %s", env.VCCConfig.APIURL)
	}
	for _, sim := range env.Sims {
		if strings.Contains(out.String(), sim.ClientSecret()) {
			t.Error("a sandbox secret was printed")
		}
	}
}
