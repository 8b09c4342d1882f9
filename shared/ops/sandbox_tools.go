//go:build !product

package ops

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/azurite"
	"github.com/vcc-ingest/vcc-ingest/shared/tenants"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// The VCC sandbox and the Azurite launcher, for local runs and for trying a
// command out (--sandbox, --azurite). The deployed build (-tags product)
// has none of them: see sandbox_product.go.

// SandboxTenantsFile is the tenants document --sandbox-tenants writes under --data
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

// SandboxFlags registers --sandbox and its settings; days is how many days
// the sandbox holds, ending yesterday unless --day says otherwise.
func (f *Flags) SandboxFlags(fs *flag.FlagSet, days int) {
	fs.BoolVar(&f.Sandbox, "sandbox", false, "start the VCC sandbox in-process and use it as VCC (to try the command out)")
	fs.Int64Var(&f.Seed, "seed", 1, "sandbox: seed of the generated contact centre (as given to handler local)")
	fs.IntVar(&f.PerDay, "per-day", 200, "sandbox: interactions per day")
	fs.StringVar(&f.Day, "day", "", fmt.Sprintf("sandbox: first generated day, YYYY-MM-DD (default %s)", map[bool]string{true: "yesterday, UTC", false: fmt.Sprintf("%d days ago, UTC", days)}[days == 1]))
	fs.StringVar(&f.Deny, "sandbox-deny", "", "sandbox: feature permissions switched off, comma separated: inbound, outbound, groups (only the owner's reporting line), lines (\"Access groups of users' content\" off: only the owner's permitted lines, 2 of 6)")
	fs.StringVar(&f.Grant, "sandbox-grant", "", "sandbox: the scopes the credential holds, space separated (default the three)")
	fs.StringVar(&f.Faults, "sandbox-faults", "", "sandbox: misbehaviour to inject, e.g. 5xx=0.1,429=0.05,truncate=0.02,redirect=0.01")
	fs.StringVar(&f.Webhooks, "sandbox-webhooks", "", "sandbox: send the signed webhooks (CloudEvents, Vonage-Signature) of live calls to this URL, e.g. http://127.0.0.1:7071/api/vcc/events (with --sandbox-tenants: each account to URL/<tenant>)")
	fs.DurationVar(&f.CallEvery, "sandbox-call-every", 5*time.Second, "sandbox: with webhooks, a live call ends this often")
	fs.DurationVar(&f.ProcessingDelay, "sandbox-processing-delay", vccsim.DefaultProcessingDelay, "sandbox: with webhooks, how long after a call ends its recording appears in VCC")
	fs.IntVar(&f.SandboxTenants, "sandbox-tenants", 0, "sandbox: serve this many VCC accounts (distinct credentials, data and permissions), one tenant each, through a tenants document written under --data")
	f.Days = days
}

// CheckSandbox reads the sandbox flags, so that a mistake in them is a
// usage error before anything starts.
func (f *Flags) CheckSandbox() error {
	_, err := f.simOptions()
	return err
}

// simOptions are the sandbox's options from --sandbox-deny, --sandbox-grant
// and --sandbox-faults (the rest comes from the other flags in Open).
func (f *Flags) simOptions() (vccsim.Options, error) {
	var sim vccsim.Options
	for _, p := range strings.Split(f.Deny, ",") {
		switch strings.TrimSpace(p) {
		case "":
		case "inbound":
			sim.Deny.Inbound = true
		case "outbound":
			sim.Deny.Outbound = true
		case "groups":
			sim.Deny.Groups = true
		case "lines":
			sim.Deny.Lines = true
		default:
			return sim, fmt.Errorf("--sandbox-deny: %q is not inbound, outbound, groups or lines", p)
		}
	}
	if g := strings.Fields(f.Grant); len(g) > 0 {
		sim.GrantedScopes = g
	}
	faults, err := parseFaults(f.Faults)
	if err != nil {
		return sim, fmt.Errorf("--sandbox-faults: %w", err)
	}
	sim.Faults = faults
	return sim, nil
}

// parseFaults reads "name=probability,..." for the sandbox's fault injection.
func parseFaults(spec string) (vccsim.Faults, error) {
	var f vccsim.Faults
	if strings.TrimSpace(spec) == "" {
		return f, nil
	}
	fields := map[string]*float64{
		"5xx": &f.Status5xx, "429": &f.Throttle, "429-no-retry-after": &f.ThrottleNoRetryAfter,
		"truncate": &f.Truncate, "truncate-no-length": &f.TruncateNoLength, "redirect": &f.Redirect,
	}
	for _, part := range strings.Split(spec, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		target, known := fields[name]
		if !ok || !known {
			return f, fmt.Errorf("%q: want one of 5xx, 429, 429-no-retry-after, truncate, truncate-no-length, redirect = probability", part)
		}
		p, err := strconv.ParseFloat(value, 64)
		if err != nil || p < 0 || p > 1 {
			return f, fmt.Errorf("%q: probability must be between 0 and 1", part)
		}
		*target = p
	}
	return f, nil
}

