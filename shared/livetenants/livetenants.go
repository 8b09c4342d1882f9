// Package livetenants serves the tenants document from the state container
// as the Function App needs it: read when first needed, looked at again at
// most every Refresh, and at once (at most every ForcedEvery) when a tenant
// is asked for that the document lacks, so a tenant added by uploading a
// new document is served without a redeploy, and crafted messages naming
// unknown tenants cannot hammer storage. The invocations themselves drive
// the reads, and concurrent callers share one read; Served, for requests
// from the internet, never waits for a forced read (it starts one behind
// its answer instead).
//
// A changed document (a new ETag) is parsed and validated whole. A tenant
// whose entry is unchanged keeps what was built for it (its VCC client's
// token, pacer, breaker and directory survive), new and changed entries are
// built anew, removed ones are dropped. An invalid document is not served:
// the previous valid version is, and Current says why.
package livetenants

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/store"
	"github.com/vcc-ingest/vcc-ingest/shared/tenants"
)

// Defaults of Options.
const (
	DefaultRefresh     = time.Minute
	DefaultForcedEvery = 10 * time.Second
	defaultReadTimeout = 30 * time.Second
)

// Options configure a Source. State, Name and Build are required.
type Options[T any] struct {
	State store.State // the deployment's state container
	Name  string      // the document's name in it
	// Refresh is how often the document is looked at again (default 1m);
	// ForcedEvery is the least time between two reads (default 10 s).
	Refresh     time.Duration
	ForcedEvery time.Duration
	// Check, when set, validates a parsed document whole (what no one
	// entry shows, e.g. two tenants given the same webhook secret) before
	// any tenant is built; an error makes the version invalid.
	Check func(doc tenants.Document) error
	// Hosts is what the document may name besides VCC's own hosts (the
	// Function App: VCC_EXTRA_HOSTS, never loopback).
	Hosts tenants.Hosts
	// Build makes what serves tenant t; it is called for a new or changed
	// entry only. An error makes the whole version invalid.
	Build func(t tenants.Tenant) (T, error)
	Log   *slog.Logger
	// Now and After are the clock (tests inject one).
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
}

// Entry is one tenant of a version and what was built for it.
type Entry[T any] struct {
	Tenant tenants.Tenant
	Value  T
}

// Version is one valid version of the document.
type Version[T any] struct {
	ETag    string
	ReadAt  time.Time  // when the read that found it started
	Tenants []Entry[T] // in the document's order
	byID    map[string]int
}

// Get is tenant id's value in v.
func (v *Version[T]) Get(id string) (T, bool) {
	if i, ok := v.byID[id]; ok {
		return v.Tenants[i].Value, true
	}
	var zero T
	return zero, false
}

// UnknownError is Lookup's answer for a tenant the document lacks.
type UnknownError struct {
	ID, Document string
	// Removed: a version this instance served listed the tenant.
	Removed bool
}

func (e *UnknownError) Error() string {
	if e.Removed {
		return fmt.Sprintf("tenant %q was removed from the tenants document %s", e.ID, e.Document)
	}
	return fmt.Sprintf("tenant %q is not in the tenants document %s (never added, or removed)", e.ID, e.Document)
}

// Source is the tenants document, re-read as Options say.
type Source[T any] struct {
	o Options[T]

	mu      sync.Mutex
	cur     *Version[T] // the newest valid version; nil: none yet
	problem error       // why the newest document is not cur; nil when it is
	etag    string      // the last document read, valid or not
	// lastRead is when the last completed read started (zero: none yet),
	// lastErr why it could not load the document (nil: it did); reading is
	// closed when the read in progress ends.
	lastRead time.Time
	lastErr  error
	reading  chan struct{}
	seen     map[string]bool // tenants of every version served
}

