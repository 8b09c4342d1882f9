package local

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/ops"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/discover"
	"github.com/vcc-ingest/vcc-ingest/shared/pipeline/tenancy"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/startup"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
)

// runTenants is a local run's view of its tenants: without a tenants
// document the one tenant of the VCC_* settings (sink and state as
// opened), with one each tenant's prefix of them, and the tenants whose
// work failed with why.
type runTenants struct {
	tenants []startup.Tenant
	ids     []string
	byID    map[string]startup.Tenant
	sinkAll store.Sink
	root    store.State

	mu       sync.Mutex
	failures map[string]string
}

func newRunTenants(ts []startup.Tenant, sink store.Sink, state store.State) *runTenants {
	s := &runTenants{tenants: ts, byID: map[string]startup.Tenant{}, sinkAll: sink, root: state, failures: map[string]string{}}
	for _, t := range ts {
		s.ids = append(s.ids, t.ID)
		s.byID[t.ID] = t
	}
	return s
}

// sink is the sink of a message's tenant (nil for a tenant not served).
func (s *runTenants) sink(tenant string) store.Sink {
	if len(s.tenants) == 0 {
		return s.sinkAll
	}
	if t, ok := s.byID[tenant]; ok {
		return t.Sink
	}
	return nil
}

// state is the state of a message's tenant; the deployment's own for a
// tenant not served (where its failure record is).
func (s *runTenants) state(tenant string) store.State {
	if t, ok := s.byID[tenant]; ok && len(s.tenants) > 0 {
		return t.State
	}
	return s.root
}

func (s *runTenants) fail(id string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[id] = ops.ShortReason(err.Error())
}

// failDeadLettered notes each served tenant with dead letters as failing,
// unless its discovery already failed.
func (s *runTenants) failDeadLettered(dead []DeadLetter) {
	n := map[string]int{}
	for _, d := range dead {
		if _, ok := s.byID[d.Tenant]; ok {
			n[d.Tenant]++
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, count := range n {
		if _, failed := s.failures[id]; !failed {
			s.failures[id] = fmt.Sprintf("%d interactions dead-lettered", count)
		}
	}
}

// failedList names the failing tenants, in order.
func (s *runTenants) failedList() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := ops.SortedKeys(s.failures)
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = id + " (" + s.failures[id] + ")"
	}
	return strings.Join(parts, ", ")
}

// discoverWindow discovers the window for every tenant, a few at a time:
// one tenant's failure (a bad secret, its VCC down, no permission) is noted
// and the others go on.
func (s *runTenants) discoverWindow(ctx context.Context, sent queue.Sender, from, to time.Time, tally *Tally) error {
	tenancy.ForEach(len(s.tenants), tenancy.DiscoverParallel, func(i int) {
		t := s.tenants[i]
		window := discover.New(t.VCC, sent, t.State, tenancy.DiscoverOptions(t.Config, t.Log))
		run, err := window.Enqueue(ctx, from, to, "local", time.Now())
		tally.addDiscovered(run.Found, run.Enqueued, run.NoAudio)
		if err != nil {
			t.Log.Error("discover failed", "error", err)
			s.fail(t.ID, fmt.Errorf("discover: %w", err))
		}
	})
	return ctx.Err()
}
