package budget

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/pace"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
)

// memStore is a Store in memory with the state container's semantics:
// versions, compare-and-swap, store.ErrConflict.
type memStore struct {
	mu      sync.Mutex
	data    map[string][]byte
	version map[string]int
	fail    error             // every operation fails with it when set
	onLoad  func(name string) // called after a Load, unlocked
	saves   int
}

func newMemStore() *memStore {
	return &memStore{data: map[string][]byte{}, version: map[string]int{}}
}

func (m *memStore) Load(_ context.Context, name string) ([]byte, string, bool, error) {
	m.mu.Lock()
	if m.fail != nil {
		m.mu.Unlock()
		return nil, "", false, m.fail
	}
	d, ok := m.data[name]
	v := m.version[name]
	hook := m.onLoad
	m.mu.Unlock()
	if hook != nil {
		hook(name)
	}
	if !ok {
		return nil, "", false, nil
	}
	return slices.Clone(d), strconv.Itoa(v), true, nil
}

func (m *memStore) Save(_ context.Context, name string, data []byte, etag string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return "", m.fail
	}
	_, exists := m.data[name]
	if (etag == "" && exists) || (etag != "" && etag != strconv.Itoa(m.version[name])) {
		return "", fmt.Errorf("save %s: %w", name, store.ErrConflict)
	}
	m.version[name]++
	m.data[name] = slices.Clone(data)
	m.saves++
	return strconv.Itoa(m.version[name]), nil
}

// clock is a settable clock shared by the budgets of one test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.t) {
		c.t = t
	}
}

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// twoProcesses is two budget clients of one account on one document, on a
// clock of their own starting at t0.
func twoProcesses(tenant string, perMinute int) (*memStore, *clock, *Budget, *Budget) {
	st, clk := newMemStore(), &clock{t: t0}
	opts := &Options{Now: clk.now}
	a, _ := New(st, tenant, perMinute, opts)
	b, _ := New(st, tenant, perMinute, opts)
	return st, clk, a, b
}

// maxInSpan is the most of sorted times in any half-open [t, t+span).
func maxInSpan(times []time.Time, span time.Duration) int {
	best, i := 0, 0
	for j := range times {
		for !times[j].Before(times[i].Add(span)) {
			i++
		}
		best = max(best, j-i+1)
	}
	return best
}