// New is a Source over o; nothing is read until it is asked.
func New[T any](o Options[T]) *Source[T] {
	if o.Refresh <= 0 {
		o.Refresh = DefaultRefresh
	}
	if o.ForcedEvery <= 0 {
		o.ForcedEvery = DefaultForcedEvery
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	return &Source[T]{o: o, seen: map[string]bool{}}
}

// Current is the newest valid version, read again first when Refresh has
// passed, and, when the newest document is not that version (missing,
// invalid, or no valid one read yet), why. v is nil when no valid version
// was ever read.
func (s *Source[T]) Current(ctx context.Context) (v *Version[T], problem error) {
	s.refreshIfDue(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil && s.problem == nil {
		return nil, s.notRead(ctx)
	}
	return s.cur, s.problem
}

// Lookup is tenant id's value. A tenant the version lacks makes the
// document be read again first: one never served may just have been added,
// so the lookup waits for the next read the rate limit allows (at most
// ForcedEvery); one removed is answered from the last read when a new one
// is not allowed yet. It returns an *UnknownError only when a read made
// since the lookup began (or, for a removed tenant, the last) found the
// document without the tenant; another error when no valid version can be
// read or the read could not complete (ctx ended, storage error): the
// caller retries later, and a tenant just added is not refused for good.
func (s *Source[T]) Lookup(ctx context.Context, id string) (T, error) {
	var zero T
	asked := s.o.Now()
	s.refreshIfDue(ctx)
	s.mu.Lock()
	if s.cur != nil {
		if v, ok := s.cur.Get(id); ok {
			s.mu.Unlock()
			return v, nil
		}
	}
	removed := s.seen[id]
	s.mu.Unlock()

	res := s.readSince(ctx, asked, !removed)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		if s.problem == nil {
			return zero, s.notRead(ctx)
		}
		return zero, s.problem
	}
	if v, ok := s.cur.Get(id); ok {
		return v, nil
	}
	switch res {
	case readCanceled:
		return zero, fmt.Errorf("tenant %q: not in the version served, and the tenants document %s could not be read again: %w", id, s.o.Name, errors.Join(errNotRead, context.Cause(ctx)))
	case readFailed:
		return zero, fmt.Errorf("tenant %q: not in the version served, and the tenants document %s could not be read again: %w", id, s.o.Name, s.lastErr)
	}
	return zero, &UnknownError{ID: id, Document: s.o.Name, Removed: s.seen[id]}
}

// errNotRead marks a lookup whose read did not complete.
var errNotRead = errors.New("the read did not complete")

// Served is tenant id's value in the version served now, never waiting for
// a forced read: an answer whose time does not depend on whether id is a
// tenant (a request from the internet naming ids learns nothing from the
// delay). The document is read first only when Refresh has passed, as for
// every caller. A tenant the version lacks is an *UnknownError at once; it
// also starts a read in the background when the rate limit allows one, so
// a tenant just added is served soon after.
func (s *Source[T]) Served(ctx context.Context, id string) (T, error) {
	var zero T
	s.refreshIfDue(ctx)
	s.mu.Lock()
	cur, problem := s.cur, s.problem
	removed := s.seen[id]
	s.mu.Unlock()
	if cur == nil {
		if problem == nil {
			return zero, s.notRead(ctx)
		}
		return zero, problem
	}
	if v, ok := cur.Get(id); ok {
		return v, nil
	}
	go s.readSince(context.WithoutCancel(ctx), s.o.Now(), false)
	return zero, &UnknownError{ID: id, Document: s.o.Name, Removed: removed}
}

// notRead is the answer when ctx ended before any read completed.
func (s *Source[T]) notRead(ctx context.Context) error {
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("tenants document %s: not read yet: %w", s.o.Name, err)
	}
	return fmt.Errorf("tenants document %s: not read yet", s.o.Name)
}

// refreshIfDue reads the document when Refresh has passed since the last
// read, or none was made; without a valid version, as often as the rate
// limit allows (so the first upload is served at once).
func (s *Source[T]) refreshIfDue(ctx context.Context) {
	now := s.o.Now()
	s.mu.Lock()
	due := s.lastRead.IsZero() || now.Sub(s.lastRead) >= s.o.Refresh || s.cur == nil
	s.mu.Unlock()
	if due {
		s.readSince(ctx, now, false)
	}
}

// readResult is how readSince ended.
type readResult int

const (
	readDone     readResult = iota // a read since `after` loaded the document
	readFailed                     // it completed without loading it (lastErr)
	readSkipped                    // the rate limit allowed none, and no wait
	readCanceled                   // ctx ended first
)

// readSince returns once a read that started at or after `after` has
// completed, joining one in progress. When the rate limit allows no read
// yet it waits for it with wait, and returns without one otherwise. It
// also returns when ctx ends.
func (s *Source[T]) readSince(ctx context.Context, after time.Time, wait bool) readResult {
	for {
		s.mu.Lock()
		if !s.lastRead.IsZero() && !s.lastRead.Before(after) {
			failed := s.lastErr != nil
			s.mu.Unlock()
			if failed {
				return readFailed
			}
			return readDone
		}
		if ch := s.reading; ch != nil {
			s.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return readCanceled
			}
		}
		now := s.o.Now()
		if next := s.lastRead.Add(s.o.ForcedEvery); !s.lastRead.IsZero() && now.Before(next) {
			s.mu.Unlock()
			if !wait {
				return readSkipped
			}
			select {
			case <-s.o.After(next.Sub(now)):
				continue
			case <-ctx.Done():
				return readCanceled
			}
		}
		ch := make(chan struct{})
		s.reading = ch
		s.mu.Unlock()
		// Detached from the caller: others may be waiting for this read.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), defaultReadTimeout)
		go func() {
			defer cancel()
			s.read(rctx, now, ch)
		}()
		select {
		case <-ch:
			continue // the result, as any completed read's
		case <-ctx.Done():
			return readCanceled
		}
	}
}