// sandboxes are the VCC sandboxes a command started: Sim for --sandbox,
// Sims (by tenant id) for --sandbox-tenants.
type sandboxes struct {
	Sim  *vccsim.Sim
	Sims map[string]*vccsim.Sim
}

// SandboxBusiestMinute is the most API calls that reached any one sandbox
// account in a rolling 60 s span (its arrival log, refused calls included),
// the figure VCC's fair-usage limit compares with the budget; false
// without a sandbox.
func (o *Env) SandboxBusiestMinute() (int, bool) {
	if o.Sim == nil && len(o.Sims) == 0 {
		return 0, false
	}
	most := 0
	if o.Sim != nil {
		most = o.Sim.MaxPerMinute()
	}
	for _, sim := range o.Sims {
		most = max(most, sim.MaxPerMinute())
	}
	return most, true
}

// startSandbox starts the sandbox the flags ask for, when the command calls
// VCC, and points the settings at it.
func (o *Env) startSandbox(f Flags, callsVCC bool, stdout io.Writer) error {
	simOpts, err := f.simOptions()
	if err != nil {
		return err
	}
	if f.SandboxTenants > 0 && !f.Sandbox {
		return errors.New("--sandbox-tenants: goes with --sandbox")
	}
	env := o.env
	if f.Sandbox && callsVCC && f.SandboxTenants > 0 {
		if err := o.startSandboxTenants(f, simOpts, stdout); err != nil {
			return err
		}
	} else if f.Sandbox && callsVCC {
		start, err := f.SandboxStart()
		if err != nil {
			return err
		}
		days := f.sandboxDays()
		simOpts.Seed, simOpts.Start, simOpts.Days, simOpts.InteractionsPerDay = f.Seed, start, days, f.PerDay
		o.Sim = vccsim.New(simOpts)
		if err := o.Sim.Start(); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		o.closers = append(o.closers, o.Sim.Close)
		env.set("VCC_TOKEN_URL", o.Sim.TokenURL())
		env.set("VCC_API_URL", o.Sim.APIURL())
		env.set("VCC_CLIENT_ID", o.Sim.ClientID())
		env.set("VCC_CLIENT_SECRET", o.Sim.ClientSecret())
		env.set("KEY_VAULT_URI", "")
		env.set("VCC_OWNER_USER_ID", o.Sim.OwnerUserID())
		if strings.TrimSpace(env.get("VCC_WEBHOOK_SECRET")) == "" { // the user's own, if set, signs and verifies the sandbox's webhooks
			env.set("VCC_WEBHOOK_SECRET", vccsim.DefaultWebhookSecret)
		}
		fmt.Fprintf(stdout, "VCC sandbox at %s (seed %d, %d interactions a day, %s → %s)\n", o.Sim.APIURL(), f.Seed, f.PerDay,
			start.Format(time.DateOnly), start.AddDate(0, 0, days).Format(time.DateOnly))
	}
	return nil
}

// launchAzurite starts an Azurite with its data in dir, when dir is set and
// --out is not (a local run's store), and points the settings at it.
func (o *Env) launchAzurite(ctx context.Context, f Flags, dir string, stdout io.Writer) error {
	if dir != "" && f.Out == "" {
		az, err := azurite.Launch(ctx, dir, true)
		if err != nil {
			return fmt.Errorf("azurite: %w", err)
		}
		o.closers = append(o.closers, func() { _ = az.Stop() })
		o.env.set("RECORDINGS_CONNECTION_STRING", az.ConnectionString)
		o.AzuriteDir = dir
		fmt.Fprintf(stdout, "Azurite at %s (data in %s)\n", az.BlobURL, o.AzuriteDir)
	}
	return nil
}

// startSandboxTenants starts one sandbox per tenant (--sandbox-tenants N), each its
// own VCC account on its own port: its own credential, its own contact
// centre (seed --seed+i) and, for every second account, its own feature
// permissions (line permissions only: content visible on 2 of 6 lines).
// It writes their tenants document under --data and points the settings at
// it, each tenant's secret in VCC_CLIENT_SECRET_<ID> and its webhook
// subscription's own secret in VCC_WEBHOOK_SECRET_<ID>.
func (o *Env) startSandboxTenants(f Flags, simOpts vccsim.Options, stdout io.Writer) error {
	env := o.env
	start, err := f.SandboxStart()
	if err != nil {
		return err
	}
	days := f.sandboxDays()
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
