package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/vcc-ingest/vcc-ingest/shared/config"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

// The operator commands (replay, backfill, doctor, report) run against the
// same settings as the product, from an operator's machine or a local run:
// VCC from VCC_* (or the in-process sandbox with --sandbox), the queue on
// Service Bus when ServiceBusConnection__fullyQualifiedNamespace is set and
// otherwise the embedded queue file of "handler local" (--data), the store
// in Blob Storage (RECORDINGS_*) or a local export (--out).

// opsFlags are the flags the operator commands share.
type opsFlags struct {
	data, out string
	sandbox   bool
	seed      int64
	perDay    int
	day       string
	days      int
	deny      string // doctor: sandbox permissions switched off
	grant     string // doctor: sandbox credential's scopes
}

func (f *opsFlags) dataFlag(fs *flag.FlagSet) {
	fs.StringVar(&f.data, "data", ".local", "directory of the embedded queue (queue.db) and local state of \"handler local\" (used when Service Bus is not configured)")
}

func (f *opsFlags) outFlag(fs *flag.FlagSet) {
	fs.StringVar(&f.out, "out", "", "the directory \"handler local --out\" exported recordings to (its state is under --data); default Blob Storage from RECORDINGS_*")
}

func (f *opsFlags) sandboxFlags(fs *flag.FlagSet, days int) {
	fs.BoolVar(&f.sandbox, "sandbox", false, "use the VCC sandbox, started in-process, as VCC (to try the command out)")
	fs.Int64Var(&f.seed, "seed", 1, "sandbox: seed of the generated contact centre (as given to handler local)")
	fs.IntVar(&f.perDay, "per-day", 200, "sandbox: interactions per day")
	fs.StringVar(&f.day, "day", "", fmt.Sprintf("sandbox: first generated day, YYYY-MM-DD (default %s)", map[bool]string{true: "yesterday, UTC", false: fmt.Sprintf("%d days ago, UTC", days)}[days == 1]))
	f.days = days
}

// sandboxStart is the sandbox's first day.
func (f *opsFlags) sandboxStart() (time.Time, error) {
	if f.day != "" {
		d, err := time.Parse(time.DateOnly, f.day)
		if err != nil {
			return d, fmt.Errorf("--day: %w", err)
		}
		return d, nil
	}
	return time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -f.days), nil
}

// need says what a command uses, so that settings it does not use are not required.
type need struct{ vcc, sink, state, queue bool }

// ops is an operator command's connection to the product's resources.
type ops struct {
	cfg    config.Config
	log    *slog.Logger
	sim    *vccsim.Sim
	client *vcc.Client
	vccCfg vcc.Config // with its secret source
	sink   store.Sink
	state  store.State
	q      queue.Queue
	where  string // the store, in words

	closers []func()
}

func (o *ops) Close() {
	for i := len(o.closers) - 1; i >= 0; i-- {
		o.closers[i]()
	}
}