// read reads the document once and, when it changed, builds its version.
func (s *Source[T]) read(ctx context.Context, started time.Time, done chan struct{}) {
	var err error // the load's: what lastErr records
	defer func() {
		s.mu.Lock()
		s.lastRead, s.lastErr, s.reading = started, err, nil
		s.mu.Unlock()
		close(done)
	}()
	data, etag, found, err := s.o.State.Load(ctx, s.o.Name)
	s.mu.Lock()
	prev, prevETag := s.cur, s.etag
	s.mu.Unlock()
	switch {
	case err != nil && prev != nil:
		// A storage blip: keep serving; a lasting outage fails the
		// tenants' own work anyway.
		s.o.Log.Warn("tenants document not read; serving the version read before", "document", s.o.Name, "version", prev.ETag, "error", err)
		return
	case err != nil:
		s.fail("", fmt.Errorf("tenants document %s: cannot be read: %w", s.o.Name, err), prev)
		return
	case !found:
		s.fail("", fmt.Errorf("tenants document %s: not found in the state container", s.o.Name), prev)
		return
	case etag == prevETag:
		return // unchanged: nothing rebuilt
	}
	doc, perr := tenants.ParseWith(data, s.o.Hosts)
	if perr == nil && s.o.Check != nil {
		perr = s.o.Check(doc)
	}
	if perr != nil {
		s.fail(etag, fmt.Errorf("%s (version %s): %w", s.o.Name, etag, perr), prev)
		return
	}
	v, kept, berr := s.build(doc, etag, started, prev)
	if berr != nil {
		s.fail(etag, fmt.Errorf("%s (version %s): %w", s.o.Name, etag, berr), prev)
		return
	}
	s.mu.Lock()
	s.cur, s.problem, s.etag = v, nil, etag
	for _, e := range v.Tenants {
		s.seen[e.Tenant.ID] = true
	}
	s.mu.Unlock()
	s.o.Log.Info("tenants document loaded", "document", s.o.Name, "version", etag, "tenants", len(v.Tenants),
		"kept", kept, "built", len(v.Tenants)-kept, "removed", removedCount(prev, v))
}

// build is doc's version: each unchanged entry of prev with its value, the
// others built.
func (s *Source[T]) build(doc tenants.Document, etag string, at time.Time, prev *Version[T]) (*Version[T], int, error) {
	v := &Version[T]{ETag: etag, ReadAt: at, byID: map[string]int{}}
	kept := 0
	var errs []error
	for _, t := range doc.Tenants {
		if prev != nil {
			if i, ok := prev.byID[t.ID]; ok && reflect.DeepEqual(prev.Tenants[i].Tenant, t) {
				v.byID[t.ID] = len(v.Tenants)
				v.Tenants = append(v.Tenants, prev.Tenants[i])
				kept++
				continue
			}
		}
		val, err := s.o.Build(t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		v.byID[t.ID] = len(v.Tenants)
		v.Tenants = append(v.Tenants, Entry[T]{Tenant: t, Value: val})
	}
	return v, kept, errors.Join(errs...)
}

// fail records why the newest document is not served; etag is its
// version ("" when there is none), so the same one is not examined again.
func (s *Source[T]) fail(etag string, problem error, prev *Version[T]) {
	s.mu.Lock()
	s.problem, s.etag = problem, etag
	s.mu.Unlock()
	if prev != nil {
		s.o.Log.Error("tenants document not served; serving the previous version", "document", s.o.Name, "version", prev.ETag, "problem", problem.Error())
		return
	}
	s.o.Log.Error("no tenants document to serve", "document", s.o.Name, "problem", problem.Error())
}

func removedCount[T any](prev, v *Version[T]) int {
	if prev == nil {
		return 0
	}
	n := 0
	for id := range prev.byID {
		if _, ok := v.byID[id]; !ok {
			n++
		}
	}
	return n
}

// Load reads and validates the document name of st once (the operator
// commands' reading of it), with its version, admitting h's hosts besides
// VCC's.
func Load(ctx context.Context, st store.State, name string, h tenants.Hosts) (tenants.Document, string, error) {
	data, etag, found, err := st.Load(ctx, name)
	switch {
	case err != nil:
		return tenants.Document{}, "", fmt.Errorf("tenants document %s: cannot be read: %w", name, err)
	case !found:
		return tenants.Document{}, "", fmt.Errorf("tenants document %s: not found in the state container", name)
	}
	doc, err := tenants.ParseWith(data, h)
	if err != nil {
		return doc, etag, fmt.Errorf("%s (version %s): %w", name, etag, err)
	}
	return doc, etag, nil
}
