// Package budget keeps the VCC calls of every process of one VCC account
// within the account's request budget. VCC counts every call of an account,
// whichever process sent it, and in Azure the handler is many processes at
// once (every ingest instance, discover, audit, operator commands), started,
// drained and restarted by the platform: a limit kept in one process's
// memory neither sees the others nor survives a restart.
//
// So the budget lives in one small blob per account in the state container
// (budget/<tenant>.json, replaced with ETag compare-and-swap: no other Azure
// resource). It holds the send times of the slots booked in the trailing
// window and ahead. A slot is booked durably before its call goes, so every
// process, and the process that replaces one that died, sees it. Slots are
// booked in order, each no earlier than the budget-th latest one plus the
// window (a minute plus a margin for arrival spread, late use and clock
// skew), so any number of processes never put more than the budget's calls
// in one rolling minute.
//
// Why blocks: a storage round trip per VCC call would double the work and
// serialise every process on one blob. A process books a small block of
// slots at once and hands them out to its callers; the block doubles while
// the process uses every slot of the last one, halves when slots went unused,
// and never exceeds MaxBlock (default an eighth of the budget), so one busy
// process cannot hold what the others need. A slot not used within MaxLate
// of its time is dropped, never used late: a lost slot costs throughput,
// never the budget. Slots booked ahead (the budget is taken) are spaced
// evenly rather than replaying the last window's bursts.
//
// Why a horizon and a limit: with many processes, slots booked far ahead
// were lost. A process holding a slot 20 s ahead put its next deliveries
// off to it, the copies came back to other instances, and the slot went
// unused (measured: 8 instances dropped one booked slot in six and copied
// at 0.76 of the budget). So a block's extras, the slots with no caller yet,
// are booked only within Horizon; and work that can be put off books its
// first call's slot only within its limit (pace.WithLimit). Beyond it,
// nothing is booked: the answer is a *pace.TakenError naming the next slot,
// and the work is put off to it. Every slot booked then has a caller
// waiting for it or one soon (8 instances: 0.96 of the budget, one slot in
// a hundred lost).
//
// Why read first while others write: alone, the view from this process's
// last round trip is current and a booking costs one save. With others
// booking, it is almost always stale, and trusting it cost a failed save
// before every real one. A process that has seen another's write within a
// window reads before it writes, and books extras only for the callers
// queued behind this one: a slot held for a caller that may not come is
// one the others cannot have. After a refusal, it answers Ahead from
// what it learnt for a jittered cool-off that doubles with each refusal in
// a row, so that many processes finding the budget taken do not all read
// the document for every delivery they put off.
//
// Against Azurite, as OS processes (processes_test.go): a process alone
// uses 96.8 % of the budget (the margin's cap) at 0.18 storage operations
// per VCC call; four processes, one of them restarted, about 1.8, and no
// slot lost.
//
// A 429 pauses everyone: Pause books the pause in the blob. If the blob
// cannot be read or written, no slot is handed out: Reserve fails with an
// *UnavailableError (transient) and logs why, so nothing calls VCC unpaced.
package budget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/pace"
	"github.com/vcc-ingest/vcc-ingest/shared/store"
)

// Defaults.
const (
	DefaultWindow   = time.Minute     // VCC counts calls per rolling minute
	DefaultMargin   = 2 * time.Second // arrival spread, late use, clock skew
	DefaultAttempts = 20              // compare-and-swap attempts per booking
	DefaultHorizon  = 3 * time.Second // extras booked at most this far ahead
)

// Store is where the budget document lives: store.State (the state
// container in Azure) satisfies it. Save must fail with store.ErrConflict
// when the document changed since etag was read (etag "": when it exists).
type Store interface {
	Load(ctx context.Context, name string) (data []byte, etag string, found bool, err error)
	Save(ctx context.Context, name string, data []byte, etag string) (newETag string, err error)
}

