package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(map[string]string{"VCC_CLIENT_ID": "id", "VCC_CLIENT_SECRET": "s"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Queue != DefaultQueue || c.RecordingsContainer != DefaultContainer || c.StateContainer != DefaultStateContainer {
		t.Errorf("names: %q %q %q", c.Queue, c.RecordingsContainer, c.StateContainer)
	}
	if c.DiscoverLookback != 24*time.Hour || c.DiscoverOverlap != 6*time.Hour || c.DiscoverSettle != 10*time.Minute {
		t.Errorf("discover durations: %v %v %v", c.DiscoverLookback, c.DiscoverOverlap, c.DiscoverSettle)
	}
	if !c.IsAudio("callRecording") || !c.IsAudio("VOICEMAIL") || c.IsAudio("transcript") {
		t.Errorf("audio types: %v", c.AudioTypes)
	}
	if c.ClientSecret.Reveal() != "s" {
		t.Error("secret not read")
	}
}

func TestLoadErrorsNameTheSetting(t *testing.T) {
	cases := map[string]struct {
		env  map[string]string
		want string
	}{
		"no client id":     {map[string]string{"VCC_CLIENT_SECRET": "s"}, "VCC_CLIENT_ID"},
		"no secret source": {map[string]string{"VCC_CLIENT_ID": "id"}, "KEY_VAULT_URI"},
		"bad vault":        {map[string]string{"VCC_CLIENT_ID": "id", "KEY_VAULT_URI": "http://kv"}, "KEY_VAULT_URI"},
		"bad duration":     {map[string]string{"VCC_CLIENT_ID": "id", "VCC_CLIENT_SECRET": "s", "DISCOVER_OVERLAP": "soon"}, "DISCOVER_OVERLAP"},
		"bad attempts":     {map[string]string{"VCC_CLIENT_ID": "id", "VCC_CLIENT_SECRET": "s", "INGEST_MAX_ATTEMPTS": "many"}, "INGEST_MAX_ATTEMPTS"},
		"both stores":      {map[string]string{"VCC_CLIENT_ID": "id", "VCC_CLIENT_SECRET": "s", "RECORDINGS_ACCOUNT_URL": "https://a.blob.core.windows.net", "RECORDINGS_CONNECTION_STRING": "x"}, "RECORDINGS_CONNECTION_STRING"},
		"http account url": {map[string]string{"VCC_CLIENT_ID": "id", "VCC_CLIENT_SECRET": "s", "RECORDINGS_ACCOUNT_URL": "http://a"}, "RECORDINGS_ACCOUNT_URL"},
		"bad region":       {map[string]string{"VCC_CLIENT_ID": "id", "VCC_CLIENT_SECRET": "s", "VCC_REGION": "mars"}, "VCC_REGION"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestRequireAzure(t *testing.T) {
	c, err := Load(env(map[string]string{"VCC_CLIENT_ID": "id", "KEY_VAULT_URI": "https://kv.vault.azure.net"}))
	if err != nil {
		t.Fatal(err)
	}
	err = c.RequireAzure()
	for _, name := range []string{"ServiceBusConnection__fullyQualifiedNamespace", "RECORDINGS_ACCOUNT_URL", "FUNCTIONS_CUSTOMHANDLER_PORT"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("RequireAzure() = %v, want it to name %s", err, name)
		}
	}
}

// The sample settings file documents exactly the settings the code reads.
func TestSampleSettingsMatchCode(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "local.settings.sample.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sample struct{ Values map[string]string }
	if err := json.Unmarshal(data, &sample); err != nil {
		t.Fatal(err)
	}
	hostOnly := map[string]bool{"FUNCTIONS_WORKER_RUNTIME": true, "AzureWebJobsStorage": true}
	known := map[string]bool{}
	for _, s := range Settings {
		known[s.Name] = true
		if _, ok := sample.Values[s.Name]; !ok {
			t.Errorf("setting %s is read by the code but missing from local.settings.sample.json", s.Name)
		}
	}
	for name := range sample.Values {
		if !known[name] && !hostOnly[name] {
			t.Errorf("local.settings.sample.json has %s, which the code does not read", name)
		}
	}
}

func TestAuditAndOwnerSettings(t *testing.T) {
	base := map[string]string{"VCC_CLIENT_ID": "c", "VCC_CLIENT_SECRET": "s"}
	get := func(extra map[string]string) func(string) string {
		return func(k string) string {
			if v, ok := extra[k]; ok {
				return v
			}
			return base[k]
		}
	}
	c, err := Load(get(nil))
	if err != nil || c.AuditSchedule != DefaultAuditSchedule || c.AuditDays != 2 || c.OwnerUserID != "" {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	for k, v := range map[string]string{"AUDIT_SCHEDULE": "0 30 6 * *", "AUDIT_DAYS": "0", "VCC_OWNER_USER_ID": "1342"} {
		if _, err := Load(get(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: %v", k, v, err)
		}
	}
	c, err = Load(get(map[string]string{"VCC_OWNER_USER_ID": "0b0b0b0b-1c1c-4d4d-8e8e-9f9f9f9f9f9f", "AUDIT_SCHEDULE": "0 0 */6 * * 1-5"}))
	if err != nil || c.OwnerUserID == "" {
		t.Errorf("%+v %v", c, err)
	}
}

func writeTenants(t *testing.T, doc string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tenants.json")
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const twoTenants = `{"tenants": [
  {"id": "acme", "region": "emea", "clientId": "acme-client", "secretName": "vcc-client-secret-acme", "ratePerMinute": 160},
  {"id": "globex-2", "region": "nam", "clientId": "g", "secretName": "vcc-client-secret-globex-2", "ratePerMinute": 80, "audioTypes": ["voicemail"]}
]}`

// With a tenants document the VCC_* settings are not required, and each
// tenant's secret comes from VCC_CLIENT_SECRET_<ID>.
func TestLoadTenantsFile(t *testing.T) {
	p := writeTenants(t, twoTenants)
	c, err := Load(env(map[string]string{"VCC_TENANTS_FILE": p, "VCC_CLIENT_SECRET_ACME": "a-secret", "VCC_CLIENT_SECRET_GLOBEX_2": "g-secret"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Tenants == nil || strings.Join(c.TenantIDs(), ",") != "acme,globex-2" {
		t.Fatalf("tenants = %v", c.TenantIDs())
	}
	g, _ := c.Tenants.Get("globex-2")
	gc, err := c.ForTenant(g)
	if err != nil {
		t.Fatal(err)
	}
	if gc.Tenant != "globex-2" || gc.VCC.ClientID != "g" || gc.VCC.RatePerMinute != 80 || gc.ClientSecret.Reveal() != "g-secret" || gc.SecretName != "vcc-client-secret-globex-2" {
		t.Errorf("globex settings: tenant %q client %q rate %d secret name %q", gc.Tenant, gc.VCC.ClientID, gc.VCC.RatePerMinute, gc.SecretName)
	}
	if !gc.IsAudio("voicemail") || gc.IsAudio("callRecording") {
		t.Errorf("globex audio types %v", gc.AudioTypes)
	}
	a, _ := c.Tenants.Get("acme")
	ac, _ := c.ForTenant(a)
	if !ac.IsAudio("callRecording") || ac.ClientSecret.Reveal() != "a-secret" {
		t.Errorf("acme: the deployment's audio types and its own secret")
	}
}

func TestLoadTenantsFileErrors(t *testing.T) {
	bad := writeTenants(t, `{"tenants": [{"id": "acme", "region": "emea", "secretName": "s", "ratePerMinute": 1}]}`)
	_, err := Load(env(map[string]string{"VCC_TENANTS_FILE": bad, "VCC_CLIENT_SECRET_ACME": "x"}))
	if err == nil || !strings.Contains(err.Error(), "VCC_TENANTS_FILE") || !strings.Contains(err.Error(), "tenant acme: clientId") {
		t.Errorf("invalid document: %v", err)
	}
	good := writeTenants(t, twoTenants)
	_, err = Load(env(map[string]string{"VCC_TENANTS_FILE": good, "VCC_CLIENT_SECRET_ACME": "x"}))
	if err == nil || !strings.Contains(err.Error(), "tenant globex-2") || !strings.Contains(err.Error(), "VCC_CLIENT_SECRET_GLOBEX_2") || strings.Contains(err.Error(), "x") && strings.Contains(err.Error(), `"x"`) {
		t.Errorf("missing secret: %v", err)
	}
	// With Key Vault, the secrets are read from it by secretName.
	if _, err := Load(env(map[string]string{"VCC_TENANTS_FILE": good, "KEY_VAULT_URI": "https://kv.vault.azure.net"})); err != nil {
		t.Errorf("Key Vault: %v", err)
	}
}

// Each tenant's owner and webhook secret are its own: the deployment's
// VCC_OWNER_USER_ID and VCC_WEBHOOK_SECRET are no tenant's.
func TestForTenantOwnerAndWebhookSecret(t *testing.T) {
	p := writeTenants(t, `{"tenants": [
  {"id": "acme", "region": "emea", "clientId": "a", "secretName": "vcc-client-secret-acme", "ratePerMinute": 160, "ownerUserId": "5b2c7d1e-3f4a-4b5c-8d6e-7f8091a2b3c4", "webhookSecretName": "vcc-webhook-secret-acme"},
  {"id": "globex-2", "region": "nam", "clientId": "g", "secretName": "vcc-client-secret-globex-2", "ratePerMinute": 80}
]}`)
	acmeHook := "YWNtZS13ZWJob29rLXNlY3JldC0wMDAx" // base64
	c, err := Load(env(map[string]string{"VCC_TENANTS_FILE": p, "VCC_CLIENT_SECRET_ACME": "x", "VCC_CLIENT_SECRET_GLOBEX_2": "y",
		"VCC_OWNER_USER_ID": "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a", "VCC_WEBHOOK_SECRET": "ZGVwbG95bWVudA==", "VCC_WEBHOOK_SECRET_ACME": acmeHook}))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := c.Tenants.Get("acme")
	ac, _ := c.ForTenant(a)
	if ac.OwnerUserID != "5b2c7d1e-3f4a-4b5c-8d6e-7f8091a2b3c4" || ac.WebhookSecret.Reveal() != acmeHook || ac.WebhookSecretName != "vcc-webhook-secret-acme" {
		t.Errorf("acme: owner %q, webhook secret set %v, name %q", ac.OwnerUserID, !ac.WebhookSecret.IsZero(), ac.WebhookSecretName)
	}
	g, _ := c.Tenants.Get("globex-2")
	gc, _ := c.ForTenant(g)
	if gc.OwnerUserID != "" || !gc.WebhookSecret.IsZero() || gc.WebhookSecretName != "" {
		t.Errorf("globex-2 inherits the deployment's owner %q or webhook secret (%v, %q)", gc.OwnerUserID, !gc.WebhookSecret.IsZero(), gc.WebhookSecretName)
	}
}

// A tenant's webhook secret is validated as VCC_WEBHOOK_SECRET is, never
// echoed, and no two tenants share one.
func TestTenantWebhookSecretErrors(t *testing.T) {
	p := writeTenants(t, twoTenants)
	base := map[string]string{"VCC_TENANTS_FILE": p, "VCC_CLIENT_SECRET_ACME": "x", "VCC_CLIENT_SECRET_GLOBEX_2": "y"}
	with := func(extra map[string]string) func(string) string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return env(m)
	}
	_, err := Load(with(map[string]string{"VCC_WEBHOOK_SECRET_ACME": "not base64 !!secret-value"}))
	if err == nil || !strings.Contains(err.Error(), "VCC_WEBHOOK_SECRET_ACME") || strings.Contains(err.Error(), "secret-value") {
		t.Errorf("malformed: %v", err)
	}
	_, err = Load(with(map[string]string{"VCC_WEBHOOK_SECRET_ACME": "c2FtZQ==", "VCC_WEBHOOK_SECRET_GLOBEX_2": "c2FtZQ"}))
	if err == nil || !strings.Contains(err.Error(), "VCC_WEBHOOK_SECRET_GLOBEX_2: the same secret as tenant acme's") || strings.Contains(err.Error(), "c2FtZQ") {
		t.Errorf("shared: %v", err)
	}
}

// VCC_TENANTS_BLOB names a state document: the VCC_* settings are then not
// required (the document is read later, by the Function App); the refresh
// is validated.
func TestLoadTenantsBlob(t *testing.T) {
	c, err := Load(env(map[string]string{"VCC_TENANTS_BLOB": "tenants.json"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.TenantsBlob != "tenants.json" || c.TenantsRefresh != DefaultTenantsRefresh || c.Tenants != nil {
		t.Errorf("blob %q refresh %v tenants %v", c.TenantsBlob, c.TenantsRefresh, c.Tenants)
	}
	cases := map[string]struct {
		env  map[string]string
		want string
	}{
		"both":          {map[string]string{"VCC_TENANTS_BLOB": "tenants.json", "VCC_TENANTS_FILE": "/x.json"}, "set one, not both"},
		"dot segment":   {map[string]string{"VCC_TENANTS_BLOB": "../tenants.json"}, "VCC_TENANTS_BLOB"},
		"under tenants": {map[string]string{"VCC_TENANTS_BLOB": "tenants/acme.json"}, "VCC_TENANTS_BLOB"},
		"bad refresh":   {map[string]string{"VCC_TENANTS_BLOB": "tenants.json", "VCC_TENANTS_REFRESH": "often"}, "VCC_TENANTS_REFRESH"},
		"tiny refresh":  {map[string]string{"VCC_TENANTS_BLOB": "tenants.json", "VCC_TENANTS_REFRESH": "10ms"}, "VCC_TENANTS_REFRESH: must be at least 1s"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}
}

// Each tenant's ratePerMinute is its account's whole budget, which every
// process books in the account's one shared budget: no process paces at a
// fraction of it, whatever a setting left from the static division says.
func TestForTenantPacesAtTheWholeBudget(t *testing.T) {
	p := writeTenants(t, `{"tenants": [
  {"id": "acme", "region": "emea", "clientId": "a", "secretName": "vcc-client-secret-acme", "ratePerMinute": 160},
  {"id": "tiny", "region": "emea", "clientId": "t", "secretName": "vcc-client-secret-tiny", "ratePerMinute": 3}
]}`)
	c, err := Load(env(map[string]string{"VCC_TENANTS_FILE": p, "VCC_CLIENT_SECRET_ACME": "x", "VCC_CLIENT_SECRET_TINY": "y", "VCC_RATE_SHARES": "11"}))
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]int{"acme": 160, "tiny": 3} {
		tn, _ := c.Tenants.Get(id)
		if tc, err := c.ForTenant(tn); err != nil || tc.VCC.RatePerMinute != want {
			t.Errorf("%s: paced at %d a minute (%v), want its whole ratePerMinute %d", id, tc.VCC.RatePerMinute, err, want)
		}
	}
}

// A local run's tenants file may name the sandbox on loopback; any other
// host only when VCC_EXTRA_HOSTS names its origin; VCC_EXTRA_HOSTS itself
// takes origins only.
func TestTenantsFileHosts(t *testing.T) {
	doc := func(api string) string {
		return writeTenants(t, `{"tenants": [{"id": "acme", "region": "emea", "clientId": "a", "ratePerMinute": 160, "apiUrl": "`+api+`"}]}`)
	}
	base := map[string]string{"VCC_CLIENT_SECRET_ACME": "a-secret"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	if _, err := Load(env(with(map[string]string{"VCC_TENANTS_FILE": doc("http://127.0.0.1:8080")}))); err != nil {
		t.Errorf("the sandbox on loopback in a local run: %v", err)
	}
	gw := doc("https://gateway.example.net")
	if _, err := Load(env(with(map[string]string{"VCC_TENANTS_FILE": gw}))); err == nil || !strings.Contains(err.Error(), "tenant acme: apiUrl:") {
		t.Errorf("another host without VCC_EXTRA_HOSTS: %v", err)
	}
	c, err := Load(env(with(map[string]string{"VCC_TENANTS_FILE": gw, "VCC_EXTRA_HOSTS": "https://gateway.example.net"})))
	if err != nil || len(c.ExtraHosts) != 1 {
		t.Errorf("named in VCC_EXTRA_HOSTS: %v, %v", c.ExtraHosts, err)
	}
	if _, err := Load(env(with(map[string]string{"VCC_TENANTS_FILE": gw, "VCC_EXTRA_HOSTS": "https://gateway.example.net/path"}))); err == nil || !strings.Contains(err.Error(), "VCC_EXTRA_HOSTS") {
		t.Errorf("a URL, not an origin, in VCC_EXTRA_HOSTS: %v", err)
	}
}
