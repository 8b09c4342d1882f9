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
	ID       string `json:"id"`
	Region   string `json:"region"`
	ClientID string `json:"clientId"`
	// SecretName is the Key Vault secret of the tenant's client secret:
	// always ClientSecretName(ID), filled in when the document omits it,
	// so a document cannot point a tenant at another's secret or at the
	// deployment's own.
	SecretName    string `json:"secretName"`
	RatePerMinute int    `json:"ratePerMinute"`
	// Optional: hosts that override the region's default (VCC's other
	// documented hosts for the region, or an origin of VCC_EXTRA_HOSTS:
	// the credential goes to nothing else), and the content types copied
	// (default the deployment's VCC_AUDIO_TYPES).
	TokenURL   string   `json:"tokenUrl,omitempty"`
	APIURL     string   `json:"apiUrl,omitempty"`
	AudioTypes []string `json:"audioTypes,omitempty"`
	// WebhookSecretName is the Key Vault secret of the tenant's webhook
	// subscription, when it sends events (to /api/vcc/events/<id>): set,
	// it is WebhookSecretName(ID).
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

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,30}$`)

// ErrInvalid marks a document that cannot be used.
var ErrInvalid = errors.New("tenants document")

// Load reads and validates the document at path, admitting VCC's own hosts
// only (LoadWith admits more).
func Load(path string) (Document, error) { return LoadWith(path, Hosts{}) }

// LoadWith reads and validates the document at path, admitting VCC's hosts
// and those of h.
func LoadWith(path string, h Hosts) (Document, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Document{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	d, err := ParseWith(data, h)
	if err != nil {
		return d, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// Parse reads and validates a document, admitting VCC's own hosts only
// (ParseWith admits more).
func Parse(data []byte) (Document, error) { return ParseWith(data, Hosts{}) }

// ParseWith reads and validates a document. Unknown fields are errors: a
// misspelt optional field would otherwise be silently ignored. A tenant's
// hosts must be VCC's for its region, or admitted by h.
func ParseWith(data []byte, h Hosts) (Document, error) {
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
		// The names are the tenant's own: the value is not repeated (it may
		// be a secret pasted by mistake).
		if ValidID(t.ID) {
			if t.SecretName == "" {
				d.Tenants[i].SecretName = ClientSecretName(t.ID)
			} else if !strings.EqualFold(t.SecretName, ClientSecretName(t.ID)) {
				bad("secretName", "must be %s (or left out): a tenant's client secret is named after its id", ClientSecretName(t.ID))
			}
			if t.WebhookSecretName != "" && !strings.EqualFold(t.WebhookSecretName, WebhookSecretName(t.ID)) {
				bad("webhookSecretName", "must be %s: a tenant's webhook secret is named after its id", WebhookSecretName(t.ID))
			}
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
			} else {
				for _, e := range h.check(t) {
					errs = append(errs, fmt.Errorf("%w: tenant %s: %v", ErrInvalid, name, e))
				}
			}
		}
	}
	return d, errors.Join(errs...)
}

// ClientSecretName is the Key Vault secret of tenant id's client secret.
func ClientSecretName(id string) string { return "vcc-client-secret-" + id }

// WebhookSecretName is the Key Vault secret of tenant id's webhook secret.
func WebhookSecretName(id string) string { return "vcc-webhook-secret-" + id }

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
