package tenants

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const valid = `{"tenants": [
  {"id": "acme", "region": "emea", "clientId": "acme-client", "secretName": "vcc-client-secret-acme", "ratePerMinute": 160},
  {"id": "globex-2", "region": "nam", "clientId": "g", "ratePerMinute": 80,
   "apiUrl": "https://nam.api.cc.vonage.com", "audioTypes": ["callRecording"], "webhookSecretName": "vcc-webhook-secret-globex-2",
   "ownerUserId": "5b2c7d1e-3f4a-4b5c-8d6e-7f8091a2b3c4"}
]}`

func TestParseValid(t *testing.T) {
	d, err := Parse([]byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	g, ok := d.Get("globex-2")
	if !ok || g.RatePerMinute != 80 || g.AudioTypes[0] != "callRecording" || g.OwnerUserID != "5b2c7d1e-3f4a-4b5c-8d6e-7f8091a2b3c4" {
		t.Fatalf("globex-2 = %+v, %v", g, ok)
	}
	cfg, err := g.VCCConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.APIURL != "https://nam.api.cc.vonage.com" || cfg.TokenURL != "https://nam.cc.vonage.com/Auth/connect/token" || cfg.RatePerMinute != 80 || cfg.ClientID != "g" {
		t.Errorf("VCC config %+v: the override, the region's token host, the tenant's budget and client", cfg)
	}
	if _, ok := d.Get("nobody"); ok {
		t.Error("an unknown tenant was found")
	}
	if g.SecretName != "vcc-client-secret-globex-2" {
		t.Errorf("secretName left out: %q, want the tenant's own", g.SecretName)
	}
}

// Each problem stops the program with a message naming the tenant and the field.
func TestParseNamesTenantAndField(t *testing.T) {
	base := `{"id": "acme", "region": "emea", "clientId": "c", "secretName": "vcc-client-secret-acme", "ratePerMinute": 160`
	cases := []struct{ name, doc, want string }{
		{"not json", `{"tenants": [`, "not a tenants document"},
		{"no tenants", `{"tenants": []}`, "at least one tenant"},
		{"unknown field", `{"tenants": [` + base + `, "ratePerMinut": 1}]}`, `unknown field "ratePerMinut"`},
		{"missing id", `{"tenants": [{"region": "emea", "clientId": "c", "secretName": "s", "ratePerMinute": 1}]}`, "tenant #1: id: required"},
		{"invalid id", `{"tenants": [{"id": "Acme", "region": "emea", "clientId": "c", "secretName": "s", "ratePerMinute": 1}]}`, "tenant Acme: id:"},
		{"one-letter id", `{"tenants": [{"id": "a", "region": "emea", "clientId": "c", "secretName": "s", "ratePerMinute": 1}]}`, "tenant a: id:"},
		{"duplicate id", `{"tenants": [` + base + `}, ` + base + `}]}`, "tenant acme: id: used by more than one tenant"},
		{"missing region", `{"tenants": [{"id": "acme", "clientId": "c", "secretName": "s", "ratePerMinute": 1}]}`, "tenant acme: region: required"},
		{"bad region", `{"tenants": [{"id": "acme", "region": "mars", "clientId": "c", "secretName": "s", "ratePerMinute": 1}]}`, "tenant acme: region:"},
		{"missing client", `{"tenants": [{"id": "acme", "region": "emea", "secretName": "s", "ratePerMinute": 1}]}`, "tenant acme: clientId: required"},
		{"another's secret", `{"tenants": [{"id": "acme", "region": "emea", "clientId": "c", "secretName": "vcc-client-secret-globex", "ratePerMinute": 1}]}`, "tenant acme: secretName: must be vcc-client-secret-acme"},
		{"missing budget", `{"tenants": [{"id": "acme", "region": "emea", "clientId": "c", "secretName": "s"}]}`, "tenant acme: ratePerMinute: required"},
		{"plain http api", `{"tenants": [` + base + `, "apiUrl": "http://vcc.example.com"}]}`, "tenant acme: apiUrl:"},
		{"bad webhook secret", `{"tenants": [` + base + `, "webhookSecretName": "a b"}]}`, "tenant acme: webhookSecretName: must be vcc-webhook-secret-acme"},
		{"owner not a guid", `{"tenants": [` + base + `, "ownerUserId": "alice"}]}`, `tenant acme: ownerUserId: "alice" is not a User Admin user id`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc))
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want ErrInvalid containing %q", err, c.want)
			}
		})
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tenants.json")
	if err := os.WriteFile(path, []byte(`{"tenants": [{"id": "acme"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "tenant acme: clientId") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestSecretEnv(t *testing.T) {
	if got := SecretEnv("globex-2"); got != "VCC_CLIENT_SECRET_GLOBEX_2" {
		t.Errorf("SecretEnv = %s", got)
	}
}

func TestWebhookSecretEnv(t *testing.T) {
	if got := WebhookSecretEnv("globex-2"); got != "VCC_WEBHOOK_SECRET_GLOBEX_2" {
		t.Errorf("WebhookSecretEnv = %s", got)
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"acme": true, "globex-2": true, "a": false, "Acme": false, "": false, "..": false, "ac/me": false,
		"ac%2fme": false, "-acme": false, strings.Repeat("a", 31): true, strings.Repeat("a", 32): false,
	} {
		if ValidID(id) != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, !want, want)
		}
	}
}

// Each tenant has its own Key Vault secrets, named after its id: a document
// cannot give a tenant another tenant's secret, the deployment's own, or a
// client secret as a webhook secret (which would let one tenant's webhooks
// verify on another's path, or a client secret sign webhooks). The error
// names the tenant and the field, not the name written.
func TestParseTiesSecretNamesToTheTenant(t *testing.T) {
	entry := func(id, secret, hook string) string {
		e := `{"id": "` + id + `", "region": "emea", "clientId": "c", "secretName": "` + secret + `", "ratePerMinute": 160`
		if hook != "" {
			e += `, "webhookSecretName": "` + hook + `"`
		}
		return e + `}`
	}
	cases := []struct{ name, doc, want string }{
		{"the deployment's client secret", `{"tenants": [` + entry("acme", "vcc-client-secret", "") + `]}`,
			"tenant acme: secretName: must be vcc-client-secret-acme"},
		{"another tenant's client secret", `{"tenants": [` + entry("acme", "vcc-client-secret-acme", "") + `, ` + entry("globex", "vcc-client-secret-acme", "") + `]}`,
			"tenant globex: secretName: must be vcc-client-secret-globex"},
		{"another tenant's webhook secret", `{"tenants": [` + entry("acme", "vcc-client-secret-acme", "vcc-webhook-secret-acme") + `, ` + entry("globex", "vcc-client-secret-globex", "vcc-webhook-secret-acme") + `]}`,
			"tenant globex: webhookSecretName: must be vcc-webhook-secret-globex"},
		{"its client secret as webhook secret", `{"tenants": [` + entry("acme", "vcc-client-secret-acme", "vcc-client-secret-acme") + `]}`,
			"tenant acme: webhookSecretName: must be vcc-webhook-secret-acme"},
		{"the deployment's webhook secret", `{"tenants": [` + entry("acme", "vcc-client-secret-acme", "vcc-webhook-secret") + `]}`,
			"tenant acme: webhookSecretName: must be vcc-webhook-secret-acme"},
		{"a suffix of its own", `{"tenants": [` + entry("acme", "vcc-client-secret-acme-2", "") + `]}`,
			"tenant acme: secretName: must be vcc-client-secret-acme"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc))
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want ErrInvalid containing %q", err, c.want)
			}
		})
	}
	// Its own names, in any letter case (Key Vault ignores case), or left out.
	d, err := Parse([]byte(`{"tenants": [` + entry("acme", "VCC-Client-Secret-Acme", "vcc-webhook-secret-acme") + `, ` +
		`{"id": "globex", "region": "emea", "clientId": "c", "ratePerMinute": 1}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := d.Get("globex"); g.SecretName != "vcc-client-secret-globex" || g.WebhookSecretName != "" {
		t.Fatalf("globex = %+v", g)
	}
}

// A tenant's credential goes to VCC's own hosts for its region and nowhere
// else: any other host, port or scheme is refused naming the field, unless
// the deployment names the origin (VCC_EXTRA_HOSTS), and loopback only in a
// local run.
func TestParseAdmitsOnlyVCCHosts(t *testing.T) {
	doc := func(region, field, url string) []byte {
		return []byte(`{"tenants": [{"id": "acme", "region": "` + region + `", "clientId": "c", "ratePerMinute": 160, "` + field + `": "` + url + `"}]}`)
	}
	accepted := []struct{ region, field, url string }{
		{"emea", "tokenUrl", "https://emea.cc.vonage.com/Auth/connect/token"},
		{"emea", "tokenUrl", "https://emea.newvoicemedia.com/Auth/connect/token"},
		{"nam", "tokenUrl", "https://NAM.cc.vonage.com/Auth/connect/token"},
		{"apac", "apiUrl", "https://apac.api.newvoicemedia.com"},
		{"apac", "apiUrl", "https://apac.api.cc.vonage.com/"},
	}
	for _, a := range accepted {
		if _, err := Parse(doc(a.region, a.field, a.url)); err != nil {
			t.Errorf("%s %s: %v", a.field, a.url, err)
		}
	}
	refused := []struct{ region, field, url string }{
		{"emea", "tokenUrl", "https://attacker.example/Auth/connect/token"},
		{"emea", "tokenUrl", "https://emea.cc.vonage.com.attacker.example/Auth/connect/token"},
		{"emea", "tokenUrl", "https://attacker-emea.cc.vonage.com/Auth/connect/token"},
		{"emea", "tokenUrl", "https://emea.cc.vonage.com:8443/Auth/connect/token"},
		{"emea", "tokenUrl", "https://emea.cc.vonage.com./Auth/connect/token"},
		{"emea", "tokenUrl", "https://nam.cc.vonage.com/Auth/connect/token"},          // another region's
		{"emea", "tokenUrl", "https://emea.api.newvoicemedia.com/Auth/connect/token"}, // the API host
		{"emea", "tokenUrl", "https://emea.cc.vonage.com@attacker.example/"},
		{"emea", "apiUrl", "https://attacker.example"},
		{"emea", "apiUrl", "https://emea.cc.vonage.com"}, // the token host
		{"emea", "apiUrl", "http://127.0.0.1:8080"},
		{"emea", "apiUrl", "http://localhost:8080"},
	}
	for _, r := range refused {
		_, err := Parse(doc(r.region, r.field, r.url))
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "tenant acme: "+r.field+":") {
			t.Errorf("%s %s: err = %v, want it refused naming the field", r.field, r.url, err)
		}
	}
	// The deployment's exact origins; loopback for a local run.
	extra, err := ParseExtraHosts("https://vcc-gateway.example.net, http://127.0.0.1:9000")
	if err != nil {
		t.Fatal(err)
	}
	h := Hosts{Extra: extra}
	if _, err := ParseWith(doc("emea", "apiUrl", "https://VCC-gateway.example.net/base"), h); err != nil {
		t.Errorf("an origin of VCC_EXTRA_HOSTS: %v", err)
	}
	if _, err := ParseWith(doc("emea", "apiUrl", "http://127.0.0.1:9000"), h); err != nil {
		t.Errorf("a loopback origin of VCC_EXTRA_HOSTS: %v", err)
	}
	for _, u := range []string{"https://vcc-gateway.example.net:444", "http://vcc-gateway.example.net", "https://x.vcc-gateway.example.net", "http://127.0.0.1:9001"} {
		if _, err := ParseWith(doc("emea", "apiUrl", u), h); err == nil {
			t.Errorf("%s admitted by %v", u, extra)
		}
	}
	if _, err := ParseWith(doc("emea", "apiUrl", "http://127.0.0.1:8080"), Hosts{Loopback: true}); err != nil {
		t.Errorf("loopback in a local run: %v", err)
	}
	if _, err := ParseWith(doc("emea", "apiUrl", "https://attacker.example"), Hosts{Loopback: true}); err == nil {
		t.Error("a local run admitted another host")
	}
	for _, bad := range []string{"http://vcc.example.net", "https://vcc.example.net/path", "https://u:p@vcc.example.net", "vcc.example.net", "https://vcc.example.net?x=1"} {
		if _, err := ParseExtraHosts(bad); err == nil {
			t.Errorf("VCC_EXTRA_HOSTS %q accepted", bad)
		}
	}
}
