package ops

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vcc-ingest/vcc-ingest/shared/azuritetest"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
)

func writeDoc(t *testing.T, doc string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tenants.json")
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func tenantsCmd(t *testing.T, getenv func(string) string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	status := Tenants(context.Background(), args, &stdout, &stderr, getenv)
	return status, stdout.String(), stderr.String()
}

// check validates a document and lists its tenants; an invalid one is
// refused naming the tenant and field.
func TestTenantsCheck(t *testing.T) {
	none := func(string) string { return "" }
	status, out, _ := tenantsCmd(t, none, "check", writeDoc(t, opsTenants))
	if status != 0 || !strings.Contains(out, "valid, 2 tenants") || !regexp.MustCompile(`globex\s+nam\s+globex-client\s+s-globex\s+80`).MatchString(out) {
		t.Fatalf("status %d:\n%s", status, out)
	}
	bad := strings.Replace(opsTenants, `"ratePerMinute": 80`, `"ratePerMinute": 0`, 1)
	status, _, errOut := tenantsCmd(t, none, "check", writeDoc(t, bad))
	if status != 1 || !strings.Contains(errOut, "tenant globex: ratePerMinute") {
		t.Fatalf("invalid: status %d: %s", status, errOut)
	}
	if status, _, _ := tenantsCmd(t, none, "check"); status != 2 {
		t.Errorf("no file: status %d", status)
	}
}

// push uploads only a valid document, only over the version an edit
// started from; a refused push leaves the document as it was. get prints
// it and its version.
func TestTenantsPushAndGet(t *testing.T) {
	az := azuritetest.Start(t)
	env := map[string]string{"RECORDINGS_CONNECTION_STRING": az.ConnectionString, "VCC_TENANTS_BLOB": "tenants.json"}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	blobs, err := store.NewBlob(ctx, store.BlobConfig{ConnectionString: az.ConnectionString, Container: "recordings", StateContainer: "vcc-ingest-state", CreateContainers: true})
	if err != nil {
		t.Fatal(err)
	}
	served := func() (string, string) {
		t.Helper()
		data, etag, found, err := blobs.State().Load(ctx, "tenants.json")
		if err != nil || !found {
			t.Fatalf("the document: found %v, %v", found, err)
		}
		return string(data), bareETag(etag)
	}
	versionOf := regexp.MustCompile(`version (\S+),`)

	one := strings.Replace(opsTenants, `,
  {"id": "globex", "region": "nam", "clientId": "globex-client", "secretName": "s-globex", "ratePerMinute": 80}`, "", 1)
	status, out, errOut := tenantsCmd(t, getenv, "push", writeDoc(t, one))
	if status != 0 || !strings.Contains(out, "1 tenants (acme)") {
		t.Fatalf("first push: %d %s %s", status, out, errOut)
	}
	doc, v1 := served()
	if doc != one || !strings.Contains(out, "version "+v1+",") {
		t.Fatalf("pushed %q, printed %s", v1, out)
	}

	// Without --version over an existing document: refused.
	status, _, errOut = tenantsCmd(t, getenv, "push", writeDoc(t, opsTenants))
	if status != 1 || !strings.Contains(errOut, "give --version") {
		t.Fatalf("push without --version: %d %s", status, errOut)
	}
	// Invalid, with the right version: refused, nothing uploaded.
	bad := strings.Replace(opsTenants, `"region": "nam"`, `"region": ""`, 1)
	status, _, errOut = tenantsCmd(t, getenv, "push", "--version", v1, writeDoc(t, bad))
	if status != 1 || !strings.Contains(errOut, "not pushed") || !strings.Contains(errOut, "tenant globex: region") {
		t.Fatalf("invalid push: %d %s", status, errOut)
	}
	if doc, v := served(); doc != one || v != v1 {
		t.Fatal("a refused push changed the document")
	}

	// get prints the document and its version; the edit pushed over it.
	status, out, errOut = tenantsCmd(t, getenv, "get")
	if status != 0 || out != one || !strings.Contains(errOut, "version "+v1+", valid") {
		t.Fatalf("get: %d %q %s", status, out, errOut)
	}
	status, out, errOut = tenantsCmd(t, getenv, "push", "--version", versionOf.FindStringSubmatch(errOut)[1], writeDoc(t, opsTenants))
	if status != 0 || !strings.Contains(out, "2 tenants (acme, globex)") {
		t.Fatalf("push over v1: %d %s %s", status, out, errOut)
	}
	_, v2 := served()

	// A second operator's edit from v1 is refused: v2 stays.
	status, _, errOut = tenantsCmd(t, getenv, "push", "--version", v1, writeDoc(t, one))
	if status != 1 || !strings.Contains(errOut, "changed since version "+v1) {
		t.Fatalf("stale push: %d %s", status, errOut)
	}
	if doc, v := served(); doc != opsTenants || v != v2 {
		t.Fatal("a stale push overwrote the document")
	}

	// The operator commands read the same document: --tenant picks one.
	env["VCC_CLIENT_SECRET_ACME"], env["VCC_CLIENT_SECRET_GLOBEX"] = "a", "g"
	o, err := Open(ctx, Flags{Tenant: "globex"}, Need{VCC: true}, io.Discard, io.Discard, getenv)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.Config.Tenant != "globex" || o.VCCConfig.ClientID != "globex-client" || o.Client == nil {
		t.Errorf("--tenant globex over VCC_TENANTS_BLOB: %q %q", o.Config.Tenant, o.VCCConfig.ClientID)
	}
	// It books globex's calls in the deployment's budget of that account,
	// in the state container, at the account's whole budget.
	if o.VCCConfig.RatePerMinute != 80 {
		t.Errorf("--tenant globex: paced at %d a minute, want its whole ratePerMinute 80", o.VCCConfig.RatePerMinute)
	}
	if o.VCCConfig.Pacer == nil {
		t.Fatal("--tenant globex over VCC_TENANTS_BLOB: paced in this process only, not in the deployment's budget")
	}
	if _, err := o.VCCConfig.Pacer.Reserve(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, found, err := blobs.State().Load(ctx, "budget/globex.json"); err != nil || !found {
		t.Errorf("budget/globex.json in the state container: found %v, %v", found, err)
	}
}
