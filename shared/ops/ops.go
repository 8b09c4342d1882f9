// Package ops is the operator commands (backfill, bench, doctor, replay,
// report, sandbox) and the wiring they and the local runner (shared/local)
// share: one definition of the flags every command takes the same way
// (--data, --out, --sandbox and its --seed, --per-day, --day, --sandbox-deny,
// --sandbox-grant, --sandbox-faults, the window --from/--to) and one way of
// opening the product's resources (Open).
//
// The commands run against the same settings as the product, from an
// operator's machine or a local run: VCC from VCC_* (or the in-process
// sandbox with --sandbox), the queue on Service Bus when
// ServiceBusConnection__fullyQualifiedNamespace is set and otherwise the
// embedded queue file of "handler local" (--data), the store in Blob Storage
// (RECORDINGS_*) or a local export (--out).
//
// Where changes go: a new command is a file here with a Run-style function
// and a case in functions/main.go; a flag more than one command takes is a
// field of Flags; a new resource, a field of Need and Env. The steps live
// under functions/ and a package under shared/ never imports them: package
// main passes them in as Steps.
package ops

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"golang.org/x/term"

	"github.com/vcc-ingest/vcc-ingest/shared/azurite"
	"github.com/vcc-ingest/vcc-ingest/shared/config"
	"github.com/vcc-ingest/vcc-ingest/shared/livetenants"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// Flags are the flags the commands share; each command registers the groups
// it uses (DataFlag, OutFlag, SandboxFlags, WindowFlags) and so gets the same
// names, defaults and meaning as every other.
type Flags struct {
	Data, Out string
	Sandbox   bool
	Seed      int64
	PerDay    int
	Day       string
	Days      int    // sandbox days (and the default --day's distance from today)
	Deny      string // sandbox: feature permissions switched off
	Grant     string // sandbox: the credential's scopes
	Faults    string // sandbox: misbehaviour to inject
	From, To  string
	// Webhooks: the sandbox sends the signed channel events of live calls
	// (one every CallEvery) to this URL, each call's recording appearing
	// ProcessingDelay after it ends.
	Webhooks        string
	CallEvery       time.Duration
	ProcessingDelay time.Duration
	// Tenant picks one tenant of the tenants document (--tenant), required
	// when it has more than one; SandboxTenants is --tenants: the sandbox
	// serves that many VCC accounts, each with a tenant of its own.
	Tenant         string
	SandboxTenants int
}

// TenantFlag registers --tenant.
func (f *Flags) TenantFlag(fs *flag.FlagSet) {
	fs.StringVar(&f.Tenant, "tenant", "", "with a tenants document (VCC_TENANTS_FILE or VCC_TENANTS_BLOB): the tenant to work on (required when it lists more than one)")
}

// DataFlag registers --data.
func (f *Flags) DataFlag(fs *flag.FlagSet) {
	fs.StringVar(&f.Data, "data", ".local", "directory of the embedded queue (queue.db) and local state of \"handler local\" (the operator commands use it when Service Bus is not configured)")
}

// OutFlag registers --out.
func (f *Flags) OutFlag(fs *flag.FlagSet) {
	fs.StringVar(&f.Out, "out", "", "a local export instead of Blob Storage (RECORDINGS_*): \"handler local\" writes recordings and interaction.json files under it, the other commands read them (its state is under --data)")
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
	fs.StringVar(&f.Webhooks, "sandbox-webhooks", "", "sandbox: send the signed webhooks (CloudEvents, Vonage-Signature) of live calls to this URL, e.g. http://127.0.0.1:7071/api/vcc/events (with --tenants: each account to URL/<tenant>)")
	fs.DurationVar(&f.CallEvery, "sandbox-call-every", 5*time.Second, "sandbox: with webhooks, a live call ends this often")
	fs.DurationVar(&f.ProcessingDelay, "sandbox-processing-delay", vccsim.DefaultProcessingDelay, "sandbox: with webhooks, how long after a call ends its recording appears in VCC")
	fs.IntVar(&f.SandboxTenants, "tenants", 0, "sandbox: serve this many VCC accounts (distinct credentials, data and permissions), one tenant each, through a tenants document written under --data")
	f.Days = days
}

