// Package config reads the product's settings once, from the environment
// (the Function App's application settings in Azure, the shell locally), and
// validates them. A missing or malformed setting stops the program with a
// message that names it.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/tenants"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
	"github.com/vcc-ingest/vcc-ingest/shared/webhook"
)

// Defaults shared with the templates, function.json and the documentation.
const (
	DefaultQueue          = "interactions"
	DefaultContainer      = "recordings"
	DefaultStateContainer = "vcc-ingest-state"
	DefaultSecretName     = "vcc-client-secret"
	DefaultAudioTypes     = "callRecording,voicemail,ivrAudioRecording"
	DefaultMaxAttempts    = 10

	DefaultWebhookSecretName = "vcc-webhook-secret"
	DefaultWebhookEvents     = "channel.disconnected"
)

// The event path's sweeps: a round every 20 s while a recording is
// pending, the first 10 s after an event at the earliest.
const (
	DefaultWebhookSweep       = 20 * time.Second
	DefaultWebhookSweepSettle = 10 * time.Second
)

// Config is every setting the product reads.
type Config struct {
	VCC vcc.Config // without its secret source: see Secret/KeyVaultURI

	// ClientSecret is set only locally (VCC_CLIENT_SECRET). In Azure the
	// secret is read from Key Vault at KeyVaultURI under SecretName.
	ClientSecret secrets.Secret
	KeyVaultURI  string
	SecretName   string

	AzureClientID string // user-assigned managed identity; empty: default credential chain

	ServiceBusNamespace string // fully qualified; empty locally (embedded queue)
	Queue               string

	RecordingsAccountURL       string
	RecordingsConnectionString string
	RecordingsContainer        string
	StateContainer             string

	DiscoverLookback time.Duration
	DiscoverOverlap  time.Duration
	DiscoverSettle   time.Duration

	AudioTypes  []string
	MaxAttempts int // the queue's maxDeliveryCount: ingest stops calling VCC for a message that cannot succeed
	// DeferralHorizon is how long ingest puts work off while VCC is
	// unavailable before it is dead-lettered.
	DeferralHorizon time.Duration

	// OwnerUserID is the User Admin id of the user who owns the API
	// credential: the doctor and audit read its line permissions and
	// groups. Empty: those stay unchecked.
	OwnerUserID string
	// AuditSchedule is audit's NCRONTAB schedule (read by the Functions
	// host; validated here); AuditDays how many previous whole UTC days
	// each audit reconciles.
	AuditSchedule string
	AuditDays     int
	// WebhookSecret is the VCC webhook subscription's secret as VCC gives
	// it (base64), set only locally (VCC_WEBHOOK_SECRET). In Azure it is read
	// from Key Vault under WebhookSecretName.
	WebhookSecret     secrets.Secret
	WebhookSecretName string
	// WebhookEvents are the event types that start an ingest; others are
	// acknowledged and ignored.
	WebhookEvents []string
	// WebhookSettle is how long after an event its ingest message is
	// scheduled; WebhookPollHorizon how long ingest keeps polling VCC for
	// the interaction's content after the event.
	WebhookSettle      time.Duration
	WebhookPollHorizon time.Duration
	// WebhookSweep is the pause between the sweeps events ask for
	// (shared/pipeline/sweep); zero: one ingest message per event's
	// interaction, polling for its content.
	WebhookSweep time.Duration

	Port string // FUNCTIONS_CUSTOMHANDLER_PORT

	// TenantsFile is VCC_TENANTS_FILE, the tenants document of a local run
	// or an operator command; Tenants is that document, read and validated
	// at start-up (nil without one: the VCC_* settings are the one tenant).
	// TenantSecrets holds each tenant's client secret from
	// VCC_CLIENT_SECRET_<ID> when set (otherwise Key Vault, secretName).
	TenantsFile string
	// ExtraHosts are the origins VCC_EXTRA_HOSTS admits in a tenants
	// document besides VCC's own hosts.
	ExtraHosts    []string
	Tenants       *tenants.Document
	TenantSecrets map[string]secrets.Secret
	// TenantWebhookSecrets holds each tenant's webhook secret (base64) from
	// VCC_WEBHOOK_SECRET_<ID> when set (otherwise Key Vault,
	// webhookSecretName; a tenant with neither receives no webhooks).
	TenantWebhookSecrets map[string]secrets.Secret
	// TenantsBlob is VCC_TENANTS_BLOB, the name of the tenants document in
	// the state container: the Function App serves it and re-reads it at
	// most every TenantsRefresh (a new tenant needs no redeploy).
	TenantsBlob    string
	TenantsRefresh time.Duration
	// Tenant is the tenant a copy of the settings is for (ForTenant); empty:
	// the single tenant of the VCC_* settings.
	Tenant string
}

