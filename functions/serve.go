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

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/vcc-ingest/vcc-ingest/functions/audit"
	"github.com/vcc-ingest/vcc-ingest/functions/discover"
	"github.com/vcc-ingest/vcc-ingest/functions/events"
	"github.com/vcc-ingest/vcc-ingest/functions/ingest"
	"github.com/vcc-ingest/vcc-ingest/shared/config"
	"github.com/vcc-ingest/vcc-ingest/shared/hostjson"
	"github.com/vcc-ingest/vcc-ingest/shared/logging"
	"github.com/vcc-ingest/vcc-ingest/shared/ops"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/report"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// shutdownGrace is how long in-flight invocations may finish after SIGTERM.
const shutdownGrace = 30 * time.Second

// runServe is the custom handler as the Functions host starts it.
func runServe(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
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
	cred, err := ops.Credential(cfg)
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
	a := ops.Adapters{Config: cfg, Log: log, Queue: q, Sink: blobs, State: blobs.State(), Deadline: hs.InvocationDeadline()}

	var h http.Handler
	if cfg.TenantsBlob != "" {
		// Read at the first invocation, not at start-up (cold start).
		h = tenantsServerOver(a, newLiveTenants(a, getenv, cred)).handler()
		log.Info("serving the tenants document", "document", cfg.TenantsBlob, "container", cfg.StateContainer, "refresh", cfg.TenantsRefresh.String())
	} else {
		if a.VCC, a.WebhookKey, err = singleTenant(cfg, cred, log); err != nil {
			return err
		}
		h = steps().Handler(a)
	}
	log.Info("invocation deadline", "deadline", hs.InvocationDeadline().String(), "functionTimeout", hs.FunctionTimeout.String(), "hostJson", hs.Path)
	addr := net.JoinHostPort("127.0.0.1", cfg.Port)
	return serve(ctx, addr, h, shutdownGrace, log, func(a string) {
		log.Info("custom handler listening", "addr", a)
	})
}

// singleTenant is the VCC client of the VCC_* settings and the webhook
// secret, each secret from its setting or else Key Vault (read at the first
// call, not at start-up).
func singleTenant(cfg config.Config, cred azcore.TokenCredential, log *slog.Logger) (*vcc.Client, secrets.Source, error) {
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

func discoverOptions(cfg config.Config, log *slog.Logger) discover.Options {
	return discover.Options{
		Lookback: cfg.DiscoverLookback,
		Overlap:  cfg.DiscoverOverlap,
		Settle:   cfg.DiscoverSettle,
		IsAudio:  cfg.IsAudio,
		Logger:   log,
		Tenant:   cfg.Tenant,
	}
}

// steps are the two steps wired as the product wires them, for the server
// here and for the packages under shared/ that run them (the local runner,
// backfill, bench), which may not import functions/.
func steps() ops.Steps {
	return ops.Steps{
		Discover: func(l ops.Lister, s ops.Sender, st store.State, cfg config.Config, log *slog.Logger) ops.Enqueuer {
			return discover.New(l, s, st, discoverOptions(cfg, log))
		},
		Handler: func(a ops.Adapters) http.Handler {
			if len(a.Tenants) > 0 {
				return tenantsServer(a).handler()
			}
			srv := &server{
				discover: discover.New(a.VCC, a.Queue, a.State, discoverOptions(a.Config, a.Log)),
				ingest: ingest.New(a.VCC, a.Sink, a.State, ingest.Options{IsAudio: a.Config.IsAudio, Logger: a.Log,
					Requeue: a.Queue, DeferralHorizon: a.Config.DeferralHorizon, PollHorizon: a.Config.WebhookPollHorizon}),
				audit: newAuditor(a),
				events: events.New(a.Queue, events.Options{Key: a.WebhookKey, Types: a.Config.WebhookEvents,
					Settle: a.Config.WebhookSettle, Logger: a.Log}),
				log:      a.Log,
				now:      time.Now,
				deadline: a.Deadline,
			}
			return srv.handler()
		},
	}
}

// ingestOptions are ingest's options over a tenant's settings and logger.
func ingestOptions(cfg config.Config, q ops.Sender, log *slog.Logger) ingest.Options {
	return ingest.Options{IsAudio: cfg.IsAudio, Logger: log, Requeue: q, DeferralHorizon: cfg.DeferralHorizon,
		PollHorizon: cfg.WebhookPollHorizon, Tenant: cfg.Tenant, PaceLimit: ingest.DefaultPaceLimit}
}

// tenantsServer is the custom handler over a tenants document: discover
// and audit run every tenant, ingest routes each message to its tenant's
// steps, and each tenant's webhooks arrive at /api/vcc/events/<id>.
func tenantsServer(a ops.Adapters) *server {
	steps := make([]*tenantSteps, 0, len(a.Tenants))
	for _, t := range a.Tenants {
		s := newTenantSteps(a, t)
		steps = append(steps, &s)
	}
	return tenantsServerOver(a, fixedTenants{newTenantSet("", steps)})
}

// tenantsServerOver is the custom handler serving the tenants src gives.
func tenantsServerOver(a ops.Adapters, src tenantSource) *server {
	td := &tenantsDiscover{tenants: src, log: a.Log, parallel: discoverParallel}
	router := &ingest.Tenants{Lookup: ingestLookup(src), State: a.State, Logger: a.Log,
		Requeue: a.Queue, DeferralHorizon: a.Config.DeferralHorizon}
	ta := &tenantsAudit{tenants: src, log: a.Log, parallel: auditParallel}
	return &server{discover: td, ingest: router, audit: ta, tenants: src, log: a.Log, now: time.Now, deadline: a.Deadline}
}

// newAuditor is the audit step over a's adapters; dead letters are counted
// when the queue can browse them (Service Bus and the embedded queue can).
func newAuditor(a ops.Adapters) *audit.Auditor {
	dead, _ := a.Queue.(report.Peeker)
	return audit.New(a.VCC, a.Sink, a.State, dead, audit.Options{
		Days: a.Config.AuditDays, OwnerUserID: a.Config.OwnerUserID, IsAudio: a.Config.IsAudio, Logger: a.Log,
	})
}
