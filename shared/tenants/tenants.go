// Package tenants reads the tenants document: the VCC accounts one
// deployment serves, each with its own API credential, region, fair-usage
// budget and content types. It is validated whole when it is read, and
// every problem names the tenant and the field, so a typo stops the program
// before any tenant's work starts.
//
// The document is the contract; wiring a Client, pacer and breaker per
// tenant is the caller's. Without a document the VCC_* settings are the one
// tenant.
package tenants

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// Tenant is one VCC account.
type Tenant struct {
	ID            string `json:"id"`
	Region        string `json:"region"`
	ClientID      string `json:"clientId"`
	SecretName    string `json:"secretName"`
	RatePerMinute int    `json:"ratePerMinute"`
	// Optional: hosts that override the region's, and the content types
	// copied (default the deployment's VCC_AUDIO_TYPES).
	TokenURL   string   `json:"tokenUrl,omitempty"`
	APIURL     string   `json:"apiUrl,omitempty"`
	AudioTypes []string `json:"audioTypes,omitempty"`
	// WebhookSecretName is the Key Vault secret of the tenant's webhook
	// subscription, when it sends events (to /api/vcc/events/<id>).
	WebhookSecretName string `json:"webhookSecretName,omitempty"`
	// OwnerUserID is the User Admin id (a GUID) of the user who owns the
	// tenant's API credential: doctor and audit read its line permissions
	// and groups. Empty leaves those checks unchecked.
	OwnerUserID string `json:"ownerUserId,omitempty"`
}

// Document is the tenants document.
type Document struct {
	Tenants []Tenant `json:"tenants"`
}