// DefaultTenantsRefresh is how often the Function App looks at the tenants
// document again: a new tenant is served within a minute of its upload.
const DefaultTenantsRefresh = time.Minute

// DefaultAuditSchedule is daily at 06:30 UTC.
const DefaultAuditSchedule = "0 30 6 * * *"

// Setting describes one application setting, for documentation and checks.
type Setting struct {
	Name, Default, Meaning string
}

// Settings lists every setting the code reads, in documentation order.
var Settings = []Setting{
	{"VCC_REGION", "emea", "emea, nam or apac: picks the default VCC hosts"},
	{"VCC_TOKEN_URL", "from VCC_REGION", "full URL of the VCC token endpoint"},
	{"VCC_API_URL", "from VCC_REGION", "VCC API base (/interaction-content, /stats, /useradmin live under it)"},
	{"VCC_CLIENT_ID", "required", "OAuth client id of the VCC API credential"},
	{"VCC_CLIENT_SECRET", "", "local runs only: the client secret itself (in Azure it comes from Key Vault)"},
	{"KEY_VAULT_URI", "", "Key Vault holding the client secret (required when VCC_CLIENT_SECRET is not set)"},
	{"VCC_CLIENT_SECRET_NAME", DefaultSecretName, "name of the client secret in Key Vault"},
	{"VCC_RATE_PER_MINUTE", "160", "this instance's share of the VCC request budget"},
	{"VCC_PAGE_SIZE", "1000", "interaction listing page size (at most 1000)"},
	{"VCC_MAX_RECORDING_BYTES", "2147483648", "largest recording accepted when VCC lists no length (a listed length bounds it otherwise, plus a tenth, at least 64 KiB); past it the download is a permanent failure and nothing is stored"},
	{"VCC_READ_STALL", "60s", "how long a recording download may wait in all for its next 1 KiB (silent or dripping) before it is given up (a transient failure, retried)"},
	{"VCC_AUDIO_TYPES", DefaultAudioTypes, "content types copied to Blob Storage"},
	{"VCC_OWNER_USER_ID", "", "User Admin user id (GUID) of the user who owns the API credential: doctor and audit read its line permissions and groups"},
	{"AZURE_CLIENT_ID", "", "client id of the user-assigned managed identity"},
	{"ServiceBusConnection__fullyQualifiedNamespace", "required in Azure", "Service Bus namespace (<ns>.servicebus.windows.net)"},
	{"INTERACTIONS_QUEUE", DefaultQueue, "queue of interactions to ingest"},
	{"RECORDINGS_ACCOUNT_URL", "required in Azure", "https://<account>.blob.core.windows.net of the recordings account"},
	{"RECORDINGS_CONNECTION_STRING", "", "local alternative to RECORDINGS_ACCOUNT_URL (Azurite)"},
	{"RECORDINGS_CONTAINER", DefaultContainer, "container for recordings and sidecars"},
	{"STATE_CONTAINER", DefaultStateContainer, "container for the checkpoint, run records and failure records"},
	{"DISCOVER_SCHEDULE", "0 */15 * * * *", "NCRONTAB schedule of discover (read by the Functions host)"},
	{"DISCOVER_LOOKBACK", "24h", "how far back the first discover run starts"},
	{"DISCOVER_OVERLAP", "6h", "how far before the checkpoint each run re-lists: a call's recording is listed only once it exists, so this covers the longest call plus VCC's processing"},
	{"DISCOVER_SETTLE", "10m", "how long before now each window ends"},
	{"INGEST_MAX_ATTEMPTS", strconv.Itoa(DefaultMaxAttempts), "deliveries before a message is dead-lettered (the queue's maxDeliveryCount)"},
	{"AUDIT_SCHEDULE", DefaultAuditSchedule, "NCRONTAB schedule of audit (read by the Functions host)"},
	{"AUDIT_DAYS", "2", "previous whole UTC days each audit reconciles"},
	{"INGEST_DEFERRAL_HORIZON", "24h", "how long an interaction is put off (scheduled again) while VCC is unavailable before it is dead-lettered"},
	{"VCC_WEBHOOK_SECRET", "", "local runs only: the VCC webhook subscription's secret, base64 (in Azure it comes from Key Vault)"},
	{"VCC_WEBHOOK_SECRET_NAME", DefaultWebhookSecretName, "name of the webhook secret in Key Vault"},
	{"VCC_WEBHOOK_EVENTS", DefaultWebhookEvents, "webhook event types that start an ingest, comma separated; others are answered 202 and ignored"},
	{"WEBHOOK_SWEEP", DefaultWebhookSweep.String(), "webhook events ask for a sweep of the recent window (listed as discover lists it, about one VCC call per recording), repeated this often while a call's recording is not listed yet; 0: one ingest message per event, polling VCC for its content (three or more calls per recording)"},
	{"WEBHOOK_SETTLE", "10s (60s with WEBHOOK_SWEEP=0)", "how long after a webhook event its sweep (or ingest) is scheduled at the earliest"},
	{"VCC_TENANTS_FILE", "", "local runs and operator commands: a tenants document (several VCC accounts, each under its own prefix); each tenant's secret from VCC_CLIENT_SECRET_<ID>"},
	{"VCC_TENANTS_BLOB", "", "the Function App and the operator commands: name of the tenants document in STATE_CONTAINER (e.g. tenants.json), re-read when it changes; each tenant's secret is the Key Vault secret secretName (VCC_CLIENT_SECRET_<ID> when set)"},
	{"VCC_EXTRA_HOSTS", "", "with a tenants document: origins (https://host[:port], comma separated) a tenant's tokenUrl or apiUrl may name besides VCC's own hosts for its region; nothing else is admitted"},
	{"VCC_TENANTS_REFRESH", DefaultTenantsRefresh.String(), "with VCC_TENANTS_BLOB: how often the document is looked at again (a tenant the document lacks makes it look at once, at most every 10 s)"},
	{"WEBHOOK_POLL_HORIZON", "2h", "how long ingest keeps polling VCC for an event's content (back-off 30 s doubling to 8 min) before recording a skip"},
}

