package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/vcc-ingest/vcc-ingest/functions/discover"
	"github.com/vcc-ingest/vcc-ingest/functions/ingest"
	"github.com/vcc-ingest/vcc-ingest/shared/config"
	"github.com/vcc-ingest/vcc-ingest/shared/hostjson"
	"github.com/vcc-ingest/vcc-ingest/shared/logging"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// shutdownGrace is how long in-flight invocations may finish after SIGTERM.
const shutdownGrace = 30 * time.Second

// runServe is the custom handler as the Functions host starts it.
func runServe(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	log := logging.New(stdout, stderr, slog.LevelInfo)
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	if err := cfg.RequireAzure(); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	hs, err := hostjson.Find(getenv)
	if err != nil {
		return err
	}
	cred, err := credential(cfg)
	if err != nil {
		return err
	}
	var src secrets.Source = secrets.Static(cfg.ClientSecret)
	if cfg.ClientSecret.IsZero() {
		kv, err := secrets.NewKeyVault(cfg.KeyVaultURI, cfg.SecretName, cred, nil)
		if err != nil {
			return err
		}
		src = kv
	}
	vccCfg := cfg.VCC
	vccCfg.Secret = src
	vccCfg.Logger = log
	client, err := vcc.New(vccCfg)
	if err != nil {
		return err
	}
	blobs, err := store.NewBlob(ctx, store.BlobConfig{
		ConnectionString: cfg.RecordingsConnectionString,
		AccountURL:       cfg.RecordingsAccountURL,
		Credential:       cred,
		Container:        cfg.RecordingsContainer,
		StateContainer:   cfg.StateContainer,
	})
	if err != nil {
		return err
	}
	q, err := queue.NewServiceBus(ctx, cfg.ServiceBusNamespace, cfg.Queue, cred, nil)
	if err != nil {
		return err
	}
	defer q.Close()

	srv := &server{
		discover: discover.New(client, q, blobs.State(), discoverOptions(cfg, log)),
		ingest:   ingest.New(client, blobs, blobs.State(), ingest.Options{IsAudio: cfg.IsAudio, Logger: log, Requeue: q, DeferralHorizon: cfg.DeferralHorizon}),
		log:      log,
		now:      time.Now,
		deadline: hs.InvocationDeadline(),
	}
	log.Info("invocation deadline", "deadline", hs.InvocationDeadline().String(), "functionTimeout", hs.FunctionTimeout.String(), "hostJson", hs.Path)
	addr := net.JoinHostPort("127.0.0.1", cfg.Port)
	return serve(ctx, addr, srv.handler(), shutdownGrace, log, func(a string) {
		log.Info("custom handler listening", "addr", a)
	})
}

func discoverOptions(cfg config.Config, log *slog.Logger) discover.Options {
	return discover.Options{
		Lookback: cfg.DiscoverLookback,
		Overlap:  cfg.DiscoverOverlap,
		Settle:   cfg.DiscoverSettle,
		IsAudio:  cfg.IsAudio,
		Logger:   log,
	}
}

// credential is the app's managed identity: the user-assigned one named by
// AZURE_CLIENT_ID, or the default chain (developer sign-in) when unset.
func credential(cfg config.Config) (azcore.TokenCredential, error) {
	if cfg.AzureClientID != "" {
		return azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
			ID: azidentity.ClientID(cfg.AzureClientID),
		})
	}
	return azidentity.NewDefaultAzureCredential(nil)
}

// handlerProcess runs the custom handler's server inside this process for
// "handler local", standing for the process the Functions host starts and,
// after a timeout, kills and starts again.
type handlerProcess struct {
	handler http.Handler
	log     *slog.Logger

	srv    *http.Server
	cancel context.CancelFunc // of the invocations' base context
	done   chan struct{}
}

// start serves on a new loopback port and returns its base URL.
func (p *handlerProcess) start() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	base, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan struct{})
	p.srv = &http.Server{
		Handler:           p.handler,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	go func() {
		defer close(p.done)
		_ = p.srv.Serve(ln)
	}()
	return "http://" + ln.Addr().String(), nil
}

// stop ends the server: grace lets in-flight invocations finish (a
// shutdown); past it, or with zero, they are cut as in a killed process:
// their work is cancelled and commits nothing.
func (p *handlerProcess) stop(grace time.Duration) {
	if p.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := p.srv.Shutdown(ctx); err != nil {
		if grace > 0 {
			p.log.Warn("in-flight invocations abandoned", "error", err)
		}
		p.cancel()
		_ = p.srv.Close()
	}
	p.cancel()
	<-p.done
	p.srv = nil
}
