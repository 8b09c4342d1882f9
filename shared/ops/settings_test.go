package ops

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vcc-ingest/vcc-ingest/shared/config"
)

// A command that calls no VCC reports the problems of every setting but
// VCC's and Key Vault's; of the tenants document, all but a tenant's
// client secret (which tenants there are matters to every command).
func TestWithoutVCCSettings(t *testing.T) {
	dir := t.TempDir()
	doc := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	two := doc("two.json", opsTenants)
	badSecretName := doc("bad-secret-name.json", `{"tenants": [{"id": "acme", "region": "emea", "clientId": "c", "secretName": "s!", "ratePerMinute": 1}]}`)
	noClient := doc("no-client.json", `{"tenants": [{"id": "acme", "region": "emea", "secretName": "vcc-client-secret-acme", "ratePerMinute": 1}]}`)
	cases := []struct {
		name string
		env  map[string]string
		keep []string // the messages left, in order
	}{
		{"single tenant", map[string]string{"VCC_REGION": "mars", "KEY_VAULT_URI": "http://kv", "AUDIT_DAYS": "0", "VCC_OWNER_USER_ID": "x",
			"VCC_WEBHOOK_SECRET": "!!", "WEBHOOK_SETTLE": "-1s", "VCC_AUDIO_TYPES": ",", "VCC_TENANTS_REFRESH": "1ms",
			"RECORDINGS_ACCOUNT_URL": "http://a", "RECORDINGS_CONNECTION_STRING": "x", "DISCOVER_OVERLAP": "-1h"}, []string{
			"AUDIT_DAYS: must be between 1 and 31",
			"WEBHOOK_SETTLE must not be negative, WEBHOOK_POLL_HORIZON must be positive",
			"VCC_TENANTS_REFRESH: must be at least 1s",
			"RECORDINGS_ACCOUNT_URL and RECORDINGS_CONNECTION_STRING: set one, not both",
			`RECORDINGS_ACCOUNT_URL: "http://a" is not an https URL`,
			"DISCOVER_LOOKBACK must be positive, DISCOVER_OVERLAP and DISCOVER_SETTLE not negative",
		}},
		{"nothing set", map[string]string{}, nil},
		{"tenants without secrets", map[string]string{"VCC_TENANTS_FILE": two, "VCC_WEBHOOK_SECRET_ACME": "!!", "VCC_TENANTS_REFRESH": "soon"}, []string{
			`VCC_TENANTS_REFRESH: "soon" is not a duration (e.g. 30m, 24h)`,
			"VCC_TENANTS_FILE: VCC_WEBHOOK_SECRET_ACME: webhook secret is not base64",
		}},
		{"a tenant's secretName", map[string]string{"VCC_TENANTS_FILE": badSecretName}, nil},
		{"an invalid tenant", map[string]string{"VCC_TENANTS_FILE": noClient, "VCC_TENANTS_BLOB": "tenants/x"}, []string{
			"VCC_TENANTS_FILE and VCC_TENANTS_BLOB: set one, not both",
			`VCC_TENANTS_BLOB: "tenants/x": tenants/ holds each tenant's state, not the document`,
			"VCC_TENANTS_FILE: " + noClient + ": tenants document: tenant acme: clientId: required",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Load(func(k string) string { return tc.env[k] })
			if err == nil {
				t.Fatal("no configuration problem")
			}
			var got []string
			if kept := withoutVCCSettings(err); kept != nil {
				got = strings.Split(kept.Error(), "\n")
			}
			if strings.Join(got, "\n") != strings.Join(tc.keep, "\n") {
				t.Errorf("kept:\n%s\nwant:\n%s\n(all: %v)", strings.Join(got, "\n"), strings.Join(tc.keep, "\n"), err)
			}
		})
	}
}