// Load reads and validates the settings. getenv is os.Getenv in production.
func Load(getenv func(string) string) (Config, error) {
	var errs []error
	tenantsFile := strings.TrimSpace(getenv("VCC_TENANTS_FILE"))
	tenantsBlob := strings.TrimSpace(getenv("VCC_TENANTS_BLOB"))
	vccCfg, err := vcc.ConfigFromEnv(getenv)
	if err != nil && tenantsFile == "" && tenantsBlob == "" {
		// With a tenants document the VCC_* settings are not used.
		errs = append(errs, namedErr(err))
	}
	c := Config{
		VCC:                        vccCfg,
		ClientSecret:               secrets.New(getenv("VCC_CLIENT_SECRET")),
		KeyVaultURI:                strings.TrimSpace(getenv("KEY_VAULT_URI")),
		SecretName:                 orDefault(getenv("VCC_CLIENT_SECRET_NAME"), DefaultSecretName),
		AzureClientID:              strings.TrimSpace(getenv("AZURE_CLIENT_ID")),
		ServiceBusNamespace:        strings.TrimSpace(getenv("ServiceBusConnection__fullyQualifiedNamespace")),
		Queue:                      orDefault(getenv("INTERACTIONS_QUEUE"), DefaultQueue),
		RecordingsAccountURL:       strings.TrimSpace(getenv("RECORDINGS_ACCOUNT_URL")),
		RecordingsConnectionString: strings.TrimSpace(getenv("RECORDINGS_CONNECTION_STRING")),
		RecordingsContainer:        orDefault(getenv("RECORDINGS_CONTAINER"), DefaultContainer),
		StateContainer:             orDefault(getenv("STATE_CONTAINER"), DefaultStateContainer),
		Port:                       strings.TrimSpace(getenv("FUNCTIONS_CUSTOMHANDLER_PORT")),
		OwnerUserID:                strings.TrimSpace(getenv("VCC_OWNER_USER_ID")),
		AuditSchedule:              orDefault(getenv("AUDIT_SCHEDULE"), DefaultAuditSchedule),
	}
	c.AuditDays = integer(getenv, "AUDIT_DAYS", 2, &errs)
	if c.AuditDays < 1 || c.AuditDays > 31 {
		errs = append(errs, settingErrf("AUDIT_DAYS", "must be between 1 and 31"))
	}
	if c.OwnerUserID != "" && !vcc.ValidGUID(c.OwnerUserID) {
		errs = append(errs, settingErrf("VCC_OWNER_USER_ID", "%q is not a User Admin user id (a GUID)", c.OwnerUserID))
	}
	if f := strings.Fields(c.AuditSchedule); len(f) != 6 || !ncrontab(f) {
		errs = append(errs, settingErrf("AUDIT_SCHEDULE", "%q is not a six-field NCRONTAB expression ({second} {minute} {hour} {day} {month} {day-of-week})", c.AuditSchedule))
	}
	c.DiscoverLookback = duration(getenv, "DISCOVER_LOOKBACK", 24*time.Hour, &errs)
	// Re-listing is cheap (one call per 1,000 interactions; the queue drops
	// the re-sent messages), missing a late recording is not: 6 hours covers
	// long calls and slow processing.
	c.DiscoverOverlap = duration(getenv, "DISCOVER_OVERLAP", 6*time.Hour, &errs)
	c.DiscoverSettle = duration(getenv, "DISCOVER_SETTLE", 10*time.Minute, &errs)
	c.MaxAttempts = integer(getenv, "INGEST_MAX_ATTEMPTS", DefaultMaxAttempts, &errs)
	c.DeferralHorizon = duration(getenv, "INGEST_DEFERRAL_HORIZON", 24*time.Hour, &errs)
	if v := strings.TrimSpace(getenv("VCC_WEBHOOK_SECRET")); v != "" {
		if _, err := webhook.DecodeSecret(v); err != nil {
			errs = append(errs, settingErr("VCC_WEBHOOK_SECRET", err)) // the value itself is never repeated
		}
		c.WebhookSecret = secrets.New(v)
	}
	c.WebhookSecretName = orDefault(getenv("VCC_WEBHOOK_SECRET_NAME"), DefaultWebhookSecretName)
	for _, t := range strings.Split(orDefault(getenv("VCC_WEBHOOK_EVENTS"), DefaultWebhookEvents), ",") {
		if t = strings.TrimSpace(t); t != "" {
			c.WebhookEvents = append(c.WebhookEvents, t)
		}
	}
	c.WebhookSweep = duration(getenv, "WEBHOOK_SWEEP", DefaultWebhookSweep, &errs)
	settle := 60 * time.Second
	if c.WebhookSweep > 0 {
		settle = DefaultWebhookSweepSettle // a sweep that finds nothing yet is cheap and comes again
	}
	c.WebhookSettle = duration(getenv, "WEBHOOK_SETTLE", settle, &errs)
	if c.WebhookSweep < 0 {
		errs = append(errs, errors.New("WEBHOOK_SWEEP must not be negative"))
	}
	c.WebhookPollHorizon = duration(getenv, "WEBHOOK_POLL_HORIZON", 2*time.Hour, &errs)
	if c.WebhookSettle < 0 || c.WebhookPollHorizon <= 0 {
		errs = append(errs, settingsErr("WEBHOOK_SETTLE", "WEBHOOK_SETTLE must not be negative, WEBHOOK_POLL_HORIZON must be positive"))
	}
	for _, t := range strings.Split(orDefault(getenv("VCC_AUDIO_TYPES"), DefaultAudioTypes), ",") {
		if t = strings.TrimSpace(t); t != "" {
			c.AudioTypes = append(c.AudioTypes, t)
		}
	}
	if len(c.AudioTypes) == 0 {
		errs = append(errs, settingErrf("VCC_AUDIO_TYPES", "at least one content type is required"))
	}
	c.TenantsRefresh = duration(getenv, "VCC_TENANTS_REFRESH", DefaultTenantsRefresh, &errs)
	if c.TenantsRefresh < time.Second {
		errs = append(errs, settingErrf("VCC_TENANTS_REFRESH", "must be at least 1s"))
	}
	if c.ExtraHosts, err = tenants.ParseExtraHosts(getenv("VCC_EXTRA_HOSTS")); err != nil {
		errs = append(errs, err)
	}
	if tenantsBlob != "" {
		c.TenantsBlob = tenantsBlob
		if tenantsFile != "" {
			errs = append(errs, settingsErr("VCC_TENANTS_FILE", "VCC_TENANTS_FILE and VCC_TENANTS_BLOB: set one, not both"))
		}
		if err := validBlobName(tenantsBlob); err != nil {
			errs = append(errs, settingErr("VCC_TENANTS_BLOB", err))
		}
	}
	if tenantsFile != "" {
		c.TenantsFile = tenantsFile
		// A file of this machine's run: loopback (the sandbox) is admitted.
		doc, err := tenants.LoadWith(tenantsFile, c.TenantHosts(true))
		if err != nil {
			errs = append(errs, tenantsDocErr("VCC_TENANTS_FILE", err))
		} else {
			var terrs []error
			c, terrs = c.WithTenants(doc, getenv)
			for _, e := range terrs {
				errs = append(errs, tenantsDocErr("VCC_TENANTS_FILE", e))
			}
		}
	} else if tenantsBlob == "" && c.ClientSecret.IsZero() && c.KeyVaultURI == "" {
		errs = append(errs, settingErrf("KEY_VAULT_URI", "required when VCC_CLIENT_SECRET is not set"))
	}
	if c.KeyVaultURI != "" {
		if u, err := url.Parse(c.KeyVaultURI); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, settingErrf("KEY_VAULT_URI", "%q is not an https URL", c.KeyVaultURI))
		}
	}
	if c.RecordingsAccountURL != "" && c.RecordingsConnectionString != "" {
		errs = append(errs, settingsErr("RECORDINGS_ACCOUNT_URL", "RECORDINGS_ACCOUNT_URL and RECORDINGS_CONNECTION_STRING: set one, not both"))
	}
	if c.RecordingsAccountURL != "" {
		if u, err := url.Parse(c.RecordingsAccountURL); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, settingErrf("RECORDINGS_ACCOUNT_URL", "%q is not an https URL", c.RecordingsAccountURL))
		}
	}
	if c.DiscoverSettle < 0 || c.DiscoverOverlap < 0 || c.DiscoverLookback <= 0 {
		errs = append(errs, settingsErr("DISCOVER_LOOKBACK", "DISCOVER_LOOKBACK must be positive, DISCOVER_OVERLAP and DISCOVER_SETTLE not negative"))
	}
	if c.MaxAttempts < 1 {
		errs = append(errs, settingErrf("INGEST_MAX_ATTEMPTS", "must be at least 1"))
	}
	if c.DeferralHorizon <= 0 {
		errs = append(errs, settingErrf("INGEST_DEFERRAL_HORIZON", "must be positive"))
	}
	return c, errors.Join(errs...)
}

