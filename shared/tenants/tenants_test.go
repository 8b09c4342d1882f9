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
  {"id": "globex-2", "region": "nam", "clientId": "g", "secretName": "vcc-client-secret-globex", "ratePerMinute": 80,
   "apiUrl": "https://nam.api.cc.vonage.com", "audioTypes": ["callRecording"], "webhookSecretName": "vcc-webhook-globex",
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
}

// Each problem stops the program with a message naming the tenant and the field.
func TestParseNamesTenantAndField(t *testing.T) {
	base := `{"id": "acme", "region": "emea", "clientId": "c", "secretName": "s", "ratePerMinute": 160`
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
		{"missing secret", `{"tenants": [{"id": "acme", "region": "emea", "clientId": "c", "ratePerMinute": 1}]}`, "tenant acme: secretName:"},
		{"missing budget", `{"tenants": [{"id": "acme", "region": "emea", "clientId": "c", "secretName": "s"}]}`, "tenant acme: ratePerMinute: required"},
		{"plain http api", `{"tenants": [` + base + `, "apiUrl": "http://vcc.example.com"}]}`, "tenant acme: apiUrl:"},
		{"bad webhook secret", `{"tenants": [` + base + `, "webhookSecretName": "a b"}]}`, "tenant acme: webhookSecretName:"},
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

// Each tenant has its own Key Vault secrets: a secret shared would let one
// tenant's webhooks verify on another's path, or a client secret sign
// webhooks. The error names the tenants and fields, not the secret's name.
func TestParseRefusesSharedSecretNames(t *testing.T) {
	entry := func(id, secret, hook string) string {
		e := `{"id": "` + id + `", "region": "emea", "clientId": "c", "secretName": "` + secret + `", "ratePerMinute": 160`
		if hook != "" {
			e += `, "webhookSecretName": "` + hook + `"`
		}
		return e + `}`
	}
	cases := []struct{ name, doc, want string }{
		{"webhook secret shared", `{"tenants": [` + entry("acme", "sa", "hook-acme-x") + `, ` + entry("globex", "sg", "Hook-Acme-X") + `]}`,
			"tenant globex: webhookSecretName: the same Key Vault secret as tenant acme's webhookSecretName"},
		{"client secret shared", `{"tenants": [` + entry("acme", "shared-one", "") + `, ` + entry("globex", "shared-one", "") + `]}`,
			"tenant globex: secretName: the same Key Vault secret as tenant acme's secretName"},
		{"webhook secret is another's client secret", `{"tenants": [` + entry("acme", "client-acme-x", "") + `, ` + entry("globex", "sg", "client-acme-x") + `]}`,
			"tenant globex: webhookSecretName: the same Key Vault secret as tenant acme's secretName"},
		{"webhook secret is its own client secret", `{"tenants": [` + entry("acme", "client-acme-x", "client-acme-x") + `]}`,
			"tenant acme: webhookSecretName: the same Key Vault secret as its secretName"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc))
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want ErrInvalid containing %q", err, c.want)
			}
			for _, name := range []string{"hook-acme-x", "Hook-Acme-X", "shared-one", "client-acme-x"} {
				if strings.Contains(err.Error(), name) {
					t.Errorf("the error repeats the secret's name %q: %v", name, err)
				}
			}
		})
	}
}
