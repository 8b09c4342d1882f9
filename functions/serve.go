package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/config"
	"github.com/vcc-ingest/vcc-ingest/shared/customhandler"
	"github.com/vcc-ingest/vcc-ingest/shared/hostjson"
	"github.com/vcc-ingest/vcc-ingest/shared/inbound"
	"github.com/vcc-ingest/vcc-ingest/shared/logging"
	"github.com/vcc-ingest/vcc-ingest/shared/ops"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/tenancy"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/startup"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
)

// shutdownGrace is how long in-flight invocations may finish after SIGTERM.
const shutdownGrace = 30 * time.Second

// runServe is the custom handler as the Functions host starts it.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "error: serve takes no arguments (got %q); its settings come from the environment\n", args[0])
		return 2
	}
	return ops.Status(serve(ctx, getenv, stdout, stderr), stderr)
}

// serve builds the custom handler from the settings and serves it until ctx
// ends.
func serve(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	log := logging.New(stdout, stderr, slog.LevelInfo)
	if strings.TrimSpace(getenv("VCC_TENANTS_FILE")) != "" {
		// A file in the package would need a redeploy to add a tenant.
		return errors.New("configuration:\nVCC_TENANTS_FILE: for local runs and the operator commands; the Function App serves the tenants document in the state container: set VCC_TENANTS_BLOB (e.g. tenants.json) instead and upload the document with handler tenants push")
	}
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
	cred, err := startup.Credential(cfg)
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
	a := startup.Adapters{Config: cfg, Log: log, Queue: q, Sink: blobs, State: blobs.State(), Deadline: hs.InvocationDeadline()}

	var h http.Handler
	if cfg.TenantsBlob != "" {
		// Read at the first invocation, not at start-up (cold start).
		h = customhandler.Over(a, tenancy.NewLive(a, getenv, cred))
		log.Info("serving the tenants document", "document", cfg.TenantsBlob, "container", cfg.StateContainer, "refresh", cfg.TenantsRefresh.String())
	} else {
		if a.VCC, a.WebhookKey, err = startup.SingleTenant(cfg, cred, a.State, log); err != nil {
			return err
		}
		h = customhandler.New(a)
	}
	log.Info("invocation deadline", "deadline", hs.InvocationDeadline().String(), "functionTimeout", hs.FunctionTimeout.String(), "hostJson", hs.Path)
	addr := net.JoinHostPort("127.0.0.1", cfg.Port)
	return listen(ctx, addr, h, shutdownGrace, log, func(a string) {
		log.Info("custom handler listening", "addr", a)
	})
}

// listen serves h on addr until ctx ends, then stops accepting, lets in-flight
// invocations finish for up to grace, and cancels what remains (an unfinished
// copy commits nothing and its message is redelivered).
func listen(ctx context.Context, addr string, h http.Handler, grace time.Duration, log *slog.Logger, ready func(addr string)) error {
	base, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := inbound.Server(h) // headers, bodies and idle connections bounded
	srv.Addr = addr
	srv.BaseContext = func(net.Listener) context.Context { return base }
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight invocations", "grace", grace)
	sctx, scancel := context.WithTimeout(context.Background(), grace)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("in-flight invocations abandoned", "error", err)
		cancel()
		_ = srv.Close()
	}
	return nil
}