// tenantWebhookSecrets reads VCC_WEBHOOK_SECRET_<ID> of each tenant,
// validated as VCC_WEBHOOK_SECRET is (the value is never repeated). Two
// tenants may not share one: a secret is what tells one tenant's events
// from another's, so a shared one would let tenant A's events be accepted
// on tenant B's path.
func tenantWebhookSecrets(getenv func(string) string, doc tenants.Document, errs *[]error) map[string]secrets.Secret {
	out := map[string]secrets.Secret{}
	owner := map[string]string{} // decoded key → tenant
	for _, t := range doc.Tenants {
		name := tenants.WebhookSecretEnv(t.ID)
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			continue
		}
		key, err := webhook.DecodeSecret(v)
		if err != nil {
			*errs = append(*errs, settingErr(name, err))
			continue
		}
		if other, dup := owner[key.Reveal()]; dup {
			*errs = append(*errs, settingErrf(name, "the same secret as tenant %s's (each tenant's webhook subscription needs its own)", other))
			continue
		}
		owner[key.Reveal()] = t.ID
		out[t.ID] = secrets.New(v)
	}
	return out
}

// WithTenants is c serving doc: each tenant's secret from
// VCC_CLIENT_SECRET_<ID> when set, otherwise the Key Vault secret
// secretName, and its webhook secret from VCC_WEBHOOK_SECRET_<ID> when set
// (otherwise Key Vault, webhookSecretName). A tenant with neither (no variable, no KEY_VAULT_URI) is a
// problem naming it and the field; the others are served.
func (c Config) WithTenants(doc tenants.Document, getenv func(string) string) (Config, []error) {
	var errs []error
	c.Tenants = &doc
	c.TenantSecrets = map[string]secrets.Secret{}
	c.TenantWebhookSecrets = tenantWebhookSecrets(getenv, doc, &errs)
	for _, t := range doc.Tenants {
		if v := getenv(tenants.SecretEnv(t.ID)); v != "" {
			c.TenantSecrets[t.ID] = secrets.New(v)
		} else if c.KeyVaultURI == "" {
			msg := fmt.Sprintf("tenant %s: secretName: %s is not set, and without KEY_VAULT_URI the secret %s cannot be read", t.ID, tenants.SecretEnv(t.ID), t.SecretName)
			errs = append(errs, &SettingError{Setting: tenants.SecretEnv(t.ID), Err: errors.New(msg), Credential: true, text: msg})
		}
	}
	return c, errs
}

