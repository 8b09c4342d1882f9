package tenancy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/records"
)

type fakeTenantDiscover struct {
	found int
	err   error
	ran   atomic.Int32
}

func (f *fakeTenantDiscover) Run(ctx context.Context, now time.Time, pastDue bool) (records.Run, error) {
	f.ran.Add(1)
	return records.Run{Found: f.found, Enqueued: f.found}, f.err
}

// Each tick runs every tenant; one failing tenant stops none of the others,
// and the tick fails naming it.
func TestDiscoverEveryTenantEachTick(t *testing.T) {
	ok1, bad, ok2 := &fakeTenantDiscover{found: 3}, &fakeTenantDiscover{err: errors.New("token: 401 invalid_client")}, &fakeTenantDiscover{found: 4}
	td := &Discover{Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Parallel: 2,
		Tenants: Fixed{NewSet("", []*Steps{{ID: "acme", Discover: ok1}, {ID: "globex", Discover: bad}, {ID: "initech", Discover: ok2}})}}
	run, err := td.Run(context.Background(), time.Now(), false)
	if err == nil || !strings.Contains(err.Error(), "tenant globex: token: 401") {
		t.Fatalf("err = %v, want it to name globex and why", err)
	}
	if ok1.ran.Load() != 1 || bad.ran.Load() != 1 || ok2.ran.Load() != 1 {
		t.Errorf("runs: %d %d %d", ok1.ran.Load(), bad.ran.Load(), ok2.ran.Load())
	}
	if run.Found != 7 || run.Enqueued != 7 || len(run.Tenants) != 3 || run.Tenants[1].Tenant != "globex" || run.Tenants[1].Error == "" || !strings.Contains(run.Error, "1 of 3 tenants failed: globex") {
		t.Errorf("run = %+v", run)
	}
	bad.err = nil
	if _, err := td.Run(context.Background(), time.Now(), false); err != nil {
		t.Errorf("all well: %v", err)
	}
}
