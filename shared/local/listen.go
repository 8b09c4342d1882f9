package local

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

	"github.com/vcc-ingest/vcc-ingest/shared/devhost"
	"github.com/vcc-ingest/vcc-ingest/shared/inbound"
	"github.com/vcc-ingest/vcc-ingest/shared/ops"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
	"github.com/vcc-ingest/vcc-ingest/shared/webhook"
)

// EventsPath is the events function's path: VCC posts to it, or with a
// tenants document to EventsPath/<tenant>.
const EventsPath = "/api/vcc/events"

// EventsFunction is the events function as the host routes it
// (functions/events/function.json: POST, route vcc/events/{tenant?}, prefix api).
var EventsFunction = devhost.HTTPFunction{Name: "events", Method: http.MethodPost, Path: EventsPath + "/{tenant?}"}

// listen serves --listen through the host stand-in, and with the sandbox
// starts its live calls, their webhooks sent to --sandbox-webhooks or, by
// default, to the address served. The returned stop ends both.
func listen(ctx context.Context, host *devhost.Host, env *ops.Env, o Options, stdout io.Writer, log *slog.Logger) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	url := o.Webhooks
	if o.Listen != "" {
		ln, err := net.Listen("tcp", o.Listen)
		if err != nil {
			return stop, fmt.Errorf("--listen: %w", err)
		}
		// Bounded as the Function App's server: a webhook's body is read within seconds.
		srv := inbound.Server(inbound.Limit(host.HTTPHandler(EventsFunction), webhook.MaxBody, 3*time.Second))
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("webhook listener stopped", "error", err)
			}
		}()
		stops = append(stops, func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		})
		served := "http://" + ln.Addr().String() + EventsPath
		if len(env.Tenants) > 0 {
			fmt.Fprintf(stdout, "Webhooks: POST %s/<tenant> (signature: the tenant's VCC_WEBHOOK_SECRET_<ID>)\n", served)
		} else if env.Sim != nil && env.Config.WebhookSecret.Reveal() == vccsim.DefaultWebhookSecret {
			fmt.Fprintf(stdout, "Webhooks: POST %s (signature: the sandbox's own webhook secret, VCC_WEBHOOK_SECRET being unset; set it to use yours)\n", served)
		} else {
			fmt.Fprintf(stdout, "Webhooks: POST %s (signature: VCC_WEBHOOK_SECRET)\n", served)
		}
		if url == "" {
			url = served
		}
	}
	if len(env.Sims) > 0 && url != "" {
		// Each sandbox account is a tenant's VCC: its subscription posts to
		// that tenant's path, signed with that tenant's own secret.
		for _, t := range env.Tenants {
			sim := env.Sims[t.ID]
			if sim == nil {
				continue
			}
			cctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			w := vccsim.Webhooks{URL: strings.TrimSuffix(url, "/") + "/" + t.ID, Secret: t.Config.WebhookSecret.Reveal(), ProcessingDelay: o.ProcessingDelay}
			go func() {
				defer close(done)
				sim.RunCalls(cctx, w, o.CallEvery, func(c vccsim.Call) {
					t.Log.Info("sandbox call ended", "interactionId", c.GUID, "recordingAt", c.AvailableAt, "eventsDelivered", c.Delivered, "eventsRefused", c.Refused)
				})
			}()
			stops = append(stops, func() { cancel(); <-done })
		}
		fmt.Fprintf(stdout, "Sandbox: each account ends a live call every %s, its webhooks to %s/<tenant>, its recording in VCC %s later\n", o.CallEvery, strings.TrimSuffix(url, "/"), o.ProcessingDelay)
	}
	if env.Sim != nil && url != "" {
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		// Signed with the secret the events function verifies with.
		w := vccsim.Webhooks{URL: url, Secret: env.Config.WebhookSecret.Reveal(), ProcessingDelay: o.ProcessingDelay}
		go func() {
			defer close(done)
			env.Sim.RunCalls(cctx, w, o.CallEvery, func(c vccsim.Call) {
				log.Info("sandbox call ended", "interactionId", c.GUID, "recordingAt", c.AvailableAt, "eventsDelivered", c.Delivered, "eventsRefused", c.Refused)
			})
		}()
		stops = append(stops, func() { cancel(); <-done })
		fmt.Fprintf(stdout, "Sandbox: a live call ends every %s, its webhooks to %s, its recording in VCC %s later\n", o.CallEvery, url, o.ProcessingDelay)
	}
	return stop, nil
}