// validBlobName checks a state document's name as Blob Storage and the
// state stores take it: relative, no empty or dot segments. The tenants'
// own state lives under tenants/, where the document may not.
func validBlobName(name string) error {
	if len(name) > 1024 || strings.ContainsAny(name, "\\\x00") {
		return fmt.Errorf("%q is not a blob name", name)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.HasSuffix(seg, ".") {
			return fmt.Errorf("%q is not a blob name (empty or dot segment)", name)
		}
	}
	if strings.HasPrefix(name, "tenants/") {
		return fmt.Errorf("%q: tenants/ holds each tenant's state, not the document", name)
	}
	return nil
}

// RequireAzure checks the settings that the Function App needs and a local
// run does not.
func (c Config) RequireAzure() error {
	var errs []error
	if c.ServiceBusNamespace == "" {
		errs = append(errs, settingErrf("ServiceBusConnection__fullyQualifiedNamespace", "required"))
	}
	if c.RecordingsAccountURL == "" && c.RecordingsConnectionString == "" {
		errs = append(errs, settingErrf("RECORDINGS_ACCOUNT_URL", "required"))
	}
	if c.Port == "" {
		errs = append(errs, settingErrf("FUNCTIONS_CUSTOMHANDLER_PORT", "not set (the Functions host sets it)"))
	}
	return errors.Join(errs...)
}

