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
	// Every host a credential goes to, and every secret name, is shown.
	if status != 0 || !strings.Contains(out, "valid, 2 tenants") ||
		!regexp.MustCompile(`globex\s+nam\s+globex-client\s+80\s+https://nam\.cc\.vonage\.com/Auth/connect/token\s+https://nam\.api\.newvoicemedia\.com\s+vcc-client-secret-globex\s+-`).MatchString(out) {
		t.Fatalf("status %d:\n%s", status, out)
	}
	// A host that is not VCC's is refused naming the field, loopback too
	// (the Function App never admits it); VCC_EXTRA_HOSTS admits its origins.
	for _, u := range []string{"https://attacker.example/Auth/connect/token", "http://127.0.0.1:9/Auth/connect/token"} {
		elsewhere := strings.Replace(opsTenants, `"ratePerMinute": 80`, `"ratePerMinute": 80, "tokenUrl": "`+u+`"`, 1)
		status, out, errOut := tenantsCmd(t, none, "check", writeDoc(t, elsewhere))
		if status != 1 || !strings.Contains(errOut, "tenant globex: tokenUrl:") || strings.Contains(out, "valid") {
			t.Fatalf("%s: status %d: %s%s", u, status, out, errOut)
		}
	}
	gateway := strings.Replace(opsTenants, `"ratePerMinute": 80`, `"ratePerMinute": 80, "tokenUrl": "https://gw.example.net/token"`, 1)
	extra := func(k string) string { return map[string]string{"VCC_EXTRA_HOSTS": "https://gw.example.net"}[k] }
	if status, out, errOut := tenantsCmd(t, extra, "check", writeDoc(t, gateway)); status != 0 || !strings.Contains(out, "https://gw.example.net/token") {
		t.Fatalf("named in VCC_EXTRA_HOSTS: status %d: %s%s", status, out, errOut)
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
  {"id": "globex", "region": "nam", "clientId": "globex-client", "secretName": "vcc-client-secret-globex", "ratePerMinute": 80}`, "", 1)
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
	if status != 0 || out != one || !strings.Contains(errOut, "version "+v1+", valid") ||
		!regexp.MustCompile(`acme\s+emea\s+acme-client\s+160\s+https://emea\.cc\.vonage\.com/Auth/connect/token\s+https://emea\.api\.newvoicemedia\.com\s+vcc-client-secret-acme`).MatchString(errOut) {
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
