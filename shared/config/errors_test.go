package config

import (
	"errors"
	"strings"
	"testing"
)

// settingsOf are the settings errors.As finds in each of err's problems,
// failing t for a problem that names none.
func settingsOf(t *testing.T, err error) []string {
	t.Helper()
	var names []string
	for _, p := range Problems(err) {
		var se *SettingError
		if !errors.As(p, &se) {
			t.Errorf("%q: not a *SettingError", p)
			continue
		}
		if !strings.HasPrefix(p.Error(), se.Setting) {
			t.Errorf("%q: typed as %s, which it does not name first", p, se.Setting)
		}
		names = append(names, se.Setting)
	}
	return names
}

func TestSettingErrorsNameTheSetting(t *testing.T) {
	bad := writeTenants(t, `{"tenants": [{"id": "acme", "region": "emea", "secretName": "s", "ratePerMinute": 1}]}`)
	good := writeTenants(t, twoTenants)
	cases := []struct {
		name string
		env  map[string]string
		want string // the settings errors.As finds, in order
	}{
		{"single tenant", map[string]string{"VCC_REGION": "mars", "KEY_VAULT_URI": "http://kv", "AUDIT_DAYS": "0", "VCC_OWNER_USER_ID": "x",
			"AUDIT_SCHEDULE": "a", "DISCOVER_LOOKBACK": "zz", "DISCOVER_OVERLAP": "-1h", "INGEST_MAX_ATTEMPTS": "q", "INGEST_DEFERRAL_HORIZON": "-1s",
			"VCC_WEBHOOK_SECRET": "!!", "WEBHOOK_SETTLE": "-1s", "VCC_AUDIO_TYPES": ",", "VCC_TENANTS_REFRESH": "1ms",
			"RECORDINGS_ACCOUNT_URL": "http://a", "RECORDINGS_CONNECTION_STRING": "x"},
			"VCC_REGION AUDIT_DAYS VCC_OWNER_USER_ID AUDIT_SCHEDULE DISCOVER_LOOKBACK INGEST_MAX_ATTEMPTS VCC_WEBHOOK_SECRET WEBHOOK_SETTLE VCC_AUDIO_TYPES " +
				"VCC_TENANTS_REFRESH KEY_VAULT_URI RECORDINGS_ACCOUNT_URL RECORDINGS_ACCOUNT_URL DISCOVER_LOOKBACK INGEST_DEFERRAL_HORIZON"},
		{"no client id", map[string]string{}, "VCC_CLIENT_ID KEY_VAULT_URI"},
		{"both documents", map[string]string{"VCC_TENANTS_FILE": bad, "VCC_TENANTS_BLOB": "tenants/x"}, "VCC_TENANTS_FILE VCC_TENANTS_BLOB VCC_TENANTS_FILE"},
		{"tenants' secrets", map[string]string{"VCC_TENANTS_FILE": good, "VCC_WEBHOOK_SECRET_ACME": "!!"}, "VCC_TENANTS_FILE VCC_TENANTS_FILE VCC_TENANTS_FILE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(env(tc.env))
			if got := strings.Join(settingsOf(t, err), " "); got != tc.want {
				t.Errorf("settings %s\nwant     %s\n(%v)", got, tc.want, err)
			}
		})
	}
	if got := strings.Join(settingsOf(t, Config{}.RequireAzure()), " "); got != "ServiceBusConnection__fullyQualifiedNamespace RECORDINGS_ACCOUNT_URL FUNCTIONS_CUSTOMHANDLER_PORT" {
		t.Errorf("RequireAzure: %s", got)
	}
}

// The typed errors keep the messages people read, word for word.
func TestSettingErrorMessages(t *testing.T) {
	good := writeTenants(t, twoTenants)
	_, err := Load(env(map[string]string{"VCC_TENANTS_FILE": good, "VCC_WEBHOOK_SECRET_ACME": "!!", "DISCOVER_OVERLAP": "-1h"}))
	want := []string{
		"VCC_TENANTS_FILE: VCC_WEBHOOK_SECRET_ACME: webhook secret is not base64",
		"VCC_TENANTS_FILE: tenant acme: secretName: VCC_CLIENT_SECRET_ACME is not set, and without KEY_VAULT_URI the secret vcc-client-secret-acme cannot be read",
		"VCC_TENANTS_FILE: tenant globex-2: secretName: VCC_CLIENT_SECRET_GLOBEX_2 is not set, and without KEY_VAULT_URI the secret vcc-client-secret-globex-2 cannot be read",
		"DISCOVER_LOOKBACK must be positive, DISCOVER_OVERLAP and DISCOVER_SETTLE not negative",
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("messages:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	// The inner problem keeps its own setting: the tenant's webhook secret.
	var inner *SettingError
	if p := Problems(err)[0]; !errors.As(errors.Unwrap(p), &inner) || inner.Setting != "VCC_WEBHOOK_SECRET_ACME" {
		t.Errorf("%q: inner setting not found", p)
	}
}

func TestForVCCOnly(t *testing.T) {
	bad := writeTenants(t, `{"tenants": [{"id": "acme", "region": "emea", "clientId": "c", "secretName": "s!", "ratePerMinute": 1}]}`)
	good := writeTenants(t, twoTenants)
	cases := []struct {
		name string
		env  map[string]string
		want string // each problem: v (only for VCC) or k (for every command)
	}{
		{"single tenant", map[string]string{"VCC_REGION": "mars", "KEY_VAULT_URI": "http://kv", "AUDIT_DAYS": "0",
			"VCC_TENANTS_REFRESH": "1ms", "RECORDINGS_ACCOUNT_URL": "http://a"}, "v k k v k"},
		{"no secret source", map[string]string{}, "v v"},
		{"a tenant's secretName", map[string]string{"VCC_TENANTS_FILE": bad}, "v"},
		{"tenants' secrets", map[string]string{"VCC_TENANTS_FILE": good, "VCC_WEBHOOK_SECRET_ACME": "!!"}, "k v v"},
		{"both documents", map[string]string{"VCC_TENANTS_FILE": good, "VCC_TENANTS_BLOB": "x.json", "KEY_VAULT_URI": "https://kv.vault.azure.net"}, "k"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(env(tc.env))
			var got []string
			for _, p := range Problems(err) {
				var se *SettingError
				switch {
				case !errors.As(p, &se):
					got = append(got, "?")
				case se.ForVCCOnly():
					got = append(got, "v")
				default:
					got = append(got, "k")
				}
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("got %s, want %s\n(%v)", strings.Join(got, " "), tc.want, err)
			}
		})
	}
}