// TenantHosts is what a tenants document may name besides VCC's hosts:
// VCC_EXTRA_HOSTS, and loopback for a local run only.
func (c Config) TenantHosts(local bool) tenants.Hosts {
	return tenants.Hosts{Extra: c.ExtraHosts, Loopback: local}
}

// TenantIDs are the tenants' ids in the document's order; nil without a
// tenants document.
func (c Config) TenantIDs() []string {
	if c.Tenants == nil {
		return nil
	}
	ids := make([]string, len(c.Tenants.Tenants))
	for i, t := range c.Tenants.Tenants {
		ids[i] = t.ID
	}
	return ids
}

// ForTenant is the settings as tenant t's work sees them: its VCC client
// configuration (without the secret source; its budget ratePerMinute, the
// account's whole budget, which every process books in the one shared
// budget of the account: startup.Pacer), its content types (the
// deployment's when it names none), its credential's owner, its webhook
// secret (never the deployment's), and Tenant set.
func (c Config) ForTenant(t tenants.Tenant) (Config, error) {
	vc, err := t.VCCConfig()
	if err != nil {
		return c, fmt.Errorf("tenant %s: %w", t.ID, err)
	}
	out := c
	if c.VCC.PageSize > 0 {
		vc.PageSize = c.VCC.PageSize
	}
	vc.MaxRecordingBytes, vc.ReadStall = c.VCC.MaxRecordingBytes, c.VCC.ReadStall
	out.VCC = vc
	out.Tenant = t.ID
	out.ClientSecret = c.TenantSecrets[t.ID]
	out.SecretName = t.SecretName
	if len(t.AudioTypes) > 0 {
		out.AudioTypes = append([]string(nil), t.AudioTypes...)
	}
	out.OwnerUserID = t.OwnerUserID // the deployment's owner is no tenant's
	out.WebhookSecret = c.TenantWebhookSecrets[t.ID]
	out.WebhookSecretName = t.WebhookSecretName
	return out, nil
}

// IsAudio reports whether a content item of this type is copied.
func (c Config) IsAudio(contentType string) bool {
	for _, t := range c.AudioTypes {
		if strings.EqualFold(t, contentType) {
			return true
		}
	}
	return false
}

// ncrontab checks each field's characters: numbers, names, * / , - ?.
func ncrontab(fields []string) bool {
	for _, f := range fields {
		for _, r := range f {
			if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || strings.ContainsRune("*/,-?", r)) {
				return false
			}
		}
	}
	return true
}

func orDefault(v, def string) string {
	if v = strings.TrimSpace(v); v == "" {
		return def
	}
	return v
}

func duration(getenv func(string) string, name string, def time.Duration, errs *[]error) time.Duration {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		*errs = append(*errs, settingErrf(name, "%q is not a duration (e.g. 30m, 24h)", v))
		return def
	}
	return d
}

func integer(getenv func(string) string, name string, def int, errs *[]error) int {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		*errs = append(*errs, settingErrf(name, "%q is not a whole number", v))
		return def
	}
	return n
}
