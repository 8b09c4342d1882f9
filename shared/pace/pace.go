// Package pace carries how long a caller will wait for a VCC request slot,
// and the answer when no slot is free that soon. Work that can be put off
// (a queued copy) says so before its first call; the pacer then books a
// slot only within that limit and otherwise tells when the next one is, so
// the work is put off to it instead of holding an invocation, and no slot
// is booked for a call that will not go.
package pace

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

type limitKey struct{}

// limit is one-shot: only the first call under the context is bounded.
// After it, the work has started (something may be stored) and its later
// calls wait for their slots rather than leave it half done.
type limit struct {
	d    time.Duration
	used atomic.Bool
}

// WithLimit bounds the wait of the first request slot booked under ctx.
func WithLimit(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, limitKey{}, &limit{d: d})
}

// Limit returns ctx's limit the first time it is asked for, and false after
// that or when ctx has none. A pacer asks once per slot it books.
func Limit(ctx context.Context) (time.Duration, bool) {
	l, ok := ctx.Value(limitKey{}).(*limit)
	if !ok || !l.used.CompareAndSwap(false, true) {
		return 0, false
	}
	return l.d, true
}

// TakenError: no request slot is free within the caller's limit. No slot
// was booked and no call made; the next slot a call booked then would get
// is at Next.
type TakenError struct {
	Next  time.Time
	Limit time.Duration
}

func (e *TakenError) Error() string {
	return fmt.Sprintf("request budget taken: next slot at %s, beyond the %s the work waits", e.Next.UTC().Format(time.RFC3339Nano), e.Limit)
}

// Taken returns the *TakenError in err's chain.
func Taken(err error) (*TakenError, bool) {
	var te *TakenError
	ok := errors.As(err, &te)
	return te, ok
}
