// Package startup turns the settings into the product's adapters: the
// Azure credential, the stores, the queue, and each tenant's clients (its
// VCC client with its token and budget, its prefix of the store, its
// secrets). It imports adapters only; the Functions server (serve), the
// local runner and the operator commands compose it.
package startup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/vcc-ingest/vcc-ingest/shared/budget"
	"github.com/vcc-ingest/vcc-ingest/shared/config"
	"github.com/vcc-ingest/vcc-ingest/shared/livetenants"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/tenants"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// Adapters are what the custom handler's steps run over.
type Adapters struct {
	Config config.Config
	Log    *slog.Logger
	VCC    *vcc.Client
	Queue  queue.Sender
	Sink   store.Sink
	State  store.State
	// Deadline bounds each invocation (zero: none).
	Deadline time.Duration
	// WebhookKey yields the VCC webhook secret (base64) that the events
	// function verifies signatures with; nil refuses every webhook.
	WebhookKey secrets.Source
	// Tenants, with a tenants document, are each tenant's own adapters:
	// the handler then serves every one of them, and VCC, Sink and State
	// above are unused but for State, the deployment's own state (records
	// of messages for an unknown tenant).
	Tenants []Tenant
}

// Tenant is one tenant's adapters, built once per tenant: its own VCC client
// (token and secret, pacer and budget, circuit breaker, user directory),
// its recordings under <id>/ and its state under tenants/<id>/, and its
// settings (Config.ForTenant) and logger (every line names the tenant).
type Tenant struct {
	ID        string
	Config    config.Config
	VCC       *vcc.Client
	VCCConfig vcc.Config // with its secret source
	Sink      store.Sink
	State     store.State
	Log       *slog.Logger
	// WebhookKey yields the tenant's webhook secret (base64), which its
	// events at /api/vcc/events/<id> are verified with; nil: the tenant
	// receives no webhooks (every request for it is refused).
	WebhookKey secrets.Source
}

// TenantBase is what building a tenant's adapters takes besides its entry
// in the tenants document: the deployment's logger, store and state (nil:
// the tenant gets none), whether it calls VCC, where its VCC budget is
// booked (Budget, see Pacer), and the identity that reads its secret from
// Key Vault (nil: Credential(cfg), made when needed).
type TenantBase struct {
	Log        *slog.Logger
	Sink       store.Sink
	State      store.State
	VCC        bool
	Budget     store.State
	Credential azcore.TokenCredential
}