// Options tune a Budget; zero values take the defaults.
type Options struct {
	// Window is VCC's counting span, default one minute.
	Window time.Duration
	// Margin widens the window: it covers the spread between sending and
	// arriving, a slot used up to MaxLate after its time, and clock skew
	// between processes. Default 2s (about 3 % of the budget).
	Margin time.Duration
	// MaxLate is how long after its time a slot may still be used;
	// default Margin/2. Later, it is dropped.
	MaxLate time.Duration
	// MinBlock and MaxBlock bound how many slots a process books at once.
	// Defaults 1 and an eighth of the budget (at least 1).
	MinBlock, MaxBlock int
	// Horizon bounds how far ahead a process books slots it has no caller
	// for yet (a block's extras); default DefaultHorizon. Extras further
	// ahead would be held while work is put off, and lost.
	Horizon time.Duration
	// Attempts bounds the compare-and-swap attempts of one booking; default 20.
	Attempts int
	// Now is the clock; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// ErrContention: other processes kept replacing the budget document while
// this one tried to book; wrapped in an *UnavailableError.
var ErrContention = errors.New("budget: document kept changing")

// UnavailableError is a booking that could not be made: the budget document
// could not be read or written (storage down, access denied, or
// ErrContention). No slot was handed out and no call may go. It is
// transient: the caller puts the work off and tries again later.
type UnavailableError struct {
	Name string // the budget document
	Err  error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("budget %s unavailable, no call made: %v", e.Name, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Counters is what a Budget has done, for run records and measurements.
type Counters struct {
	Loads, Saves, Conflicts int64 // storage operations; Conflicts are failed Saves
	Booked, Handed, Lost    int64 // slots booked, handed to callers, dropped unused
}

// Budget books the calls of one VCC account. It is safe for concurrent
// use; one per account per process.
type Budget struct {
	st       Store
	name     string
	limit    int
	span     int64 // window + margin, ms
	interval int64 // span / limit, ms: the spacing after a pause
	maxLate  time.Duration
	horizon  int64 // ms
	minBlock int
	maxBlock int
	attempts int
	now      func() time.Time
	log      *slog.Logger

	booking chan struct{} // one storage round at a time per process
	queued  atomic.Int32  // callers waiting for booking

	mu          sync.Mutex
	held        []int64 // booked slots not handed out yet, ascending, unix ms
	view        doc     // the document as last read or written
	etag        string  // its version; "" when never seen
	block       int
	handed      int   // of the latest block
	lost        int   // of the latest block
	lastBook    int64 // when the latest block was booked
	lastBlock   int   // how many slots it had
	blockEnd    int64 // its last slot
	pausedUntil int64 // a 429's pause, carried into every booking
	spacedUntil int64
	// shared is when another process was last seen writing the document:
	// within a window of it, a booking reads before it writes, since the
	// view it holds is most likely out of date.
	shared int64
	// A booking found the budget taken beyond its caller's limit: until
	// coolUntil, Ahead answers at least coolAhead without reading the
	// document, so that this process's next work is put off at no storage
	// cost. The cool-off doubles (jittered) with each refusal in a row and
	// ends with a booking: processes that keep finding the budget taken
	// look less often, and the slots still go to whoever looks first.
	coolUntil, coolAhead int64
	refusals             int

	loads, saves, conflicts, booked, handedN, lostN atomic.Int64
}

var tenantPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Name is the budget document of a tenant ("" is the single-tenant deployment).
func Name(tenant string) string {
	if tenant == "" {
		tenant = "default"
	}
	return "budget/" + tenant + ".json"
}

// New returns the budget of tenant's VCC account ("" in a single-tenant
// deployment), perMinute calls in any rolling Window, booked in st. Nothing
// is read until the first booking.
func New(st Store, tenant string, perMinute int, opts *Options) (*Budget, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	switch {
	case st == nil:
		return nil, errors.New("budget: no store")
	case tenant != "" && !tenantPattern.MatchString(tenant):
		return nil, fmt.Errorf("budget: tenant %q is not a tenant id", tenant)
	case perMinute <= 0:
		return nil, fmt.Errorf("budget: %d calls per window is not a budget", perMinute)
	case o.Window < 0 || o.Margin < 0 || o.MaxLate < 0 || o.MinBlock < 0 || o.MaxBlock < 0 || o.Attempts < 0 || o.Horizon < 0:
		return nil, errors.New("budget: negative values are not allowed in Options")
	}
	if o.Window == 0 {
		o.Window = DefaultWindow
	}
	if o.Margin == 0 {
		o.Margin = DefaultMargin
	}
	if o.MaxLate == 0 {
		o.MaxLate = o.Margin / 2
	}
	if o.MinBlock == 0 {
		o.MinBlock = 1
	}
	if o.MaxBlock == 0 {
		o.MaxBlock = max(1, perMinute/8)
	}
	o.MaxBlock = min(o.MaxBlock, perMinute)
	o.MinBlock = min(o.MinBlock, o.MaxBlock)
	if o.Attempts == 0 {
		o.Attempts = DefaultAttempts
	}
	if o.Horizon == 0 {
		o.Horizon = DefaultHorizon
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	span := (o.Window + o.Margin).Milliseconds()
	if span < 1 {
		return nil, errors.New("budget: Window plus Margin is under a millisecond")
	}
	return &Budget{
		st: st, name: Name(tenant), limit: perMinute,
		span: span, interval: span / int64(perMinute), maxLate: o.MaxLate, horizon: o.Horizon.Milliseconds(),
		minBlock: o.MinBlock, maxBlock: o.MaxBlock, attempts: o.Attempts,
		now: o.Now, log: o.Logger,
		booking: make(chan struct{}, 1),
		block:   o.MinBlock,
	}, nil
}

// Reserve books the slot of one call and returns when it may go, without
// waiting for it. The call must go at that time (or at once when the time
// has passed): a slot is only good until MaxLate after it. Under a
// pace.WithLimit context, a slot further ahead than the limit is neither
// booked nor handed out: Reserve returns a *pace.TakenError saying when the
// next one is, and the work is put off to it.
func (b *Budget) Reserve(ctx context.Context) (time.Time, error) {
	lim := int64(-1) // no limit
	if d, ok := pace.Limit(ctx); ok {
		lim = max(0, d.Milliseconds())
	}
	if t, ok, err := b.take(lim); ok {
		return t, err
	}
	b.queued.Add(1)
	select {
	case b.booking <- struct{}{}:
		b.queued.Add(-1)
	case <-ctx.Done():
		b.queued.Add(-1)
		return time.Time{}, ctx.Err()
	}
	defer func() { <-b.booking }()
	if t, ok, err := b.take(lim); ok { // booked by another caller while this one queued
		return t, err
	}
	return b.book(ctx, lim)
}

// Wait books a slot and sleeps until it.
func (b *Budget) Wait(ctx context.Context) error {
	at, err := b.Reserve(ctx)
	if err != nil {
		return err
	}
	d := at.Sub(b.now())
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Ahead is how long a call booked now would wait, from this process's
// held slots or, when it holds none, its latest view of the document: no
// storage operation. Other processes may have booked since; Peek asks.
func (b *Budget) Ahead() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	ms := unixMS(now)
	b.dropLate(ms)
	if len(b.held) > 0 {
		return max(0, fromMS(b.held[0]).Sub(now))
	}
	d := b.view.clone()
	d.merge(b.pausedUntil, b.spacedUntil)
	wait := d.next(ms, b.limit, b.span, b.interval) - ms
	if ms < b.coolUntil {
		wait = max(wait, b.coolAhead)
	}
	return max(0, time.Duration(wait)*time.Millisecond)
}

// othersWriting reports whether another process wrote the document within
// a window of now; b.mu is held.
func (b *Budget) othersWriting(now int64) bool {
	return b.shared != 0 && now-b.shared < b.span
}

// maxCool bounds the cool-off after refusals.
const maxCool = 2 * time.Second

// refused starts or lengthens the cool-off: a booking at now found the
// next slot at next, beyond its caller's limit. b.mu is held.
func (b *Budget) refused(now, next int64) {
	b.refusals++
	c := min(b.interval<<min(b.refusals-1, 16), maxCool.Milliseconds())
	c = c/2 + rand.Int64N(c/2+1)
	b.coolUntil, b.coolAhead = now+c, next-now
}

// Peek is Ahead after reading the document (one storage operation when
// this process holds no slot): how long until a call booked now could go.
func (b *Budget) Peek(ctx context.Context) (time.Duration, error) {
	b.mu.Lock()
	held := len(b.held)
	b.mu.Unlock()
	if held == 0 {
		select {
		case b.booking <- struct{}{}:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		_, _, err := b.load(ctx)
		<-b.booking
		if err != nil {
			return 0, b.unavailable(err)
		}
	}
	return b.Ahead(), nil
}

// Pause holds every call of every process until until: VCC answered 429.
// This process stops at once; the others when they next book, once the
// pause is in the document (it is written now, and again with every
// booking of this process should that fail).
func (b *Budget) Pause(ctx context.Context, until time.Time) {
	ms := ceilMS(until)
	b.mu.Lock()
	if ms <= b.pausedUntil {
		b.mu.Unlock()
		return
	}
	b.pausedUntil = ms
	b.spacedUntil = max(b.spacedUntil, ms+b.span)
	kept := b.held[:0]
	for _, t := range b.held {
		if t >= ms {
			kept = append(kept, t)
		}
	}
	b.held = kept
	b.mu.Unlock()

	select {
	case b.booking <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-b.booking }()
	if _, err := b.write(ctx, 0, -1); err != nil {
		b.log.WarnContext(ctx, "VCC throttled; pause not shared with other processes yet", "budget", b.name, "error", err)
	}
}

// Counters returns what the budget has done so far.
func (b *Budget) Counters() Counters {
	return Counters{
		Loads: b.loads.Load(), Saves: b.saves.Load(), Conflicts: b.conflicts.Load(),
		Booked: b.booked.Load(), Handed: b.handedN.Load(), Lost: b.lostN.Load(),
	}
}

// take hands out the earliest held slot still usable; ok is false when
// this process holds none. A held slot beyond the caller's limit (lim ms,
// -1 for none) is kept for another caller: the answer is a TakenError.
func (b *Budget) take(lim int64) (t time.Time, ok bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := unixMS(b.now())
	b.dropLate(now)
	if len(b.held) == 0 {
		return time.Time{}, false, nil
	}
	next := b.held[0]
	if lim >= 0 && next-now > lim {
		return time.Time{}, true, taken(next, lim)
	}
	b.held = b.held[1:]
	b.handed++
	b.handedN.Add(1)
	return fromMS(next), true, nil
}

func taken(next, lim int64) *pace.TakenError {
	return &pace.TakenError{Next: fromMS(next), Limit: time.Duration(lim) * time.Millisecond}
}

// dropLate drops held slots too old to use; b.mu is held.
func (b *Budget) dropLate(now int64) {
	late := now - b.maxLate.Milliseconds()
	i := 0
	for i < len(b.held) && b.held[i] < late {
		i++
	}
	if i > 0 {
		b.held = b.held[i:]
		b.lost += i
		b.lostN.Add(int64(i))
	}
}

// book books the caller's slot and the block's extras; the caller holds
// b.booking.
func (b *Budget) book(ctx context.Context, lim int64) (time.Time, error) {
	b.mu.Lock()
	now := unixMS(b.now())
	switch {
	case now-b.lastBook > b.span: // idle for a window: start small again
		b.block = b.minBlock
	case b.lost > 0:
		b.block = max(b.minBlock, b.block/2)
	case b.handed >= b.lastBlock && now <= b.blockEnd+b.maxLate.Milliseconds():
		// Used up while its last slot was still good: callers are waiting
		// for slots, not trickling in.
		b.block = min(b.maxBlock, b.block*2)
	}
	k := b.block
	if b.othersWriting(now) {
		// Others book too: a slot this process holds without a caller is
		// one they cannot have, and is lost if no caller comes in time.
		// Book for the callers queued behind this one only.
		k = 1 + min(int(b.queued.Load()), b.maxBlock-1)
	}
	b.mu.Unlock()
	t, err := b.write(ctx, max(k, 1), lim)
	if err != nil {
		if _, ok := pace.Taken(err); ok {
			return time.Time{}, err
		}
		if errors.Is(err, ErrContention) && lim >= 0 {
			// So many processes book at once that this one could not: the
			// budget is in demand, and work that can wait is put off a
			// random while, not failed.
			return time.Time{}, taken(unixMS(b.now())+lim+rand.Int64N(lim+1), lim)
		}
		return time.Time{}, b.unavailable(err)
	}
	return fromMS(t), nil
}

// write books k slots with compare-and-swap (none: it only writes the
// pause), retrying on conflicts, and returns the first: the caller's. The
// others are extras for this process's next callers, booked only within
// the horizon. When the caller's slot would be beyond its limit (lim ms,
// -1 for none), nothing is booked: a *pace.TakenError. The caller holds
// b.booking. Alone, the first attempt trusts the view from this process's
// latest round trip, which costs one operation; while others write too,
// it reads first, which saves a conflict.
func (b *Budget) write(ctx context.Context, k int, lim int64) (int64, error) {
	b.mu.Lock()
	d, etag, readFirst := b.view.clone(), b.etag, b.othersWriting(unixMS(b.now()))
	b.mu.Unlock()
	if etag == "" || readFirst {
		var err error
		if d, etag, err = b.load(ctx); err != nil {
			return 0, err
		}
	}
	for attempt := 0; ; attempt++ {
		b.mu.Lock()
		now := unixMS(b.now())
		d.merge(b.pausedUntil, b.spacedUntil)
		b.mu.Unlock()
		d.prune(now, b.limit, b.span)
		slots := make([]int64, 0, k)
		for len(slots) < k {
			t := d.next(now, b.limit, b.span, b.interval)
			if len(slots) == 0 && lim >= 0 && t-now > lim {
				b.mu.Lock()
				b.refused(now, t)
				b.mu.Unlock()
				return 0, taken(t, lim) // the view only ever lags: it is at least this far
			}
			if len(slots) > 0 && t-now > b.horizon {
				break
			}
			d.Slots = append(d.Slots, t)
			slots = append(slots, t)
		}
		data, err := json.Marshal(d)
		if err != nil {
			return 0, err
		}
		b.saves.Add(1)
		newETag, err := b.st.Save(ctx, b.name, data, etag)
		if err == nil {
			b.mu.Lock()
			b.view, b.etag = d, newETag
			var own int64
			if len(slots) > 0 {
				own = slots[0]
				b.held = append(b.held, slots[1:]...)
				slices.Sort(b.held)
				b.handed, b.lost, b.lastBook, b.lastBlock = 1, 0, now, len(slots)
				b.refusals, b.coolUntil = 0, 0
				b.blockEnd = slots[len(slots)-1]
				b.handedN.Add(1)
			}
			b.mu.Unlock()
			b.booked.Add(int64(len(slots)))
			return own, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return 0, err
		}
		b.conflicts.Add(1)
		b.mu.Lock()
		b.shared = now
		b.mu.Unlock()
		if attempt+1 >= b.attempts {
			return 0, ErrContention
		}
		// Someone else booked: back off, with jitter that grows with the
		// attempts so that processes booking at once spread out, and re-read.
		if err := sleep(ctx, rand.N(min(10*time.Millisecond<<attempt, 400*time.Millisecond))); err != nil {
			return 0, err
		}
		if d, etag, err = b.load(ctx); err != nil {
			return 0, err
		}
	}
}

// load reads the document and makes it this process's view. A document
// that cannot be understood is replaced by one that holds everyone off for
// a window: nobody knows what it had booked.
func (b *Budget) load(ctx context.Context) (doc, string, error) {
	b.loads.Add(1)
	data, etag, found, err := b.st.Load(ctx, b.name)
	if err != nil {
		return doc{}, "", err
	}
	var d doc
	if found {
		if perr := d.parse(data); perr != nil {
			now := unixMS(b.now())
			b.log.ErrorContext(ctx, "budget document unreadable; holding calls for one window and rewriting it",
				"budget", b.name, "error", perr)
			d = doc{PausedUntil: now + b.span}
		}
	}
	b.mu.Lock()
	if b.etag != "" && etag != b.etag {
		b.shared = unixMS(b.now()) // another process wrote since this one did
	}
	b.view, b.etag = d.clone(), etag
	b.mu.Unlock()
	return d, etag, nil
}

func (b *Budget) unavailable(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	b.log.Warn("request budget unavailable; VCC call not made", "budget", b.name, "error", err)
	return &UnavailableError{Name: b.name, Err: err}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func unixMS(t time.Time) int64 { return t.UnixMilli() }

// ceilMS rounds up: a pause must not end early.
func ceilMS(t time.Time) int64 {
	ms := t.UnixMilli()
	if t.After(time.UnixMilli(ms)) {
		ms++
	}
	return ms
}

func fromMS(ms int64) time.Time { return time.UnixMilli(ms) }
