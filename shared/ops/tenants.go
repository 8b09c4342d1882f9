package ops

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/config"
	"github.com/vcc-ingest/vcc-ingest/shared/startup"
	"github.com/vcc-ingest/vcc-ingest/shared/tenants"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// SandboxTenantsFile is the tenants document --tenants writes under --data
// (a temporary directory for a command without it).
const SandboxTenantsFile = "sandbox-tenants.json"

// SandboxTenantID is the id of the sandbox's i-th account (from 1).
func SandboxTenantID(i int) string { return fmt.Sprintf("sandbox-%d", i) }

// SandboxWebhookSecret is the webhook secret (base64) of the sandbox account
// of tenant id: each account's own, so that one's events do not verify on
// another's path.
func SandboxWebhookSecret(id string) string {
	return base64.StdEncoding.EncodeToString([]byte("vcc-sandbox-webhook-secret-" + id))
}

// startSandboxTenants starts one sandbox per tenant (--tenants N), each its
// own VCC account on its own port: its own credential, its own contact
// centre (seed --seed+i) and, for every second account, its own feature
// permissions (line permissions only: content visible on 2 of 6 lines).
// It writes their tenants document under --data and points the settings at
// it, each tenant's secret in VCC_CLIENT_SECRET_<ID> and its webhook
// subscription's own secret in VCC_WEBHOOK_SECRET_<ID>.
func (o *Env) startSandboxTenants(f Flags, simOpts vccsim.Options, env *overlay, stdout io.Writer) error {
	start, err := f.SandboxStart()
	if err != nil {
		return err
	}
	days := f.Days
	if simOpts.Days > 0 {
		days = simOpts.Days
	}
	var doc tenants.Document
	o.Sims = map[string]*vccsim.Sim{}
	for i := 1; i <= f.SandboxTenants; i++ {
		id := SandboxTenantID(i)
		so := simOpts
		so.Seed, so.Start, so.Days, so.InteractionsPerDay = f.Seed+int64(i-1), start, days, f.PerDay
		so.ClientID, so.ClientSecret = "sandbox-client-"+id, fmt.Sprintf("sandbox-secret-%s-%d", id, time.Now().UnixNano()%1000003)
		perms := "all permissions"
		if i%2 == 0 {
			so.Deny.Lines = true
			perms = "line permissions only (2 of 6 lines)"
		}
		sim := vccsim.New(so)
		if err := sim.Start(); err != nil {
			return fmt.Errorf("sandbox %s: %w", id, err)
		}
		o.closers = append(o.closers, sim.Close)
		o.Sims[id] = sim
		doc.Tenants = append(doc.Tenants, tenants.Tenant{ID: id, Region: "emea", ClientID: sim.ClientID(),
			SecretName: "vcc-client-secret-" + id, RatePerMinute: 600, TokenURL: sim.TokenURL(), APIURL: sim.APIURL(),
			WebhookSecretName: "vcc-webhook-secret-" + id, OwnerUserID: sim.OwnerUserID()})
		env.set(tenants.SecretEnv(id), sim.ClientSecret())
		env.set(tenants.WebhookSecretEnv(id), SandboxWebhookSecret(id))
		if i <= 5 {
			fmt.Fprintf(stdout, "VCC sandbox account %s at %s (seed %d, %d interactions a day, %s)\n", id, sim.APIURL(), so.Seed, f.PerDay, perms)
		}
	}
	if f.SandboxTenants > 5 {
		fmt.Fprintf(stdout, "… and %d more sandbox accounts\n", f.SandboxTenants-5)
	}
	dir := f.Data
	if dir == "" { // a command without --data: a directory of its own
		tmp, err := os.MkdirTemp("", "vcc-ingest-tenants-")
		if err != nil {
			return err
		}
		o.closers = append(o.closers, func() { _ = os.RemoveAll(tmp) })
		dir = tmp
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, SandboxTenantsFile)
	data, _ := json.MarshalIndent(doc, "", "  ")
	if err := os.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return err
	}
	env.set("VCC_TENANTS_FILE", path)
	env.set("KEY_VAULT_URI", "")
	env.set("VCC_WEBHOOK_SECRET", "") // each account signs with its own
	fmt.Fprintf(stdout, "Tenants document with %d sandbox accounts in %s (%s → %s)\n", f.SandboxTenants, path,
		start.Format(time.DateOnly), start.AddDate(0, 0, days).Format(time.DateOnly))
	return nil
}

// openTenants builds every tenant's adapters (NewTenant), with a VCC client
// each when the command calls VCC.
func (o *Env) openTenants(n Need, cfg config.Config) error {
	for _, t := range cfg.Tenants.Tenants {
		tn, err := startup.NewTenant(cfg, t, startup.TenantBase{Log: o.Log, Sink: o.Sink, State: o.State, VCC: n.VCC})
		if err != nil {
			return err
		}
		o.Tenants = append(o.Tenants, tn)
	}
	return nil
}

// selectTenant builds every tenant's adapters, then, unless every tenant
// is wanted, makes the one --tenant names (or the only one) the command's
// Config, Client, Sink and State.
func (o *Env) selectTenant(f Flags, n Need, cfg config.Config) error {
	if err := o.openTenants(n, cfg); err != nil {
		return err
	}
	if n.AllTenants {
		if f.Tenant != "" {
			return errors.New("--tenant: this command serves every tenant of the tenants document")
		}
		o.Where += " (each tenant under <id>/)"
		return nil
	}
	ids := cfg.TenantIDs()
	id := f.Tenant
	if id == "" {
		if len(ids) > 1 {
			return fmt.Errorf("--tenant: required, the tenants document lists %d tenants (%s)", len(ids), strings.Join(ids, ", "))
		}
		id = ids[0]
	}
	for _, t := range o.Tenants {
		if t.ID != id {
			continue
		}
		o.Config, o.Client, o.Log = t.Config, t.VCC, t.Log
		if t.Sink != nil {
			o.Sink = t.Sink
			o.Where += " (tenant " + id + ", under " + id + "/)"
		}
		if t.State != nil {
			o.State = t.State
		}
		if t.VCC != nil {
			o.VCCConfig = t.VCCConfig
		}
		o.Tenants = []startup.Tenant{t}
		return nil
	}
	return fmt.Errorf("--tenant: %q is not in the tenants document (%s)", id, strings.Join(ids, ", "))
}