// Pacer paces the calls of one VCC account (tenant; "" the single account
// of the VCC_* settings) at its whole budget, perMinute (0: the default).
//
// VCC counts every call of an account, from every process. So the budget
// is booked in st, the state that every process calling the account shares:
// the deployment's state container (its budget/<tenant>.json). Only where
// nothing else can call the account (st nil: a command with no state
// container, against the in-process sandbox or an account no deployment
// serves) is it paced in this process alone, and then the caller says so.
func Pacer(st store.State, tenant string, perMinute int, log *slog.Logger) (vcc.Pacer, error) {
	if st == nil {
		return nil, nil
	}
	if perMinute == 0 {
		perMinute = vcc.DefaultRatePerMinute
	}
	b, err := budget.New(st, tenant, perMinute, &budget.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// NewTenant builds tenant t's adapters, once: its settings (cfg.ForTenant:
// cfg carries the tenants' secrets, Config.WithTenants), a logger naming
// it, its recordings under <id>/ and its state under tenants/<id>/, and,
// with b.VCC, its own VCC client: its secret (VCC_CLIENT_SECRET_<ID>, or
// the Key Vault secret secretName, read at the first call), token, its
// account's whole budget booked in b.Budget (Pacer), breaker and directory, and its webhook secret's source
// (VCC_WEBHOOK_SECRET_<ID>, or Key Vault webhookSecretName; nil: none).
func NewTenant(cfg config.Config, t tenants.Tenant, b TenantBase) (Tenant, error) {
	tc, err := cfg.ForTenant(t)
	if err != nil {
		return Tenant{}, err
	}
	out := Tenant{ID: t.ID, Config: tc, Log: b.Log.With("tenant", t.ID)}
	if b.Sink != nil {
		out.Sink = store.Prefixed(b.Sink, t.ID+"/")
	}
	if b.State != nil {
		out.State = store.PrefixedState(b.State, store.TenantStatePrefix(t.ID))
	}
	if !b.VCC {
		return out, nil
	}
	var src secrets.Source = secrets.Static(tc.ClientSecret)
	if tc.ClientSecret.IsZero() {
		cred := b.Credential
		if cred == nil {
			if cred, err = Credential(cfg); err != nil {
				return Tenant{}, err
			}
		}
		if src, err = secrets.NewKeyVault(cfg.KeyVaultURI, t.SecretName, cred, nil); err != nil {
			return Tenant{}, fmt.Errorf("tenant %s: %w", t.ID, err)
		}
	}
	vc := tc.VCC
	vc.Secret = src
	vc.Logger = out.Log
	if vc.Pacer, err = Pacer(b.Budget, t.ID, vc.RatePerMinute, out.Log); err != nil {
		return Tenant{}, fmt.Errorf("tenant %s: %w", t.ID, err)
	}
	if out.VCC, err = vcc.New(vc); err != nil {
		return Tenant{}, fmt.Errorf("tenant %s: %w", t.ID, err)
	}
	out.VCCConfig = vc
	if out.WebhookKey, err = webhookKey(cfg, tc, b.Credential); err != nil {
		return Tenant{}, fmt.Errorf("tenant %s: %w", t.ID, err)
	}
	return out, nil
}

// webhookKey is the source of a tenant's webhook secret: its
// VCC_WEBHOOK_SECRET_<ID>, else Key Vault by its webhookSecretName (read at
// the first webhook, not now), else nil: the tenant receives no webhooks.
func webhookKey(cfg, tc config.Config, cred azcore.TokenCredential) (secrets.Source, error) {
	switch {
	case !tc.WebhookSecret.IsZero():
		return secrets.Static(tc.WebhookSecret), nil
	case tc.WebhookSecretName != "" && cfg.KeyVaultURI != "":
		if cred == nil {
			var err error
			if cred, err = Credential(cfg); err != nil {
				return nil, err
			}
		}
		return secrets.NewKeyVault(cfg.KeyVaultURI, tc.WebhookSecretName, cred, nil)
	}
	return nil, nil
}

// TenantsFromBlob is cfg with the tenants document the Function App serves
// (VCC_TENANTS_BLOB in the state container, read once, as livetenants
// reads it), so that the commands work on the deployment's tenants.
func TenantsFromBlob(ctx context.Context, cfg config.Config, requireVCC bool, getenv func(string) string) (config.Config, error) {
	if cfg.RecordingsConnectionString == "" && cfg.RecordingsAccountURL == "" {
		return cfg, errors.New("VCC_TENANTS_BLOB: the document is in the state container: give RECORDINGS_ACCOUNT_URL or RECORDINGS_CONNECTION_STRING")
	}
	blobs, err := OpenBlobs(ctx, cfg, false)
	if err != nil {
		return cfg, err
	}
	doc, _, err := livetenants.Load(ctx, blobs.State(), cfg.TenantsBlob, cfg.TenantHosts(false))
	if err != nil {
		return cfg, fmt.Errorf("VCC_TENANTS_BLOB: %w", err)
	}
	cfg, errs := cfg.WithTenants(doc, getenv)
	if requireVCC && len(errs) > 0 {
		return cfg, fmt.Errorf("VCC_TENANTS_BLOB: %w", errors.Join(errs...))
	}
	return cfg, nil
}

// OpenBlobs opens the recordings and state containers, creating them only
// for a run that writes on a connection string (Azurite): the operator
// commands read (and replay writes only to the queue).
func OpenBlobs(ctx context.Context, cfg config.Config, write bool) (*store.Blob, error) {
	bc := store.BlobConfig{
		ConnectionString: cfg.RecordingsConnectionString,
		AccountURL:       cfg.RecordingsAccountURL,
		Container:        cfg.RecordingsContainer,
		StateContainer:   cfg.StateContainer,
		CreateContainers: write && cfg.RecordingsConnectionString != "",
	}
	if cfg.RecordingsAccountURL != "" {
		cred, err := Credential(cfg)
		if err != nil {
			return nil, err
		}
		bc.Credential = cred
	}
	return store.NewBlob(ctx, bc)
}

// Credential is the app's managed identity: the user-assigned one named by
// AZURE_CLIENT_ID, or the default chain (developer sign-in) when unset.
func Credential(cfg config.Config) (azcore.TokenCredential, error) {
	if cfg.AzureClientID != "" {
		return azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
			ID: azidentity.ClientID(cfg.AzureClientID),
		})
	}
	return azidentity.NewDefaultAzureCredential(nil)
}

// SingleTenant is the VCC client of the VCC_* settings, its account's whole
// budget (VCC_RATE_PER_MINUTE) booked in budgetState (Pacer), and the
// webhook secret, each secret from its setting or else Key Vault (read at
// the first call, not at start-up).
func SingleTenant(cfg config.Config, cred azcore.TokenCredential, budgetState store.State, log *slog.Logger) (*vcc.Client, secrets.Source, error) {
	var src secrets.Source = secrets.Static(cfg.ClientSecret)
	if cfg.ClientSecret.IsZero() {
		kv, err := secrets.NewKeyVault(cfg.KeyVaultURI, cfg.SecretName, cred, nil)
		if err != nil {
			return nil, nil, err
		}
		src = kv
	}
	vccCfg := cfg.VCC
	vccCfg.Secret = src
	vccCfg.Logger = log
	pacer, err := Pacer(budgetState, "", vccCfg.RatePerMinute, log)
	if err != nil {
		return nil, nil, err
	}
	vccCfg.Pacer = pacer
	client, err := vcc.New(vccCfg)
	if err != nil {
		return nil, nil, err
	}
	var hook secrets.Source = secrets.Static(cfg.WebhookSecret)
	if cfg.WebhookSecret.IsZero() && cfg.KeyVaultURI != "" {
		kv, err := secrets.NewKeyVault(cfg.KeyVaultURI, cfg.WebhookSecretName, cred, nil)
		if err != nil {
			return nil, nil, err
		}
		hook = kv
	}
	return client, hook, nil
}
