package livetenants

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/tenants"
)

// memState is the state container's one document, counting reads.
type memState struct {
	store.State
	mu    sync.Mutex
	data  []byte
	etag  int
	loads int
	err   error
}

func (m *memState) Load(_ context.Context, name string) ([]byte, string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loads++
	if m.err != nil {
		return nil, "", false, m.err
	}
	if m.data == nil {
		return nil, "", false, nil
	}
	return m.data, fmt.Sprintf(`"v%d"`, m.etag), true, nil
}

func (m *memState) put(doc string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data, m.etag = []byte(doc), m.etag+1
}

func (m *memState) reads() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.loads
}

// clock is a fake time: After's channels fire when the test says so.
type clock struct {
	mu     sync.Mutex
	now    time.Time
	waits  []time.Duration
	timers []chan time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waits = append(c.waits, d)
	c.timers = append(c.timers, ch)
	return ch
}

// fire moves the clock by d and fires every timer waiting.
func (c *clock) fire(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, ch := range c.timers {
		ch <- c.now
	}
	c.timers = nil
}

func (c *clock) waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// built is what Build makes: one per call, so reuse shows as the same
// pointer.
type built struct {
	id   string
	rate int
}

func tenant(id string, rate int) string {
	return fmt.Sprintf(`{"id": %q, "region": "emea", "clientId": "client-%s", "secretName": "vcc-client-secret-%s", "ratePerMinute": %d}`, id, id, id, rate)
}

func doc(entries ...string) string { return `{"tenants": [` + strings.Join(entries, ",") + `]}` }

func newSource(t *testing.T, st *memState, c *clock, log *bytes.Buffer) (*Source[*built], *int) {
	t.Helper()
	builds := 0
	var mu sync.Mutex
	return New(Options[*built]{
		State: st, Name: "tenants.json", Refresh: time.Minute, ForcedEvery: 10 * time.Second,
		Now: c.Now, After: c.After,
		Log: slog.New(slog.NewJSONHandler(log, nil)),
		Build: func(t tenants.Tenant) (*built, error) {
			mu.Lock()
			defer mu.Unlock()
			builds++
			if t.ClientID == "client-unbuildable" {
				return nil, fmt.Errorf("tenant %s: cannot be built", t.ID)
			}
			return &built{id: t.ID, rate: t.RatePerMinute}, nil
		},
	}), &builds
}

// The document is read at the first call and again only once Refresh has
// passed; the same ETag rebuilds nothing.
func TestRefreshTiming(t *testing.T) {
	st := &memState{}
	st.put(doc(tenant("acme", 160)))
	c := &clock{now: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}
	var log bytes.Buffer
	src, builds := newSource(t, st, c, &log)
	ctx := context.Background()
	v, problem := src.Current(ctx)
	if problem != nil || v == nil || len(v.Tenants) != 1 || st.reads() != 1 || *builds != 1 {
		t.Fatalf("first read: %v %v, %d reads, %d builds", v, problem, st.reads(), *builds)
	}
	c.advance(59 * time.Second)
	if _, err := src.Lookup(ctx, "acme"); err != nil || st.reads() != 1 {
		t.Fatalf("within the refresh: %v, %d reads", err, st.reads())
	}
	c.advance(time.Second)
	if v2, _ := src.Current(ctx); v2 != v || st.reads() != 2 || *builds != 1 {
		t.Fatalf("refresh, same ETag: version replaced %v, %d reads, %d builds", v2 != v, st.reads(), *builds)
	}
}

