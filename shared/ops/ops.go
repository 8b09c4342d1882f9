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
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/vcc-ingest/vcc-ingest/shared/config"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/startup"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
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
	Days      int // sandbox days (and the default --day's distance from today)
	// SandboxDays, when set, is how many days the sandbox holds instead
	// of Days (the local schedule: yesterday and today).
	SandboxDays int
	Deny        string // sandbox: feature permissions switched off
	Grant       string // sandbox: the credential's scopes
	Faults      string // sandbox: misbehaviour to inject
	From, To    string
	// Webhooks: the sandbox sends the signed channel events of live calls
	// (one every CallEvery) to this URL, each call's recording appearing
	// ProcessingDelay after it ends.
	Webhooks        string
	CallEvery       time.Duration
	ProcessingDelay time.Duration
	// Tenant picks one tenant of the tenants document (--tenant), required
	// when it has more than one; SandboxTenants is --sandbox-tenants: the sandbox
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

// sandboxDays is how many days the sandbox holds.
func (f *Flags) sandboxDays() int {
	if f.SandboxDays > 0 {
		return f.SandboxDays
	}
	return f.Days
}

// WindowFlags registers --from and --to with the command's own wording.
func (f *Flags) WindowFlags(fs *flag.FlagSet, fromUsage, toUsage string) {
	fs.StringVar(&f.From, "from", "", fromUsage)
	fs.StringVar(&f.To, "to", "", toUsage)
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
	// above are the one tenant --tenant names.
	Tenants []startup.Tenant
	// sandboxes are the VCC sandboxes --sandbox started (none in the
	// deployed build).
	sandboxes
	// budget is where VCC calls are booked (budgetState); nil: in-process.
	budget store.State

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
func Open(ctx context.Context, f Flags, n Need, stdout, logw io.Writer, getenv func(string) string) (_ *Env, err error) {
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
	if err := o.startSandbox(f, n, env, stdout); err != nil {
		return nil, err
	}
	if err := o.launchAzurite(ctx, f, n, env, stdout); err != nil {
		return nil, err
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
	switch {
	case !n.Sink && !n.State:
	case f.Out != "":
		o.Sink, o.State, o.Where = store.NewDir(f.Out), store.NewDirState(filepath.Join(f.Data, "state")), f.Out
	case cfg.RecordingsConnectionString != "" || cfg.RecordingsAccountURL != "":
		blobs, err := startup.OpenBlobs(ctx, cfg, n.Write)
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

	if o.budget, err = o.budgetState(ctx, f, n, cfg); err != nil {
		return nil, err
	}
	if n.VCC && cfg.Tenants == nil && cfg.TenantsBlob == "" {
		var src secrets.Source = secrets.Static(cfg.ClientSecret)
		if cfg.ClientSecret.IsZero() {
			cred, err := startup.Credential(cfg)
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
		if o.VCCConfig.Pacer, err = startup.Pacer(o.budget, "", o.VCCConfig.RatePerMinute, o.Log); err != nil {
			return nil, err
		}
		if o.Client, err = vcc.New(o.VCCConfig); err != nil {
			return nil, err
		}
	}

	if cfg.TenantsBlob != "" && !n.NoTenants {
		if cfg, err = startup.TenantsFromBlob(ctx, cfg, n.VCC, env.get); err != nil {
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
			cred, err := startup.Credential(cfg)
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

// Status is a command's exit status for err: 0 for none, 1 with the error
// on stderr otherwise.
func Status(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "error:", err)
	return 1
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
