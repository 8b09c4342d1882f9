package pace

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// The limit bounds the first slot booked under a context, and only that
// one: after it the work has started and waits for its later slots.
func TestLimitIsOneShot(t *testing.T) {
	if _, ok := Limit(context.Background()); ok {
		t.Fatal("a limit without WithLimit")
	}
	ctx := WithLimit(context.Background(), 5*time.Second)
	if d, ok := Limit(ctx); !ok || d != 5*time.Second {
		t.Fatalf("first: %v, %v", d, ok)
	}
	if _, ok := Limit(ctx); ok {
		t.Error("the limit bounded a second slot")
	}
	// A context derived from a limited one shares its one limit.
	ctx = WithLimit(context.Background(), time.Second)
	child, cancel := context.WithCancel(ctx)
	defer cancel()
	if _, ok := Limit(child); !ok {
		t.Error("child context lost the limit")
	}
	if _, ok := Limit(ctx); ok {
		t.Error("the parent's limit was not spent by the child's slot")
	}
}

func TestTakenFoundThroughWrapping(t *testing.T) {
	next := time.Date(2026, 11, 2, 9, 0, 5, 0, time.UTC)
	err := fmt.Errorf("vcc: download: request budget: %w", &TakenError{Next: next, Limit: 5 * time.Second})
	te, ok := Taken(err)
	if !ok || !te.Next.Equal(next) {
		t.Fatalf("Taken(%v) = %v, %v", err, te, ok)
	}
	if _, ok := Taken(fmt.Errorf("other")); ok {
		t.Error("Taken found in an unrelated error")
	}
}