// WindowFlags registers --from and --to with the command's own wording.
func (f *Flags) WindowFlags(fs *flag.FlagSet, fromUsage, toUsage string) {
	fs.StringVar(&f.From, "from", "", fromUsage)
	fs.StringVar(&f.To, "to", "", toUsage)
}

// SimOptions are the sandbox's options from --sandbox-deny, --sandbox-grant
// and --sandbox-faults (the rest comes from the other flags in Open).
func (f *Flags) SimOptions() (vccsim.Options, error) {
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

// SandboxStart is the sandbox's first day.
func (f *Flags) SandboxStart() (time.Time, error) {
	if f.Day != "" {
		d, err := time.Parse(time.DateOnly, f.Day)
		if err != nil {
			return d, fmt.Errorf("--day: %w", err)
		}
		return d, nil
	}
	return time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -f.Days), nil
}

// Window reads --from and --to, which are required unless --sandbox gives
// the sandbox's own days.
func (f *Flags) Window() (time.Time, time.Time, error) {
	start, end, err := ParseWindow(f.From, f.To)
	if err != nil || !start.IsZero() {
		return start, end, err
	}
	if !f.Sandbox {
		return start, end, errors.New("--from and --to are required")
	}
	if start, err = f.SandboxStart(); err != nil {
		return start, end, err
	}
	return start, start.AddDate(0, 0, f.Days), nil
}

// Need says what a command uses, so that settings it does not use are not
// required, and how "handler local" differs: it writes, and its queue is
// always the embedded one.
type Need struct {
	VCC, Sink, State, Queue bool

	// Log receives the logs instead of warnings and errors on logw.
	Log *slog.Logger
	// StaticSecret requires VCC_CLIENT_SECRET (a local run does not read
	// Key Vault).
	StaticSecret bool
	// Write creates the containers on a connection string (Azurite): the
	// operator commands only read.
	Write bool
	// Azurite, when set and --out is not, is the directory of an Azurite
	// started for the run and used as the store.
	Azurite string
	// Embedded, when set, is the embedded queue's options, whatever the
	// settings say of Service Bus (MaxDeliveryCount zero: MAX_ATTEMPTS).
	Embedded *queue.EmbeddedOptions
	// AllTenants opens every tenant of a tenants document (Env.Tenants)
	// instead of the one --tenant names ("handler local" serves them all).
	AllTenants bool
	// NoTenants leaves the tenants document of VCC_TENANTS_BLOB unread
	// ("handler tenants" is what writes it).
	NoTenants bool
}

// Env is a command's connection to the product's resources.
type Env struct {
	Config    config.Config
	Log       *slog.Logger
	Sim       *vccsim.Sim
	Client    *vcc.Client
	VCCConfig vcc.Config // with its secret source
	Sink      store.Sink
	State     store.State
	Queue     queue.Queue
	Embedded  *queue.Embedded // Queue, when it is the embedded one
	Where     string          // the store, in words
	// AzuriteDir holds the data of the Azurite started for the run.
	AzuriteDir string
	// Tenants, with a tenants document and Need.AllTenants, are every
	// tenant's adapters; without AllTenants, Config, Client, Sink and State
	// above are the one tenant --tenant names. Sims are the sandbox's
	// accounts of --tenants, by tenant id.
	Tenants []Tenant
	Sims    map[string]*vccsim.Sim

	closers []func()
}

// Close releases what Open opened, in reverse order.
func (o *Env) Close() {
	for i := len(o.closers) - 1; i >= 0; i-- {
		o.closers[i]()
	}
}