// A changed document: unchanged tenants keep what was built for them, a
// changed entry is built again, a removed tenant is named as removed.
func TestChangedDocumentKeepsUnchangedTenants(t *testing.T) {
	st := &memState{}
	st.put(doc(tenant("acme", 160)))
	c := &clock{now: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}
	var log bytes.Buffer
	src, builds := newSource(t, st, c, &log)
	ctx := context.Background()
	acme, err := src.Lookup(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	st.put(doc(tenant("acme", 160), tenant("globex", 80)))
	c.advance(time.Minute)
	v, problem := src.Current(ctx)
	if problem != nil || len(v.Tenants) != 2 || *builds != 2 {
		t.Fatalf("%v, %d tenants, %d builds", problem, len(v.Tenants), *builds)
	}
	if again, _ := v.Get("acme"); again != acme {
		t.Error("acme was built again though its entry did not change")
	}
	st.put(doc(tenant("acme", 100)))
	c.advance(time.Minute)
	v, _ = src.Current(ctx)
	if again, _ := v.Get("acme"); again == acme || again.rate != 100 {
		t.Errorf("acme's changed entry was not built again: %+v", again)
	}
	_, err = src.Lookup(ctx, "globex")
	var ue *UnknownError
	if !errors.As(err, &ue) || !ue.Removed || !strings.Contains(err.Error(), "removed") {
		t.Fatalf("removed tenant: %v", err)
	}
	if !strings.Contains(log.String(), `"removed":1`) {
		t.Errorf("the load is not logged with what was removed:\n%s", log.String())
	}
}

// A tenant the document lacks makes it be read again, at most every
// ForcedEvery: a never-served id waits for the next allowed read (a tenant
// just added is found), many such lookups share that one read, and a
// removed tenant is answered from the last read without waiting.
func TestUnknownTenantForcesRateLimitedRead(t *testing.T) {
	st := &memState{}
	st.put(doc(tenant("acme", 160), tenant("gone", 160)))
	c := &clock{now: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}
	var log bytes.Buffer
	src, _ := newSource(t, st, c, &log)
	ctx := context.Background()
	if _, err := src.Lookup(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	// Added 2 s later: the lookup at 3 s waits for 10 s after the first
	// read, then finds it.
	st.put(doc(tenant("acme", 160), tenant("globex", 80)))
	c.advance(3 * time.Second)
	got := make(chan error, 1)
	go func() {
		_, err := src.Lookup(ctx, "globex")
		got <- err
	}()
	waitFor(t, func() bool { return c.waiting() == 1 })
	if st.reads() != 1 || c.waits[0] != 7*time.Second {
		t.Fatalf("before the rate limit allows: %d reads, waiting %v", st.reads(), c.waits)
	}
	c.fire(7 * time.Second)
	if err := <-got; err != nil || st.reads() != 2 {
		t.Fatalf("the added tenant: %v after %d reads", err, st.reads())
	}

	// Removed: answered at once from that read.
	_, err := src.Lookup(ctx, "gone")
	var ue *UnknownError
	if !errors.As(err, &ue) || !ue.Removed || st.reads() != 2 {
		t.Fatalf("removed: %v, %d reads", err, st.reads())
	}

	// Twenty crafted ids at once: they wait together, one read answers
	// them all.
	c.advance(time.Second)
	errs := make(chan error, 20)
	for i := range 20 {
		go func() {
			_, err := src.Lookup(ctx, fmt.Sprintf("crafted-%d", i))
			errs <- err
		}()
	}
	waitFor(t, func() bool { return c.waiting() == 20 })
	c.fire(9 * time.Second)
	for range 20 {
		if err := <-errs; !errors.As(err, &ue) || ue.Removed {
			t.Errorf("crafted: %v", err)
		}
	}
	if st.reads() != 3 {
		t.Errorf("20 crafted lookups made %d reads, want 1", st.reads()-2)
	}
}

// An invalid new document is not served: the previous version is, and
// Current says why, naming the tenant and field; the same invalid version
// is examined once. Fixed, it is served.
func TestInvalidDocumentKeepsPreviousVersion(t *testing.T) {
	st := &memState{}
	st.put(doc(tenant("acme", 160)))
	c := &clock{now: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}
	var log bytes.Buffer
	src, _ := newSource(t, st, c, &log)
	ctx := context.Background()
	first, _ := src.Current(ctx)
	st.put(doc(tenant("acme", 160), tenant("globex", 0)))
	c.advance(time.Minute)
	v, problem := src.Current(ctx)
	if v != first || problem == nil || !strings.Contains(problem.Error(), "tenant globex: ratePerMinute") || !strings.Contains(problem.Error(), `tenants.json (version "v2")`) {
		t.Fatalf("invalid document: version kept %v, problem %v", v == first, problem)
	}
	if _, err := src.Lookup(ctx, "acme"); err != nil {
		t.Errorf("acme is no longer served: %v", err)
	}
	if strings.Count(log.String(), `"level":"ERROR"`) != 1 || !strings.Contains(log.String(), "ratePerMinute") {
		t.Errorf("the problem is not logged once at Error:\n%s", log.String())
	}
	c.advance(time.Minute)
	if _, problem := src.Current(ctx); problem == nil || strings.Count(log.String(), `"level":"ERROR"`) != 1 {
		t.Errorf("the same invalid version: problem %v, logged again", problem)
	}
	// A tenant that cannot be built makes the version invalid too.
	st.put(doc(tenant("acme", 160), tenant("unbuildable", 10)))
	c.advance(time.Minute)
	if v, problem := src.Current(ctx); v != first || problem == nil || !strings.Contains(problem.Error(), "cannot be built") {
		t.Errorf("unbuildable: %v", problem)
	}
	st.put(doc(tenant("acme", 160), tenant("globex", 80)))
	c.advance(time.Minute)
	if v, problem := src.Current(ctx); problem != nil || len(v.Tenants) != 2 {
		t.Errorf("fixed: %v", problem)
	}
}

// No valid version: Current and Lookup say why (not an unknown tenant, so
// ingest retries); a storage error with a version served keeps it.
func TestNoValidVersion(t *testing.T) {
	st := &memState{}
	c := &clock{now: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}
	var log bytes.Buffer
	src, _ := newSource(t, st, c, &log)
	ctx := context.Background()
	if v, problem := src.Current(ctx); v != nil || problem == nil || !strings.Contains(problem.Error(), "tenants.json: not found") {
		t.Fatalf("missing: %v %v", v, problem)
	}
	c.advance(10 * time.Second)
	_, err := src.Lookup(ctx, "acme")
	var ue *UnknownError
	if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("lookup without a document: %v", err)
	}
	st.put(doc(tenant("acme", 160)))
	c.advance(10 * time.Second)
	if _, err := src.Lookup(ctx, "acme"); err != nil {
		t.Fatalf("once uploaded: %v", err)
	}
	st.mu.Lock()
	st.err = errors.New("connection refused")
	st.mu.Unlock()
	c.advance(time.Minute)
	if v, problem := src.Current(ctx); v == nil || problem != nil {
		t.Errorf("a storage error with a version served: %v %v", v, problem)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("timed out")
}

// A lookup whose forced read could not complete is no answer about the
// tenant: a storage error or the caller's context ending is a transient
// error, never an *UnknownError (ingest would dead-letter a tenant just
// added). Once a read completes, the tenant is found or unknown.
func TestLookupWithoutACompletedReadIsTransient(t *testing.T) {
	st := &memState{}
	st.put(doc(tenant("acme", 160)))
	c := &clock{now: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}
	var log bytes.Buffer
	src, _ := newSource(t, st, c, &log)
	if _, err := src.Lookup(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
	var ue *UnknownError

	// The storage blip: globex was added, the read fails.
	st.put(doc(tenant("acme", 160), tenant("globex", 80)))
	st.mu.Lock()
	st.err = errors.New("connection reset")
	st.mu.Unlock()
	c.advance(10 * time.Second)
	_, err := src.Lookup(context.Background(), "globex")
	if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("storage error: %v, want a transient error naming it", err)
	}

	// The caller's context ends while the lookup waits for the rate limit.
	st.mu.Lock()
	st.err = nil
	st.mu.Unlock()
	c.advance(time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		_, err := src.Lookup(ctx, "globex")
		got <- err
	}()
	waitFor(t, func() bool { return c.waiting() == 1 })
	cancel()
	if err := <-got; err == nil || errors.As(err, &ue) || !errors.Is(err, context.Canceled) {
		t.Fatalf("context ended: %v, want a transient error", err)
	}

	// The read allowed: found.
	c.advance(10 * time.Second)
	if _, err := src.Lookup(context.Background(), "globex"); err != nil {
		t.Fatalf("after a completed read: %v", err)
	}
	c.advance(10 * time.Second)
	if _, err := src.Lookup(context.Background(), "umbrella"); !errors.As(err, &ue) {
		t.Fatalf("after a completed read, an id never listed: %v", err)
	}
}

// Served answers from the version served without waiting for a forced
// read: an unknown id at once (and a read started behind it, when the rate
// limit allows), so a tenant added is served after that read.
func TestServedNeverWaits(t *testing.T) {
	st := &memState{}
	st.put(doc(tenant("acme", 160)))
	c := &clock{now: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}
	var log bytes.Buffer
	src, _ := newSource(t, st, c, &log)
	ctx := context.Background()
	if _, err := src.Served(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	st.put(doc(tenant("acme", 160), tenant("globex", 80)))
	c.advance(3 * time.Second)
	var ue *UnknownError
	if _, err := src.Served(ctx, "globex"); !errors.As(err, &ue) {
		t.Fatalf("within the rate limit: %v, want unknown at once", err)
	}
	if c.waiting() != 0 || st.reads() != 1 {
		t.Fatalf("Served waited (%d timers) or read (%d reads)", c.waiting(), st.reads())
	}
	c.advance(7 * time.Second)
	if _, err := src.Served(ctx, "globex"); !errors.As(err, &ue) {
		t.Fatalf("the read not done yet: %v", err)
	}
	waitFor(t, func() bool {
		_, err := src.Served(ctx, "globex")
		return err == nil
	})
	if st.reads() != 2 {
		t.Errorf("%d reads, want the one started behind the unknown id", st.reads())
	}
}

// Check sees the whole document before any tenant is built: its refusal
// makes the version invalid, the previous one served.
func TestCheckRefusesVersion(t *testing.T) {
	st := &memState{}
	st.put(doc(tenant("acme", 160)))
	c := &clock{now: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}
	builds := 0
	src := New(Options[*built]{
		State: st, Name: "tenants.json", Now: c.Now, After: c.After, Log: slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)),
		Check: func(d tenants.Document) error {
			if len(d.Tenants) > 1 {
				return errors.New("tenant globex: the same webhook secret as tenant acme's")
			}
			return nil
		},
		Build: func(t tenants.Tenant) (*built, error) { builds++; return &built{id: t.ID}, nil },
	})
	first, _ := src.Current(context.Background())
	st.put(doc(tenant("acme", 160), tenant("globex", 80)))
	c.advance(time.Minute)
	v, problem := src.Current(context.Background())
	if v != first || problem == nil || !strings.Contains(problem.Error(), "same webhook secret") || builds != 1 {
		t.Fatalf("checked document: kept %v, problem %v, %d builds", v == first, problem, builds)
	}
}
