package ops

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/config"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/records"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// Steps is how the commands, the local runner and the bench reach the
// product's steps (functions/discover, functions/ingest) without importing
// them: package main builds them and passes this in.
type Steps struct {
	// Discover is discovery over l, s and st with the options cfg gives.
	Discover func(l Lister, s Sender, st store.State, cfg config.Config, log *slog.Logger) Enqueuer
	// Handler is the custom handler (the Functions server) over a.
	Handler func(a Adapters) http.Handler
}

// Adapters are what the custom handler's steps run over.
type Adapters struct {
	Config config.Config
	Log    *slog.Logger
	VCC    *vcc.Client
	Queue  Sender
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

// Lister is what discovery needs of VCC.
type Lister interface {
	ListInteractions(ctx context.Context, start, end time.Time, fn func(vcc.Interaction) error) error
	ListStats(ctx context.Context, start, end time.Time, fn func(vcc.Stats) error) error
}

// Sender is what discovery needs of the queue.
type Sender interface {
	SendBatch(ctx context.Context, msgs []queue.Outgoing) error
}

// Enqueuer discovers one window, leaving discover's checkpoint alone.
type Enqueuer interface {
	Enqueue(ctx context.Context, start, end time.Time, source string, now time.Time) (records.Run, error)
}
