package startup

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/budget"
	"github.com/vcc-ingest/vcc-ingest/shared/config"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/tenants"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
	"github.com/vcc-ingest/vcc-ingest/shared/vccsim"
)

func startSim(t *testing.T) *vccsim.Sim {
	t.Helper()
	sim := vccsim.New(vccsim.Options{Seed: 1, Start: time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1), InteractionsPerDay: 5})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim
}

// takeBudget books the account's whole budget from elsewhere, as the
// deployment's other processes do.
func takeBudget(t *testing.T, st store.State, tenant string, perMinute int) {
	t.Helper()
	other, err := budget.New(st, tenant, perMinute, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range perMinute {
		if _, err := other.Reserve(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// listOnce makes one API call, giving up after a second.
func listOnce(c *vcc.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	now := time.Now().UTC()
	return c.ListInteractions(ctx, now.Add(-time.Hour), now, func(vcc.Interaction) error { return nil })
}

// A tenant's client books its calls in the shared budget of its account,
// at its whole ratePerMinute: when the deployment's other processes have
// taken it, the call waits rather than going over.
func TestNewTenantPacesThroughTheSharedBudget(t *testing.T) {
	sim := startSim(t)
	st := store.NewDirState(t.TempDir())
	cfg := config.Config{TenantSecrets: map[string]secrets.Secret{"acme": secrets.New(sim.ClientSecret())}}
	tn := tenants.Tenant{ID: "acme", Region: "emea", ClientID: sim.ClientID(), SecretName: "s", RatePerMinute: 5,
		TokenURL: sim.TokenURL(), APIURL: sim.APIURL()}
	a, err := NewTenant(cfg, tn, TenantBase{Log: slog.New(slog.DiscardHandler), VCC: true, Budget: st})
	if err != nil {
		t.Fatal(err)
	}
	if err := listOnce(a.VCC); err != nil {
		t.Fatalf("a call with the budget free: %v", err)
	}
	if _, _, found, err := st.Load(context.Background(), "budget/acme.json"); err != nil || !found {
		t.Fatalf("budget/acme.json: found %v, %v: the call was not booked in the shared budget", found, err)
	}
	takeBudget(t, st, "acme", 5)
	if err := listOnce(a.VCC); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a call with the account's budget taken elsewhere: %v, want it held (deadline exceeded)", err)
	}
	if w := a.VCC.PacerWait(); w < 10*time.Second {
		t.Errorf("PacerWait %s with the budget taken: want the next slot's distance", w)
	}
}

// The single account is booked as "default", at VCC_RATE_PER_MINUTE.
func TestSingleTenantPacesThroughTheSharedBudget(t *testing.T) {
	sim := startSim(t)
	st := store.NewDirState(t.TempDir())
	cfg := config.Config{ClientSecret: secrets.New(sim.ClientSecret())}
	cfg.VCC = vcc.Config{TokenURL: sim.TokenURL(), APIURL: sim.APIURL(), ClientID: sim.ClientID(), RatePerMinute: 4}
	c, _, err := SingleTenant(cfg, nil, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	takeBudget(t, st, "default", 4)
	if err := listOnce(c); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a call with the account's budget taken elsewhere: %v, want it held (deadline exceeded)", err)
	}
}

// Without a state to book in, the client paces in this process alone.
func TestPacerWithoutStateIsInProcess(t *testing.T) {
	p, err := Pacer(nil, "acme", 10, nil)
	if err != nil || p != nil {
		t.Fatalf("Pacer(nil state) = %v, %v; want none (the client's own)", p, err)
	}
	if _, err := Pacer(store.NewDirState(t.TempDir()), "Not A Tenant", 10, nil); err == nil {
		t.Error("a tenant id the budget cannot name was accepted")
	}
}
