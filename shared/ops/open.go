package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/config"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/startup"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// The constructors each command composes, in this order: begin (the
// sandbox and the settings), then openStore, openAccounts (the tenants and,
// for a command that calls VCC, their clients, booking in the account's
// budget where the store is) and openQueue as the command uses them. Open
// is their composition for the local runner.

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
	// Tenants, with a tenants document, are every tenant's adapters when
	// all of them were opened; otherwise Config, Client, Sink and State
	// above are the one tenant --tenant names, and Tenants is that one.
	Tenants []startup.Tenant
	// sandboxes are the VCC sandboxes --sandbox started (none in the
	// deployed build).
	sandboxes
	// budget is where VCC calls are booked (budgetState); nil: in-process.
	budget store.State

	env     *overlay // the settings, with the sandbox's and Azurite's on top
	closers []func()
}

// Close releases what the constructors opened, in reverse order.
func (o *Env) Close() {
	for i := len(o.closers) - 1; i >= 0; i-- {
		o.closers[i]()
	}
	o.closers = nil
}

// newEnv is an Env with nothing open: logs (JSON) go to logw at warning
// level unless log is given, since stdout is the command's output.
func newEnv(log *slog.Logger, logw io.Writer, getenv func(string) string) *Env {
	if log == nil {
		log = slog.New(slog.NewJSONHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return &Env{Log: log, env: overlayEnv(getenv)}
}

// begin is what every command starts with: the sandbox (--sandbox, for a
// command that calls VCC) and the settings. The Env it returns is never
// nil: Close it, also after an error.
func begin(f Flags, callsVCC bool, stdout, logw io.Writer, getenv func(string) string) (*Env, error) {
	o := newEnv(nil, logw, getenv)
	if err := o.startSandbox(f, callsVCC, stdout); err != nil {
		return o, err
	}
	return o, o.loadConfig(callsVCC)
}

// loadConfig reads the settings. A command that calls no VCC is not held
// up by VCC's and Key Vault's.
func (o *Env) loadConfig(callsVCC bool) error {
	cfg, err := config.Load(o.env.get)
	if err != nil && !callsVCC {
		err = withoutVCCSettings(err)
	}
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	o.Config = cfg
	return nil
}

// requireStaticSecret refuses to go on without VCC_CLIENT_SECRET or a
// tenants document: a local run does not read Key Vault.
func (o *Env) requireStaticSecret() error {
	if o.env.get("VCC_CLIENT_SECRET") == "" && o.env.get("VCC_TENANTS_FILE") == "" && o.env.get("VCC_TENANTS_BLOB") == "" {
		return errors.New("VCC_CLIENT_SECRET: required for a local run (or use --sandbox)")
	}
	return nil
}

// openVCC makes the client of the VCC_* settings, its secret from
// VCC_CLIENT_SECRET or else Key Vault; with a tenants document each tenant
// has its own (openTenants) and this makes none.
func (o *Env) openVCC() error {
	cfg := o.Config
	if cfg.Tenants != nil || cfg.TenantsBlob != "" {
		return nil
	}
	var src secrets.Source = secrets.Static(cfg.ClientSecret)
	if cfg.ClientSecret.IsZero() {
		cred, err := startup.Credential(cfg)
		if err != nil {
			return err
		}
		if src, err = secrets.NewKeyVault(cfg.KeyVaultURI, cfg.SecretName, cred, nil); err != nil {
			return err
		}
	}
	vc := cfg.VCC
	vc.Secret, vc.Logger = src, o.Log
	var err error
	if vc.Pacer, err = startup.Pacer(o.budget, "", vc.RatePerMinute, o.Log); err != nil {
		return err
	}
	client, err := vcc.New(vc)
	if err != nil {
		return err
	}
	o.Client, o.VCCConfig = client, vc
	return nil
}

// storeUse is what a command does with the store.
type storeUse int

const (
	// stateOnly: the state, the local one under --data when no store is
	// configured.
	stateOnly storeUse = iota
	// readRecordings: the recordings and their state.
	readRecordings
	// writeRecordings: "handler local" writes recordings, creating the
	// containers on a connection string (Azurite).
	writeRecordings
)

// openStore opens the store: the local export of --out, else Blob Storage
// (RECORDINGS_*).
func (o *Env) openStore(ctx context.Context, f Flags, use storeUse) error {
	cfg := o.Config
	switch {
	case f.Out != "":
		o.Sink, o.State, o.Where = store.NewDir(f.Out), store.NewDirState(filepath.Join(f.Data, "state")), f.Out
	case cfg.RecordingsConnectionString != "" || cfg.RecordingsAccountURL != "":
		blobs, err := startup.OpenBlobs(ctx, cfg, use == writeRecordings)
		if err != nil {
			return err
		}
		o.Sink, o.State, o.Where = blobs, blobs.State(), "container "+cfg.RecordingsContainer
		if o.AzuriteDir != "" {
			o.Where += " (Azurite data in " + o.AzuriteDir + ")"
		}
	case use == writeRecordings:
		return errors.New("nowhere to store recordings: give --out DIR, --azurite, RECORDINGS_CONNECTION_STRING or RECORDINGS_ACCOUNT_URL")
	case use == readRecordings:
		return errors.New("no recordings to read: give --out DIR (a local export), RECORDINGS_CONNECTION_STRING or RECORDINGS_ACCOUNT_URL")
	default:
		o.State, o.Where = store.NewDirState(filepath.Join(f.Data, "state")), filepath.Join(f.Data, "state")
	}
	return nil
}

// openAccounts opens the VCC accounts the command works on, over the store
// opened so far: with a tenants document (VCC_TENANTS_BLOB read here) every
// tenant's adapters with all, otherwise the one --tenant names; without
// one, the single account of the VCC_* settings. With callsVCC each gets
// its VCC client, booking its calls in its account's budget (budgetState).
func (o *Env) openAccounts(ctx context.Context, f Flags, callsVCC, all bool) error {
	if callsVCC {
		var err error
		if o.budget, err = o.budgetState(ctx, f); err != nil {
			return err
		}
		if err := o.openVCC(); err != nil {
			return err
		}
	}
	if o.Config.TenantsBlob != "" {
		cfg, err := startup.TenantsFromBlob(ctx, o.Config, callsVCC, o.env.get)
		if err != nil {
			return err
		}
		o.Config = cfg
	}
	if o.Config.Tenants == nil {
		return nil
	}
	return o.selectTenant(f, callsVCC, all, o.Config)
}

// openQueue opens the queue: Service Bus when its namespace is set and
// embedded is nil, otherwise the embedded queue under --data (embedded's
// options; MaxDeliveryCount zero: INGEST_MAX_ATTEMPTS).
func (o *Env) openQueue(ctx context.Context, f Flags, embedded *queue.EmbeddedOptions) error {
	cfg := o.Config
	if cfg.ServiceBusNamespace != "" && embedded == nil {
		cred, err := startup.Credential(cfg)
		if err != nil {
			return err
		}
		sb, err := queue.NewServiceBus(ctx, cfg.ServiceBusNamespace, cfg.Queue, cred, nil)
		if err != nil {
			return err
		}
		o.Queue = sb
	} else {
		if err := os.MkdirAll(f.Data, 0o755); err != nil {
			return err
		}
		eo := queue.EmbeddedOptions{LockDuration: 5 * time.Minute}
		if embedded != nil {
			eo = *embedded
		}
		if eo.MaxDeliveryCount == 0 {
			eo.MaxDeliveryCount = cfg.MaxAttempts
		}
		eq, err := queue.OpenEmbedded(filepath.Join(f.Data, "queue.db"), eo)
		if err != nil {
			return err
		}
		o.Queue, o.Embedded = eq, eq
	}
	o.closers = append(o.closers, func() { _ = o.Queue.Close() })
	return nil
}

// Need is what the local runner (and a test standing in for it) opens
// through Open.
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
}

// Open composes the constructors as n asks, in their order.
func Open(ctx context.Context, f Flags, n Need, stdout, logw io.Writer, getenv func(string) string) (_ *Env, err error) {
	o := newEnv(n.Log, logw, getenv)
	defer func() {
		if err != nil {
			o.Close()
		}
	}()
	if err := o.startSandbox(f, n.VCC, stdout); err != nil {
		return nil, err
	}
	if err := o.launchAzurite(ctx, f, n.Azurite, stdout); err != nil {
		return nil, err
	}
	if n.StaticSecret {
		if err := o.requireStaticSecret(); err != nil {
			return nil, err
		}
	}
	if err := o.loadConfig(n.VCC); err != nil {
		return nil, err
	}
	if n.Sink || n.State {
		use := stateOnly
		switch {
		case n.Write:
			use = writeRecordings
		case n.Sink:
			use = readRecordings
		}
		if err := o.openStore(ctx, f, use); err != nil {
			return nil, err
		}
	}
	if err := o.openAccounts(ctx, f, n.VCC, n.AllTenants); err != nil {
		return nil, err
	}
	if n.Queue {
		if err := o.openQueue(ctx, f, n.Embedded); err != nil {
			return nil, err
		}
	}
	return o, nil
}