// Several budgets on one document (processes), a restart among them,
// callers in bursts and lulls: the slots handed out never put more than the
// budget in one window, even when each call goes up to MaxLate late and
// arrives with a further spread of Margin-MaxLate.
func TestSlotsNeverExceedTheBudget(t *testing.T) {
	const limit = 20
	st := newMemStore()
	clk := &clock{t: t0}
	opts := &Options{Window: 10 * time.Second, Margin: 400 * time.Millisecond, Now: clk.now}
	newBudget := func() *Budget {
		b, err := New(st, "acme", limit, opts)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	procs := []*Budget{newBudget(), newBudget(), newBudget()}
	r := rand.New(rand.NewPCG(3, 4))
	var sent []time.Time
	ctx := context.Background()
	for i := 0; i < 3000; i++ {
		if i == 1500 {
			procs[1] = newBudget() // a restart: the held slots of the old one are lost
		}
		if r.IntN(200) == 0 {
			clk.set(clk.now().Add(time.Duration(r.IntN(15)) * time.Second)) // a lull
		}
		clk.set(clk.now().Add(time.Duration(r.IntN(30)) * time.Millisecond))
		at, err := procs[r.IntN(len(procs))].Reserve(ctx)
		if err != nil {
			t.Fatal(err)
		}
		now := clk.now()
		if now.Sub(at) > opts.Margin/2 {
			t.Fatalf("slot %v handed out %v late", at, now.Sub(at))
		}
		goes := at // the caller sleeps until its slot, or goes at once
		if now.After(at) {
			goes = now
		}
		sent = append(sent, goes.Add(time.Duration(r.Int64N(int64(opts.Margin/2)))))
	}
	slices.SortFunc(sent, time.Time.Compare)
	if got := maxInSpan(sent, opts.Window); got > limit {
		t.Errorf("%d calls in one %v window, budget %d", got, opts.Window, limit)
	}
	var c Counters
	for _, p := range procs {
		pc := p.Counters()
		c.Booked += pc.Booked
		c.Handed += pc.Handed
		c.Saves += pc.Saves
	}
	t.Logf("3000 calls: %+v in the last budgets", c)
}

// A process that books finds what its predecessor booked: a new process
// right after one that used the whole budget waits for the window.
func TestNewProcessSeesPredecessorsSlots(t *testing.T) {
	st := newMemStore()
	clk := &clock{t: t0}
	opts := &Options{Window: time.Minute, Margin: 2 * time.Second, MaxBlock: 1, Now: clk.now}
	old, _ := New(st, "", 10, opts)
	for i := 0; i < 10; i++ {
		if at, err := old.Reserve(context.Background()); err != nil || !at.Equal(t0) {
			t.Fatalf("call %d: %v, %v; want a slot at once", i, at, err)
		}
	}
	clk.set(t0.Add(time.Second))
	fresh, _ := New(st, "", 10, opts)
	if w, err := fresh.Peek(context.Background()); err != nil || w != 61*time.Second {
		t.Errorf("Peek = %v, %v; want 61s", w, err)
	}
	if w := fresh.Ahead(); w != 61*time.Second {
		t.Errorf("Ahead after Peek = %v, want 61s", w)
	}
	at, err := fresh.Reserve(context.Background())
	if want := t0.Add(62 * time.Second); err != nil || !at.Equal(want) {
		t.Errorf("new process's first slot %v, %v; want %v", at, err, want)
	}
}

// A process alone, saturated, uses the whole budget of every span (window
// plus margin), in blocks, without losing slots: a burst at first, then
// slots spaced evenly, never a call more than the budget in one span.
func TestOneProcessUsesTheBudget(t *testing.T) {
	st := newMemStore()
	clk := &clock{t: t0}
	b, _ := New(st, "", 160, &Options{Now: clk.now})
	var slots []time.Time
	for i := 0; i < 1600; i++ {
		at, err := b.Reserve(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		clk.set(at) // the caller waits for its slot
		slots = append(slots, at)
	}
	span := 62 * time.Second
	if got := maxInSpan(slots, span); got != 160 {
		t.Errorf("at most %d calls in one span, want the budget, 160", got)
	}
	// Ten budgets' worth need nine spans and a part of the tenth.
	if took := slots[1599].Sub(slots[0]); took < 9*span || took >= 10*span {
		t.Errorf("1600 calls took %v, want from %v to %v", took, 9*span, 10*span)
	}
	c := b.Counters()
	if c.Lost != 0 || st.saves > 1600/10 {
		t.Errorf("%+v, %d saves for 1600 calls", c, st.saves)
	}
	t.Logf("1600 calls: %d saves, %d loads", st.saves, c.Loads)
}

// A 429 in one process holds the others: they wait for the pause, and are
// then spaced for a window instead of bursting.
func TestPauseHoldsEveryProcess(t *testing.T) {
	_, clk, a, b := twoProcesses("acme", 60)
	if _, err := b.Reserve(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.Pause(context.Background(), t0.Add(10*time.Second))
	clk.set(t0.Add(time.Second))
	got := []time.Time{}
	for i := 0; i < 3; i++ {
		at, err := b.Reserve(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, at)
	}
	iv := 62 * time.Second / 60 / time.Millisecond * time.Millisecond // whole milliseconds in the document
	want := []time.Time{t0.Add(10 * time.Second), t0.Add(10*time.Second + iv), t0.Add(10*time.Second + 2*iv)}
	if !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Errorf("slots after another process's 429: %v, want %v", got, want)
	}
	if w := a.Ahead(); w < 9*time.Second {
		t.Errorf("the throttled process's Ahead = %v, want the pause", w)
	}
}

// Storage down or access denied: no slot, a transient *UnavailableError
// that keeps the cause, and a slot again once storage is back.
func TestStorageFailureGivesNoSlot(t *testing.T) {
	st := newMemStore()
	st.fail = errors.New("403 AuthorizationPermissionMismatch")
	b, _ := New(st, "acme", 60, nil)
	_, err := b.Reserve(context.Background())
	var ue *UnavailableError
	if !errors.As(err, &ue) || ue.Name != "budget/acme.json" || !errors.Is(err, st.fail) {
		t.Fatalf("Reserve = %v, want an *UnavailableError with the cause", err)
	}
	if err := b.Wait(context.Background()); !errors.As(err, &ue) {
		t.Errorf("Wait = %v", err)
	}
	if _, err := b.Peek(context.Background()); !errors.As(err, &ue) {
		t.Errorf("Peek = %v", err)
	}
	st.mu.Lock()
	st.fail = nil
	st.mu.Unlock()
	if _, err := b.Reserve(context.Background()); err != nil {
		t.Errorf("storage back: %v", err)
	}
}

// Conflicting writers: a booking re-reads and retries; when another writer
// wins every time, it gives up with ErrContention, never books blind.
func TestConflictsRetriedThenContention(t *testing.T) {
	st := newMemStore()
	other, _ := New(st, "acme", 100, nil)
	b, _ := New(st, "acme", 100, &Options{Attempts: 4})
	ctx := context.Background()
	if _, err := other.Reserve(ctx); err != nil {
		t.Fatal(err)
	}
	// b books on a stale view once: its first Save conflicts, the retry works.
	if _, err := b.Reserve(ctx); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	b.held = nil
	b.mu.Unlock()
	if _, err := other.Reserve(ctx); err != nil { // other books again: b's view is stale
		t.Fatal(err)
	}
	other.mu.Lock()
	other.held = nil
	other.mu.Unlock()
	before := b.Counters().Conflicts
	if _, err := b.Reserve(ctx); err != nil {
		t.Fatal(err)
	}
	if c := b.Counters().Conflicts - before; c != 1 {
		t.Errorf("conflicts = %d, want 1 (stale view, then re-read)", c)
	}

	// Another writer between every read and write, from a stale view on.
	st.mu.Lock()
	st.version[Name("acme")]++
	st.mu.Unlock()
	st.onLoad = func(name string) {
		st.mu.Lock()
		st.version[name]++
		st.mu.Unlock()
	}
	b.mu.Lock()
	b.held = nil
	b.mu.Unlock()
	_, err := b.Reserve(ctx)
	var ue *UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, ErrContention) {
		t.Errorf("Reserve under endless contention = %v, want ErrContention", err)
	}
	// Work that can wait is put off instead, a random while beyond its
	// limit, with nothing booked.
	booked := b.Counters().Booked
	_, err = b.Reserve(pace.WithLimit(ctx, 5*time.Second))
	if te, ok := pace.Taken(err); !ok || te.Next.Sub(time.Now()) < 4*time.Second || te.Next.Sub(time.Now()) > 11*time.Second {
		t.Errorf("limited Reserve under endless contention = %v, want a TakenError 5-10 s ahead", err)
	}
	if b.Counters().Booked != booked {
		t.Error("a slot booked under endless contention")
	}
}

// An unreadable document holds every call for a window (nobody knows what
// it had booked), then is rewritten.
func TestUnreadableDocumentHoldsForAWindow(t *testing.T) {
	st := newMemStore()
	st.data[Name("acme")] = []byte(`{"slots":[3,2,1]}`)
	clk := &clock{t: t0}
	b, _ := New(st, "acme", 60, &Options{Now: clk.now})
	at, err := b.Reserve(context.Background())
	if want := t0.Add(62 * time.Second); err != nil || !at.Equal(want) {
		t.Errorf("first slot %v, %v; want %v", at, err, want)
	}
	var d doc
	if err := d.parse(st.data[Name("acme")]); err != nil {
		t.Errorf("rewritten document: %v", err)
	}
}

// Blocks grow while a process uses every slot, shrink when slots go
// unused, and never exceed MaxBlock.
func TestBlocksAdapt(t *testing.T) {
	st := newMemStore()
	clk := &clock{t: t0}
	b, _ := New(st, "", 160, &Options{Now: clk.now})
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		if _, err := b.Reserve(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if b.block != 20 {
		t.Errorf("busy: block %d, want MaxBlock 20", b.block)
	}
	// The held slots go stale: every booking after losing slots halves.
	for _, want := range []int{10, 5, 2, 1, 1} {
		clk.set(clk.now().Add(5 * time.Second))
		if _, err := b.Reserve(ctx); err != nil {
			t.Fatal(err)
		}
		if b.block != want {
			t.Errorf("after losing slots: block %d, want %d", b.block, want)
		}
	}
}

func TestNewValidates(t *testing.T) {
	st := newMemStore()
	for _, tt := range []struct {
		tenant string
		per    int
		opts   *Options
	}{
		{"../x", 10, nil},
		{"Acme", 10, nil},
		{"acme", 0, nil},
		{"acme", 10, &Options{Margin: -time.Second}},
	} {
		if _, err := New(st, tt.tenant, tt.per, tt.opts); err == nil {
			t.Errorf("New(%q, %d, %+v) accepted", tt.tenant, tt.per, tt.opts)
		}
	}
	if _, err := New(nil, "", 10, nil); err == nil {
		t.Error("New without a store accepted")
	}
}

// Work that can be put off says how long it waits (pace.WithLimit): a slot
// further ahead is neither booked nor handed out, the answer names the
// next slot, and the process then knows, without reading, that the budget
// is taken. Only the first call under the limit is bounded.
func TestLimitedCallerBooksNothingBeyondItsLimit(t *testing.T) {
	st := newMemStore()
	clk := &clock{t: t0}
	opts := &Options{Now: clk.now}
	busy, _ := New(st, "acme", 10, opts)
	ctx := context.Background()
	for range 10 {
		if _, err := busy.Reserve(ctx); err != nil {
			t.Fatal(err)
		}
	}
	saves := st.saves
	other, _ := New(st, "acme", 10, opts)
	limited := pace.WithLimit(ctx, 5*time.Second)
	_, err := other.Reserve(limited)
	te, ok := pace.Taken(err)
	if !ok || !te.Next.Equal(t0.Add(62*time.Second)) || te.Limit != 5*time.Second {
		t.Fatalf("Reserve beyond the limit: %v; want a TakenError naming %v", err, t0.Add(62*time.Second))
	}
	var ue *UnavailableError
	if errors.As(err, &ue) {
		t.Errorf("a taken budget reported as unavailable: %v", err)
	}
	if st.saves != saves || other.Counters().Booked != 0 {
		t.Errorf("%d saves and %d slots booked for a refused call", st.saves-saves, other.Counters().Booked)
	}
	loads := other.Counters().Loads
	if w := other.Ahead(); w != 62*time.Second {
		t.Errorf("Ahead after the refusal = %v, want 62s", w)
	}
	if other.Counters().Loads != loads {
		t.Error("Ahead read the document")
	}
	// The limit was spent on the first call: the next call under the same
	// context waits for its slot like any other.
	if at, err := other.Reserve(limited); err != nil || !at.Equal(t0.Add(62*time.Second)) {
		t.Errorf("second call under the limit: %v, %v; want the slot at 62s", at, err)
	}
	// Within the limit, a slot is booked and handed out.
	clk.set(t0.Add(64 * time.Second)) // the next slot, 68.2 s, is within 5 s
	if at, err := other.Reserve(pace.WithLimit(ctx, 5*time.Second)); err != nil || at.Sub(clk.now()) > 5*time.Second {
		t.Errorf("within the limit: %v, %v", at, err)
	}
}

// A block's extras are slots this process has no caller for yet: they are
// booked only within the horizon, so that no work is put off while this
// process holds a slot it cannot use soon.
func TestExtrasOnlyWithinTheHorizon(t *testing.T) {
	st := newMemStore()
	clk := &clock{t: t0}
	b, _ := New(st, "", 160, &Options{Now: clk.now, MinBlock: 20, MaxBlock: 20})
	ctx := context.Background()
	for range 200 { // past the first window's burst: slots are spaced
		at, err := b.Reserve(ctx)
		if err != nil {
			t.Fatal(err)
		}
		clk.set(at)
	}
	now := unixMS(clk.now())
	b.mu.Lock()
	held := slices.Clone(b.held)
	b.mu.Unlock()
	if len(held) == 0 {
		t.Fatal("no extras held after 200 calls in blocks of 20")
	}
	for _, h := range held {
		if h-now > DefaultHorizon.Milliseconds() {
			t.Errorf("extra %v ahead, beyond the horizon %v", time.Duration(h-now)*time.Millisecond, DefaultHorizon)
		}
	}
	if c := b.Counters(); c.Lost != 0 {
		t.Errorf("%d slots lost", c.Lost)
	}
}

// Alone, a process trusts its view and saves at once; once another process
// writes, it reads before it writes, so that two processes booking in turn
// do not conflict on every booking.
func TestReadsFirstWhileOthersWrite(t *testing.T) {
	st := newMemStore()
	clk := &clock{t: t0}
	opts := &Options{Now: clk.now, MaxBlock: 1}
	a, _ := New(st, "", 160, opts)
	ctx := context.Background()
	for range 20 {
		clk.set(clk.now().Add(time.Second))
		if _, err := a.Reserve(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if c := a.Counters(); c.Loads != 1 || c.Saves != 20 {
		t.Errorf("alone: %+v; want 1 load and 20 saves", c)
	}
	b, _ := New(st, "", 160, opts)
	for range 20 {
		for _, p := range []*Budget{b, a} {
			clk.set(clk.now().Add(time.Second))
			if _, err := p.Reserve(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if c := a.Counters(); c.Conflicts > 1 {
		t.Errorf("taking turns: %d conflicts (%+v); want at most the first", c.Conflicts, c)
	}
}

// After a refusal, the process answers from what it learnt for a short
// cool-off, which grows with refusals in a row and ends with a booking.
func TestCoolOffAfterRefusals(t *testing.T) {
	_, clk, busy, other := twoProcesses("", 160)
	ctx := context.Background()
	// busy books the budget 10 s ahead.
	for {
		at, err := busy.Reserve(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if at.Sub(t0) > 10*time.Second {
			break
		}
	}
	var cools []int64
	for range 6 {
		_, err := other.Reserve(pace.WithLimit(ctx, 5*time.Second))
		if _, ok := pace.Taken(err); !ok {
			t.Fatalf("want the budget taken, got %v", err)
		}
		other.mu.Lock()
		cools = append(cools, other.coolUntil-unixMS(clk.now()))
		other.mu.Unlock()
		if w := other.Ahead(); w <= 5*time.Second {
			t.Errorf("Ahead during the cool-off = %v, want beyond the limit", w)
		}
	}
	if cools[5] <= cools[0] || cools[5] > maxCool.Milliseconds() {
		t.Errorf("cool-offs %v ms: want growing, at most %v", cools, maxCool)
	}
	clk.set(t0.Add(time.Minute)) // the budget frees up
	if _, err := other.Reserve(pace.WithLimit(ctx, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if other.refusals != 0 || other.coolUntil != 0 {
		t.Errorf("after a booking: %d refusals, cool-off until %d", other.refusals, other.coolUntil)
	}
}