var (
	idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,30}$`)
	// Key Vault secret names: 1 to 127 letters, digits and dashes.
	secretNamePattern = regexp.MustCompile(`^[0-9A-Za-z-]{1,127}$`)
)

// ErrInvalid marks a document that cannot be used.
var ErrInvalid = errors.New("tenants document")

// Load reads and validates the document at path.
func Load(path string) (Document, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Document{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	d, err := Parse(data)
	if err != nil {
		return d, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// Parse reads and validates a document. Unknown fields are errors: a
// misspelt optional field would otherwise be silently ignored.
func Parse(data []byte) (Document, error) {
	var d Document
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return Document{}, fmt.Errorf("%w: not a tenants document: %v", ErrInvalid, err)
	}
	if dec.More() {
		return Document{}, fmt.Errorf("%w: text after the document", ErrInvalid)
	}
	if len(d.Tenants) == 0 {
		return Document{}, fmt.Errorf("%w: tenants: at least one tenant is needed", ErrInvalid)
	}
	var errs []error
	seen := map[string]bool{}
	for i, t := range d.Tenants {
		name := t.ID
		if name == "" {
			name = "#" + strconv.Itoa(i+1)
		}
		bad := func(field, format string, args ...any) {
			errs = append(errs, fmt.Errorf("%w: tenant %s: %s: %s", ErrInvalid, name, field, fmt.Sprintf(format, args...)))
		}
		switch {
		case t.ID == "":
			bad("id", "required")
		case !ValidID(t.ID):
			bad("id", "%q must match %s", t.ID, idPattern)
		case seen[t.ID]:
			bad("id", "used by more than one tenant")
		}
		seen[t.ID] = true
		if t.Region == "" {
			bad("region", "required (emea, nam or apac)")
		}
		if strings.TrimSpace(t.ClientID) == "" {
			bad("clientId", "required")
		}
		if !secretNamePattern.MatchString(t.SecretName) {
			// The value is not repeated: it may be a secret pasted by mistake.
			bad("secretName", "not a Key Vault secret name (1-127 letters, digits, dashes)")
		}
		if t.WebhookSecretName != "" && !secretNamePattern.MatchString(t.WebhookSecretName) {
			bad("webhookSecretName", "not a Key Vault secret name (1-127 letters, digits, dashes)")
		}
		if t.OwnerUserID != "" && !vcc.ValidGUID(t.OwnerUserID) {
			bad("ownerUserId", "%q is not a User Admin user id (a GUID)", trunc(t.OwnerUserID))
		}
		if t.RatePerMinute <= 0 {
			bad("ratePerMinute", "required, a positive number of requests a minute")
		}
		for _, a := range t.AudioTypes {
			if strings.TrimSpace(a) == "" {
				bad("audioTypes", "empty entry")
			}
		}
		if t.Region != "" && t.ClientID != "" && t.RatePerMinute > 0 {
			if _, err := t.VCCConfig(); err != nil {
				errs = append(errs, fmt.Errorf("%w: tenant %s: %v", ErrInvalid, name, err))
			}
		}
	}
	errs = append(errs, sharedSecretNames(d)...)
	return d, errors.Join(errs...)
}

// sharedSecretNames refuses a Key Vault secret named by two tenants, or
// both as a tenant's client secret and as a webhook secret: one tenant's
// webhooks would verify on another's path, or a client secret would sign
// webhooks. The errors name the tenants and fields, never the names (one
// may be a secret pasted by mistake).
func sharedSecretNames(d Document) []error {
	type use struct{ tenant, field string }
	owner := map[string]use{}
	var errs []error
	claim := func(t Tenant, field, name string) {
		if name == "" || t.ID == "" {
			return
		}
		name = strings.ToLower(name) // Key Vault's names ignore case
		if o, dup := owner[name]; dup {
			what := "tenant " + o.tenant + "'s " + o.field
			if o.tenant == t.ID {
				what = "its " + o.field
			}
			errs = append(errs, fmt.Errorf("%w: tenant %s: %s: the same Key Vault secret as %s (each needs its own)", ErrInvalid, t.ID, field, what))
			return
		}
		owner[name] = use{t.ID, field}
	}
	for _, t := range d.Tenants {
		claim(t, "secretName", t.SecretName)
	}
	for _, t := range d.Tenants {
		claim(t, "webhookSecretName", t.WebhookSecretName)
	}
	return errs
}

// fieldOf names the document's field for each VCC setting.
var fieldOf = map[string]string{
	"VCC_REGION": "region", "VCC_TOKEN_URL": "tokenUrl", "VCC_API_URL": "apiUrl",
	"VCC_CLIENT_ID": "clientId", "VCC_RATE_PER_MINUTE": "ratePerMinute",
}

// VCCConfig is the tenant's VCC client configuration, validated as the
// VCC_* settings are (the secret is the caller's to set).
func (t Tenant) VCCConfig() (vcc.Config, error) {
	env := map[string]string{
		"VCC_REGION": t.Region, "VCC_TOKEN_URL": t.TokenURL, "VCC_API_URL": t.APIURL,
		"VCC_CLIENT_ID": t.ClientID, "VCC_RATE_PER_MINUTE": strconv.Itoa(t.RatePerMinute),
	}
	cfg, err := vcc.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		msg := err.Error()
		for setting, field := range fieldOf {
			if rest, ok := strings.CutPrefix(msg, setting+":"); ok {
				return cfg, fmt.Errorf("%s:%s", field, rest)
			}
		}
		return cfg, err
	}
	return cfg, nil
}

// ValidID reports whether id is a tenant id: what the document accepts,
// and so what may name a tenant in a message, a prefix or a URL path.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// trunc keeps a value quoted in an error short.
func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// WebhookSecretEnv is the environment variable that holds the tenant's
// webhook secret (base64, as VCC gives it) in local runs:
// VCC_WEBHOOK_SECRET_<ID>, the id upper-cased with "-" as "_".
func WebhookSecretEnv(id string) string {
	return "VCC_WEBHOOK_SECRET_" + envSuffix(id)
}

func envSuffix(id string) string { return strings.ReplaceAll(strings.ToUpper(id), "-", "_") }

// SecretEnv is the environment variable that holds the tenant's client
// secret in local runs and for the operator commands:
// VCC_CLIENT_SECRET_<ID>, the id upper-cased with "-" as "_".
func SecretEnv(id string) string {
	return "VCC_CLIENT_SECRET_" + envSuffix(id)
}

// Get returns the tenant with id.
func (d Document) Get(id string) (Tenant, bool) {
	for _, t := range d.Tenants {
		if t.ID == id {
			return t, true
		}
	}
	return Tenant{}, false
}