// openOps connects what n asks for. Logs (JSON) go to logw at warning level:
// stdout is the command's output.
func openOps(ctx context.Context, f opsFlags, n need, simOpts vccsim.Options, stdout, logw io.Writer, getenv func(string) string) (_ *ops, err error) {
	o := &ops{log: slog.New(slog.NewJSONHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	defer func() {
		if err != nil {
			o.Close()
		}
	}()
	env := overlayEnv(getenv)
	if f.sandbox && n.vcc {
		start, err := f.sandboxStart()
		if err != nil {
			return nil, err
		}
		simOpts.Seed, simOpts.Start, simOpts.Days, simOpts.InteractionsPerDay = f.seed, start, f.days, f.perDay
		o.sim = vccsim.New(simOpts)
		if err := o.sim.Start(); err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		o.closers = append(o.closers, o.sim.Close)
		env.set("VCC_TOKEN_URL", o.sim.TokenURL())
		env.set("VCC_API_URL", o.sim.APIURL())
		env.set("VCC_CLIENT_ID", o.sim.ClientID())
		env.set("VCC_CLIENT_SECRET", o.sim.ClientSecret())
		env.set("KEY_VAULT_URI", "")
		fmt.Fprintf(stdout, "VCC sandbox at %s (seed %d, %d interactions a day, %s → %s)\n", o.sim.APIURL(), f.seed, f.perDay,
			start.Format(time.DateOnly), start.AddDate(0, 0, f.days).Format(time.DateOnly))
	}
	cfg, err := config.Load(env.get)
	if err != nil && !n.vcc {
		err = withoutVCCSettings(err)
	}
	if err != nil {
		return nil, fmt.Errorf("configuration:\n%w", err)
	}
	o.cfg = cfg

	if n.vcc {
		var src secrets.Source = secrets.Static(cfg.ClientSecret)
		if cfg.ClientSecret.IsZero() {
			cred, err := credential(cfg)
			if err != nil {
				return nil, err
			}
			if src, err = secrets.NewKeyVault(cfg.KeyVaultURI, cfg.SecretName, cred, nil); err != nil {
				return nil, err
			}
		}
		o.vccCfg = cfg.VCC
		o.vccCfg.Secret = src
		o.vccCfg.Logger = o.log
		if o.client, err = vcc.New(o.vccCfg); err != nil {
			return nil, err
		}
	}

	switch {
	case !n.sink && !n.state:
	case f.out != "":
		o.sink, o.state, o.where = store.NewDir(f.out), store.NewDirState(filepath.Join(f.data, "state")), f.out
	case cfg.RecordingsConnectionString != "" || cfg.RecordingsAccountURL != "":
		blobs, err := openBlobs(ctx, cfg)
		if err != nil {
			return nil, err
		}
		o.sink, o.state, o.where = blobs, blobs.State(), "container "+cfg.RecordingsContainer
	case n.sink:
		return nil, errors.New("no recordings to read: give --out DIR (a local export), RECORDINGS_CONNECTION_STRING or RECORDINGS_ACCOUNT_URL")
	default:
		// Only the state is used: the local one of "handler local".
		o.state, o.where = store.NewDirState(filepath.Join(f.data, "state")), filepath.Join(f.data, "state")
	}

	if n.queue {
		if cfg.ServiceBusNamespace != "" {
			cred, err := credential(cfg)
			if err != nil {
				return nil, err
			}
			sb, err := queue.NewServiceBus(ctx, cfg.ServiceBusNamespace, cfg.Queue, cred, nil)
			if err != nil {
				return nil, err
			}
			o.q = sb
		} else {
			if err := os.MkdirAll(f.data, 0o755); err != nil {
				return nil, err
			}
			eq, err := queue.OpenEmbedded(filepath.Join(f.data, "queue.db"), queue.EmbeddedOptions{
				LockDuration: 5 * time.Minute, MaxDeliveryCount: cfg.MaxAttempts,
			})
			if err != nil {
				return nil, err
			}
			o.q = eq
		}
		o.closers = append(o.closers, func() { _ = o.q.Close() })
	}
	return o, nil
}

// openBlobs opens the recordings and state containers without creating them:
// the operator commands read (and replay writes only to the queue).
func openBlobs(ctx context.Context, cfg config.Config) (*store.Blob, error) {
	bc := store.BlobConfig{
		ConnectionString: cfg.RecordingsConnectionString,
		AccountURL:       cfg.RecordingsAccountURL,
		Container:        cfg.RecordingsContainer,
		StateContainer:   cfg.StateContainer,
	}
	if cfg.RecordingsAccountURL != "" {
		cred, err := credential(cfg)
		if err != nil {
			return nil, err
		}
		bc.Credential = cred
	}
	return store.NewBlob(ctx, bc)
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
		if strings.HasPrefix(msg, "VCC_") || strings.HasPrefix(msg, "KEY_VAULT_URI") {
			continue
		}
		keep = append(keep, e)
	}
	return errors.Join(keep...)
}

// window reads --from and --to, which are required unless --sandbox gives
// the sandbox's own days.
func (f *opsFlags) window(from, to string) (time.Time, time.Time, error) {
	start, end, err := parseWindow(from, to)
	if err != nil || !start.IsZero() {
		return start, end, err
	}
	if !f.sandbox {
		return start, end, errors.New("--from and --to are required")
	}
	if start, err = f.sandboxStart(); err != nil {
		return start, end, err
	}
	return start, start.AddDate(0, 0, f.days), nil
}

// parseWhen reads a time given as RFC 3339 or as a UTC date (YYYY-MM-DD).
func parseWhen(name, s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--%s: %q is neither RFC 3339 (2026-11-02T00:00:00Z) nor a date (2026-11-02)", name, s)
}

// parseWindow reads --from and --to; both or neither.
func parseWindow(from, to string) (time.Time, time.Time, error) {
	if (from == "") != (to == "") {
		return time.Time{}, time.Time{}, errors.New("--from and --to go together")
	}
	if from == "" {
		return time.Time{}, time.Time{}, nil
	}
	f, err := parseWhen("from", from)
	if err != nil {
		return f, f, err
	}
	t, err := parseWhen("to", to)
	if err != nil {
		return f, t, err
	}
	if !t.After(f) {
		return f, t, errors.New("--to must be after --from")
	}
	return f, t, nil
}

// startProgress shows line() as a live line on a terminal (every 250 ms) and
// as a plain line every 10 s otherwise; the returned stop ends it.
func startProgress(w io.Writer, line func() string) (stop func()) {
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

// usageError reports a flag problem: exit status 2 (0 for -h).
func usageError(err error, stderr io.Writer) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "error:", err)
	return 2
}