// Open connects what n asks for. Logs (JSON) go to logw at warning level
// unless n.Log is given: stdout is the command's output.
func Open(ctx context.Context, f Flags, n Need, simOpts vccsim.Options, stdout, logw io.Writer, getenv func(string) string) (_ *Env, err error) {
	o := &Env{Log: n.Log}
	if o.Log == nil {
		o.Log = slog.New(slog.NewJSONHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	defer func() {
		if err != nil {
			o.Close()
		}
	}()
	env := overlayEnv(getenv)
	if f.SandboxTenants > 0 && !f.Sandbox {
		return nil, errors.New("--tenants: goes with --sandbox")
	}
	if f.Sandbox && n.VCC && f.SandboxTenants > 0 {
		if err := o.startSandboxTenants(f, simOpts, env, stdout); err != nil {
			return nil, err
		}
	} else if f.Sandbox && n.VCC {
		start, err := f.SandboxStart()
		if err != nil {
			return nil, err
		}
		days := f.Days
		if simOpts.Days > 0 {
			days = simOpts.Days
		}
		simOpts.Seed, simOpts.Start, simOpts.Days, simOpts.InteractionsPerDay = f.Seed, start, days, f.PerDay
		o.Sim = vccsim.New(simOpts)
		if err := o.Sim.Start(); err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		o.closers = append(o.closers, o.Sim.Close)
		env.set("VCC_TOKEN_URL", o.Sim.TokenURL())
		env.set("VCC_API_URL", o.Sim.APIURL())
		env.set("VCC_CLIENT_ID", o.Sim.ClientID())
		env.set("VCC_CLIENT_SECRET", o.Sim.ClientSecret())
		env.set("KEY_VAULT_URI", "")
		env.set("VCC_OWNER_USER_ID", o.Sim.OwnerUserID())
		env.set("VCC_WEBHOOK_SECRET", vccsim.DefaultWebhookSecret) // the sandbox signs its webhooks with it
		fmt.Fprintf(stdout, "VCC sandbox at %s (seed %d, %d interactions a day, %s → %s)\n", o.Sim.APIURL(), f.Seed, f.PerDay,
			start.Format(time.DateOnly), start.AddDate(0, 0, days).Format(time.DateOnly))
	}
	if n.Azurite != "" && f.Out == "" {
		az, err := azurite.Launch(ctx, n.Azurite, true)
		if err != nil {
			return nil, fmt.Errorf("azurite: %w", err)
		}
		o.closers = append(o.closers, func() { _ = az.Stop() })
		env.set("RECORDINGS_CONNECTION_STRING", az.ConnectionString)
		o.AzuriteDir = n.Azurite
		fmt.Fprintf(stdout, "Azurite at %s (data in %s)\n", az.BlobURL, o.AzuriteDir)
	}
	if n.StaticSecret && env.get("VCC_CLIENT_SECRET") == "" && env.get("VCC_TENANTS_FILE") == "" && env.get("VCC_TENANTS_BLOB") == "" {
		return nil, errors.New("VCC_CLIENT_SECRET: required for a local run (or use --sandbox)")
	}
	cfg, err := config.Load(env.get)
	if err != nil && !n.VCC {
		err = withoutVCCSettings(err)
	}
	if err != nil {
		return nil, fmt.Errorf("configuration:\n%w", err)
	}
	o.Config = cfg
	if n.VCC && cfg.TenantsBlob != "" && !n.NoTenants && env.get("VCC_RATE_SHARES") == "" {
		// Unset, a command would pace each tenant at its account's whole
		// budget, which the deployment's processes already use up.
		return nil, errors.New("VCC_RATE_SHARES: required with VCC_TENANTS_BLOB: set it to the deployment's vccRateShares (the deploy output; the Function App's VCC_RATE_SHARES setting), so that this command paces each tenant at the share kept for the operator commands, not at its whole ratePerMinute")
	}

	if n.VCC && cfg.Tenants == nil && cfg.TenantsBlob == "" {
		var src secrets.Source = secrets.Static(cfg.ClientSecret)
		if cfg.ClientSecret.IsZero() {
			cred, err := Credential(cfg)
			if err != nil {
				return nil, err
			}
			if src, err = secrets.NewKeyVault(cfg.KeyVaultURI, cfg.SecretName, cred, nil); err != nil {
				return nil, err
			}
		}
		o.VCCConfig = cfg.VCC
		o.VCCConfig.Secret = src
		o.VCCConfig.Logger = o.Log
		if o.Client, err = vcc.New(o.VCCConfig); err != nil {
			return nil, err
		}
	}

	switch {
	case !n.Sink && !n.State:
	case f.Out != "":
		o.Sink, o.State, o.Where = store.NewDir(f.Out), store.NewDirState(filepath.Join(f.Data, "state")), f.Out
	case cfg.RecordingsConnectionString != "" || cfg.RecordingsAccountURL != "":
		blobs, err := openBlobs(ctx, cfg, n.Write)
		if err != nil {
			return nil, err
		}
		o.Sink, o.State, o.Where = blobs, blobs.State(), "container "+cfg.RecordingsContainer
		if o.AzuriteDir != "" {
			o.Where += " (Azurite data in " + o.AzuriteDir + ")"
		}
	case n.Write:
		return nil, errors.New("nowhere to store recordings: give --out DIR, --azurite, RECORDINGS_CONNECTION_STRING or RECORDINGS_ACCOUNT_URL")
	case n.Sink:
		return nil, errors.New("no recordings to read: give --out DIR (a local export), RECORDINGS_CONNECTION_STRING or RECORDINGS_ACCOUNT_URL")
	default:
		// Only the state is used: the local one of "handler local".
		o.State, o.Where = store.NewDirState(filepath.Join(f.Data, "state")), filepath.Join(f.Data, "state")
	}

	if cfg.TenantsBlob != "" && !n.NoTenants {
		if cfg, err = tenantsFromBlob(ctx, cfg, n, env.get); err != nil {
			return nil, err
		}
		o.Config = cfg
	}
	if cfg.Tenants != nil {
		if err := o.selectTenant(f, n, cfg); err != nil {
			return nil, err
		}
	}

	if n.Queue {
		if cfg.ServiceBusNamespace != "" && n.Embedded == nil {
			cred, err := Credential(cfg)
			if err != nil {
				return nil, err
			}
			sb, err := queue.NewServiceBus(ctx, cfg.ServiceBusNamespace, cfg.Queue, cred, nil)
			if err != nil {
				return nil, err
			}
			o.Queue = sb
		} else {
			if err := os.MkdirAll(f.Data, 0o755); err != nil {
				return nil, err
			}
			eo := queue.EmbeddedOptions{LockDuration: 5 * time.Minute}
			if n.Embedded != nil {
				eo = *n.Embedded
			}
			if eo.MaxDeliveryCount == 0 {
				eo.MaxDeliveryCount = cfg.MaxAttempts
			}
			eq, err := queue.OpenEmbedded(filepath.Join(f.Data, "queue.db"), eo)
			if err != nil {
				return nil, err
			}
			o.Queue, o.Embedded = eq, eq
		}
		o.closers = append(o.closers, func() { _ = o.Queue.Close() })
	}
	return o, nil
}

// tenantsFromBlob is cfg with the tenants document the Function App serves
// (VCC_TENANTS_BLOB in the state container, read once, as livetenants
// reads it), so that the commands work on the deployment's tenants.
func tenantsFromBlob(ctx context.Context, cfg config.Config, n Need, getenv func(string) string) (config.Config, error) {
	if cfg.RecordingsConnectionString == "" && cfg.RecordingsAccountURL == "" {
		return cfg, errors.New("VCC_TENANTS_BLOB: the document is in the state container: give RECORDINGS_ACCOUNT_URL or RECORDINGS_CONNECTION_STRING")
	}
	blobs, err := openBlobs(ctx, cfg, false)
	if err != nil {
		return cfg, err
	}
	doc, _, err := livetenants.Load(ctx, blobs.State(), cfg.TenantsBlob, cfg.TenantHosts(false))
	if err != nil {
		return cfg, fmt.Errorf("VCC_TENANTS_BLOB: %w", err)
	}
	cfg, errs := cfg.WithTenants(doc, getenv)
	if n.VCC && len(errs) > 0 {
		return cfg, fmt.Errorf("VCC_TENANTS_BLOB: %w", errors.Join(errs...))
	}
	return cfg, nil
}

// openBlobs opens the recordings and state containers, creating them only
// for a run that writes on a connection string (Azurite): the operator
// commands read (and replay writes only to the queue).
func openBlobs(ctx context.Context, cfg config.Config, write bool) (*store.Blob, error) {
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

// withoutVCCSettings drops the complaints about VCC and Key Vault settings,
// for commands that do not call VCC.
func withoutVCCSettings(err error) error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var keep []error
	for _, e := range errs {
		msg := e.Error()
		if strings.HasPrefix(msg, "VCC_TENANTS_") && !strings.Contains(msg, "secretName:") {
			keep = append(keep, e) // which tenants there are matters to every command
			continue
		}
		if strings.HasPrefix(msg, "VCC_") || strings.HasPrefix(msg, "KEY_VAULT_URI") {
			continue
		}
		keep = append(keep, e)
	}
	return errors.Join(keep...)
}

// overlay is the process environment with local overrides on top.
type overlay struct {
	base func(string) string
	over map[string]string
}

func overlayEnv(base func(string) string) *overlay {
	return &overlay{base: base, over: map[string]string{}}
}
func (e *overlay) set(k, v string) { e.over[k] = v }
func (e *overlay) get(k string) string {
	if v, ok := e.over[k]; ok {
		return v
	}
	return e.base(k)
}

// ParseWhen reads a time given as RFC 3339 or as a UTC date (YYYY-MM-DD).
func ParseWhen(name, s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--%s: %q is neither RFC 3339 (2026-11-02T00:00:00Z) nor a date (2026-11-02)", name, s)
}

// ParseWindow reads --from and --to; both or neither.
func ParseWindow(from, to string) (time.Time, time.Time, error) {
	if (from == "") != (to == "") {
		return time.Time{}, time.Time{}, errors.New("--from and --to go together")
	}
	if from == "" {
		return time.Time{}, time.Time{}, nil
	}
	f, err := ParseWhen("from", from)
	if err != nil {
		return f, f, err
	}
	t, err := ParseWhen("to", to)
	if err != nil {
		return f, t, err
	}
	if !t.After(f) {
		return f, t, errors.New("--to must be after --from")
	}
	return f, t, nil
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

// StartProgress shows line() as a live line on a terminal (every 250 ms) and
// as a plain line every 10 s otherwise; the returned stop ends it.
func StartProgress(w io.Writer, line func() string) (stop func()) {
	isTTY := false
	if f, ok := w.(*os.File); ok {
		isTTY = term.IsTerminal(int(f.Fd()))
	}
	every := 10 * time.Second
	if isTTY {
		every = 250 * time.Millisecond
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				if isTTY {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			case <-tick.C:
				if isTTY {
					fmt.Fprint(w, "\r\033[K"+line())
				} else {
					fmt.Fprintln(w, line())
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// ParseArgs parses a command's flags; the commands take no positional
// argument.
func ParseArgs(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// UsageError reports a flag problem: exit status 2 (0 for -h).
func UsageError(err error, stderr io.Writer) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "error:", err)
	return 2
}

// SortedKeys are m's keys in order: output never depends on map order.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var (
	blobNamePattern  = regexp.MustCompile(`\d{4}/\d{2}/\d{2}/[0-9a-fA-F-]{36}/[^\s:]+`)
	byteCountPattern = regexp.MustCompile(`\d+ bytes`)
	guidPattern      = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
)

// ShortReason turns a failure message into a summary line: the same cause
// for many interactions reads as one line with a count.
func ShortReason(s string) string {
	if i := strings.Index(s, ": "); i > 0 && strings.HasPrefix(s, "ingest ") {
		s = s[i+2:]
	}
	s = blobNamePattern.ReplaceAllString(s, "<recording>")
	s = guidPattern.ReplaceAllString(s, "<interaction>")
	s = byteCountPattern.ReplaceAllString(s, "N bytes")
	// Keep the beginning (what was being done) and the end (the root cause).
	if r := []rune(s); len(r) > 90 {
		s = string(r[:34]) + " … " + string(r[len(r)-53:])
	}
	return s
}
