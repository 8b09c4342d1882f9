// Package queuetest is the conformance suite for queue.Queue
// implementations: it states, as tests, the Service Bus semantics the
// pipeline relies on, so the embedded queue and the Service Bus adapter are
// held to the same behaviour.
package queuetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/queue"
)

// Clock is a fake clock the suite advances to expire locks and duplicate
// windows without sleeping. Safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time; pass it as the queue's Now option.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Config is the queue each test asks the factory for.
type Config struct {
	LockDuration     time.Duration
	MaxDeliveryCount int
	DuplicateWindow  time.Duration
	MaxMessageSize   int
	Clock            *Clock
}

// Target is what a factory returns: a new, empty queue.
type Target struct {
	Queue queue.Queue
	// FakeClock says the queue reads Config.Clock; tests that drive time
	// are skipped otherwise.
	FakeClock bool
	// Unsupported names tests (as in "Run/<name>") the implementation
	// cannot take part in, with the reason; they are skipped with it.
	Unsupported map[string]string
}

// Factory opens a new, empty queue configured as cfg says. It registers its
// own cleanup with t.Cleanup.
type Factory func(t *testing.T, cfg Config) Target

// wait is how long the suite lets Receive wait for messages it expects.
const wait = 5 * time.Second

type test struct {
	name      string
	needClock bool
	fn        func(t *testing.T, q queue.Queue, cfg Config)
}

var tests = []test{
	{"SendReceiveComplete", false, testSendReceiveComplete},
	{"EmptyBatch", false, testEmptyBatch},
	{"ReceiveMax", false, testReceiveMax},
	{"FIFOOrder", false, testFIFO},
	{"AbandonRedelivers", false, testAbandon},
	{"SettleTwice", false, testSettleTwice},
	{"SettleForeignMessage", false, testForeign},
	{"LockedMessageInvisible", false, testLockedInvisible},
	{"LockExpiry", true, testLockExpiry},
	{"MaxDeliveryCount", false, testMaxDelivery},
	{"MaxDeliveryCountByLockExpiry", true, testMaxDeliveryByExpiry},
	{"DeadLetter", false, testDeadLetter},
	{"DeadLetterReceiveComplete", false, testDLQReceive},
	{"PeekDeadLetters", false, testPeekDLQ},
	{"PeekDeadLettersPaged", false, testPeekDLQPaged},
	{"DuplicateWithinWindow", false, testDuplicateWithin},
	{"DuplicateAfterWindow", true, testDuplicateAfter},
	{"BatchAtomicity", false, testBatchAtomic},
	{"ConcurrentReceivers", false, testConcurrentReceivers},
	{"ReceiveWaitsForSend", false, testReceiveWaits},
	{"ReceiveRespectsContext", false, testReceiveContext},
	{"ScheduledMessage", true, testScheduled},
}

// Run runs the suite; every test gets a fresh queue from open.
func Run(t *testing.T, open Factory) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{
				LockDuration:     time.Minute,
				MaxDeliveryCount: 3,
				DuplicateWindow:  time.Hour,
				MaxMessageSize:   64 << 10,
				Clock:            NewClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)),
			}
			target := open(t, cfg)
			if reason, ok := target.Unsupported[tc.name]; ok {
				t.Skip(reason)
			}
			if tc.needClock && !target.FakeClock {
				t.Skip("needs a fake clock, which this implementation cannot take")
			}
			tc.fn(t, target.Queue, cfg)
		})
	}
}

// Names lists the suite's tests, for building Target.Unsupported.
func Names() []string {
	names := make([]string, len(tests))
	for i, tc := range tests {
		names[i] = tc.name
	}
	return names
}

func out(id string) queue.Outgoing {
	return queue.Outgoing{
		ID:          id,
		Body:        []byte(`{"id":"` + id + `"}`),
		ContentType: "application/json",
		Properties:  map[string]string{"source": "test", "id": id},
	}
}

func send(t *testing.T, q queue.Queue, ids ...string) {
	t.Helper()
	msgs := make([]queue.Outgoing, len(ids))
	for i, id := range ids {
		msgs[i] = out(id)
	}
	if err := q.SendBatch(context.Background(), msgs); err != nil {
		t.Fatalf("SendBatch(%v): %v", ids, err)
	}
}

type receiveFunc func(ctx context.Context, max int, wait time.Duration) ([]*queue.Message, error)

// collect receives until n messages arrived (failing on timeout), then
// checks that no more are available right away.
func collect(t *testing.T, recv receiveFunc, n int) []*queue.Message {
	t.Helper()
	var got []*queue.Message
	deadline := time.Now().Add(wait)
	for len(got) < n {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("received %d messages %v, want %d", len(got), ids(got), n)
		}
		msgs, err := recv(context.Background(), n-len(got), left)
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		got = append(got, msgs...)
	}
	if len(got) != n {
		t.Fatalf("received %d messages %v, want %d", len(got), ids(got), n)
	}
	expectNone(t, recv)
	return got
}

func expectNone(t *testing.T, recv receiveFunc) {
	t.Helper()
	msgs, err := recv(context.Background(), 10, 0)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if len(msgs) != 0 {
		t.Fatalf("received %v, want nothing", ids(msgs))
	}
}

func ids(msgs []*queue.Message) []string {
	s := make([]string, len(msgs))
	for i, m := range msgs {
		s[i] = m.ID
	}
	return s
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func mustLockLost(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, queue.ErrLockLost) {
		t.Fatalf("%s: got %v, want ErrLockLost", what, err)
	}
}

func checkContent(t *testing.T, m *queue.Message) {
	t.Helper()
	want := out(m.ID)
	if !bytes.Equal(m.Body, want.Body) || m.ContentType != want.ContentType ||
		fmt.Sprint(m.Properties) != fmt.Sprint(want.Properties) {
		t.Errorf("message %s = body %q type %q props %v; want %q %q %v",
			m.ID, m.Body, m.ContentType, m.Properties, want.Body, want.ContentType, want.Properties)
	}
}

func testSendReceiveComplete(t *testing.T, q queue.Queue, cfg Config) {
	ctx := context.Background()
	send(t, q, "a", "b", "c")
	got := collect(t, q.Receive, 3)
	seen := map[string]bool{}
	for _, m := range got {
		seen[m.ID] = true
		checkContent(t, m)
		if m.DeliveryCount != 1 {
			t.Errorf("%s: DeliveryCount = %d, want 1", m.ID, m.DeliveryCount)
		}
		if m.EnqueuedAt.IsZero() {
			t.Errorf("%s: EnqueuedAt is zero", m.ID)
		}
		if m.DeadLetterReason != "" {
			t.Errorf("%s: DeadLetterReason = %q on a live message", m.ID, m.DeadLetterReason)
		}
	}
	if len(seen) != 3 || !seen["a"] || !seen["b"] || !seen["c"] {
		t.Fatalf("received %v, want a, b, c once each", ids(got))
	}
	for _, m := range got {
		must(t, "complete "+m.ID, q.Complete(ctx, m))
	}
	expectNone(t, q.Receive)
	dl, err := q.PeekDeadLetters(ctx, 10)
	must(t, "peek dead letters", err)
	if len(dl) != 0 {
		t.Fatalf("dead letters %v after completing everything", ids(dl))
	}
}

func testEmptyBatch(t *testing.T, q queue.Queue, cfg Config) {
	must(t, "empty batch", q.SendBatch(context.Background(), nil))
	expectNone(t, q.Receive)
}

func testReceiveMax(t *testing.T, q queue.Queue, cfg Config) {
	send(t, q, "m1", "m2", "m3", "m4", "m5")
	msgs, err := q.Receive(context.Background(), 2, wait)
	must(t, "receive", err)
	if len(msgs) == 0 || len(msgs) > 2 {
		t.Fatalf("Receive(max 2) returned %d messages", len(msgs))
	}
	rest := collect(t, q.Receive, 5-len(msgs))
	if all := append(msgs, rest...); len(all) != 5 {
		t.Fatalf("got %v", ids(all))
	}
}

func testFIFO(t *testing.T, q queue.Queue, cfg Config) {
	var want []string
	for batch := 0; batch < 3; batch++ {
		var idsIn []string
		for i := 0; i < 4; i++ {
			idsIn = append(idsIn, fmt.Sprintf("fifo-%d-%d", batch, i))
		}
		send(t, q, idsIn...)
		want = append(want, idsIn...)
	}
	var got []*queue.Message
	for len(got) < len(want) {
		msgs, err := q.Receive(context.Background(), 1, wait)
		must(t, "receive", err)
		if len(msgs) == 0 {
			t.Fatalf("queue ran dry after %v", ids(got))
		}
		got = append(got, msgs...)
	}
	if strings.Join(ids(got), ",") != strings.Join(want, ",") {
		t.Fatalf("order %v, want %v", ids(got), want)
	}
	for i := 1; i < len(got); i++ {
		if got[i].SequenceNumber <= got[i-1].SequenceNumber {
			t.Fatalf("sequence numbers not increasing: %s=%d after %s=%d",
				got[i].ID, got[i].SequenceNumber, got[i-1].ID, got[i-1].SequenceNumber)
		}
	}
}

func testAbandon(t *testing.T, q queue.Queue, cfg Config) {
	ctx := context.Background()
	send(t, q, "ab")
	first := collect(t, q.Receive, 1)[0]
	must(t, "abandon", q.Abandon(ctx, first))
	second := collect(t, q.Receive, 1)[0]
	if second.ID != "ab" || second.DeliveryCount != 2 {
		t.Fatalf("redelivered %s with DeliveryCount %d, want ab with 2", second.ID, second.DeliveryCount)
	}
	checkContent(t, second)
	mustLockLost(t, "complete with the abandoned lock", q.Complete(ctx, first))
	must(t, "complete", q.Complete(ctx, second))
	expectNone(t, q.Receive)
}

func testSettleTwice(t *testing.T, q queue.Queue, cfg Config) {
	ctx := context.Background()
	send(t, q, "twice")
	m := collect(t, q.Receive, 1)[0]
	must(t, "complete", q.Complete(ctx, m))
	mustLockLost(t, "second complete", q.Complete(ctx, m))
	mustLockLost(t, "abandon after complete", q.Abandon(ctx, m))
	mustLockLost(t, "dead-letter after complete", q.DeadLetter(ctx, m, "r", "d"))
	expectNone(t, q.Receive)
}

func testForeign(t *testing.T, q queue.Queue, cfg Config) {
	ctx := context.Background()
	fake := &queue.Message{ID: "never-received"}
	if err := q.Complete(ctx, fake); err == nil {
		t.Fatal("Complete of a message this queue never delivered succeeded")
	}
	if err := q.Abandon(ctx, fake); err == nil {
		t.Fatal("Abandon of a message this queue never delivered succeeded")
	}
}

func testLockedInvisible(t *testing.T, q queue.Queue, cfg Config) {
	send(t, q, "locked")
	m := collect(t, q.Receive, 1)[0] // collect also checks nothing else is visible
	expectNone(t, q.Receive)
	must(t, "complete", q.Complete(context.Background(), m))
}

func testLockExpiry(t *testing.T, q queue.Queue, cfg Config) {
	ctx := context.Background()
	send(t, q, "exp")
	first := collect(t, q.Receive, 1)[0]
	cfg.Clock.Advance(cfg.LockDuration - time.Millisecond)
	expectNone(t, q.Receive) // still locked
	cfg.Clock.Advance(2 * time.Millisecond)
	second := collect(t, q.Receive, 1)[0]
	if second.ID != "exp" || second.DeliveryCount != 2 {
		t.Fatalf("after lock expiry got %s with DeliveryCount %d, want exp with 2", second.ID, second.DeliveryCount)
	}
	mustLockLost(t, "complete with the expired lock", q.Complete(ctx, first))
	mustLockLost(t, "abandon with the expired lock", q.Abandon(ctx, first))
	mustLockLost(t, "dead-letter with the expired lock", q.DeadLetter(ctx, first, "r", "d"))

	// A lock that expired without anyone receiving the message again is lost too.
	cfg.Clock.Advance(cfg.LockDuration + time.Second)
	mustLockLost(t, "complete after expiry", q.Complete(ctx, second))
	third := collect(t, q.Receive, 1)[0]
	if third.DeliveryCount != 3 {
		t.Fatalf("DeliveryCount = %d, want 3", third.DeliveryCount)
	}
	must(t, "complete", q.Complete(ctx, third))
	expectNone(t, q.Receive)
}

func checkMaxDeliveryDLQ(t *testing.T, q queue.Queue, cfg Config, id string) {
	t.Helper()
	dl, err := q.PeekDeadLetters(context.Background(), 10)
	must(t, "peek dead letters", err)
	if len(dl) != 1 || dl[0].ID != id {
		t.Fatalf("dead letters %v, want [%s]", ids(dl), id)
	}
	if dl[0].DeadLetterReason != queue.ReasonMaxDeliveryCountExceeded || dl[0].DeadLetterDescription == "" {
		t.Fatalf("dead letter reason %q description %q, want %q and a description",
			dl[0].DeadLetterReason, dl[0].DeadLetterDescription, queue.ReasonMaxDeliveryCountExceeded)
	}
	if dl[0].DeliveryCount != cfg.MaxDeliveryCount {
		t.Errorf("dead letter DeliveryCount = %d, want %d", dl[0].DeliveryCount, cfg.MaxDeliveryCount)
	}
	checkContent(t, dl[0])
}

func testMaxDelivery(t *testing.T, q queue.Queue, cfg Config) {
	ctx := context.Background()
	send(t, q, "poison")
	for i := 1; i <= cfg.MaxDeliveryCount; i++ {
		m := collect(t, q.Receive, 1)[0]
		if m.ID != "poison" || m.DeliveryCount != i {
			t.Fatalf("delivery %d: got %s with DeliveryCount %d", i, m.ID, m.DeliveryCount)
		}
		must(t, "abandon", q.Abandon(ctx, m))
	}
	// Delivered MaxDeliveryCount times: it is not delivered again but dead-lettered.
	expectNone(t, q.Receive)
	checkMaxDeliveryDLQ(t, q, cfg, "poison")
	// The queue goes on working for other messages.
	send(t, q, "next")
	must(t, "complete", q.Complete(ctx, collect(t, q.Receive, 1)[0]))
}

func testMaxDeliveryByExpiry(t *testing.T, q queue.Queue, cfg Config) {
	send(t, q, "sleepy")
	for i := 1; i <= cfg.MaxDeliveryCount; i++ {
		m := collect(t, q.Receive, 1)[0]
		if m.DeliveryCount != i {
			t.Fatalf("delivery %d: DeliveryCount %d", i, m.DeliveryCount)
		}
		cfg.Clock.Advance(cfg.LockDuration + time.Second) // the consumer dies; the lock expires
	}
	expectNone(t, q.Receive)
	checkMaxDeliveryDLQ(t, q, cfg, "sleepy")
}

func testDeadLetter(t *testing.T, q queue.Queue, cfg Config) {
	ctx := context.Background()
	send(t, q, "bad", "good")
	msgs := collect(t, q.Receive, 2)
	for _, m := range msgs {
		if m.ID == "bad" {
			must(t, "dead-letter", q.DeadLetter(ctx, m, "InvalidBody", "interactionId is not a GUID"))
		} else {
			must(t, "abandon", q.Abandon(ctx, m))
		}
	}
	live := collect(t, q.Receive, 1)
	if live[0].ID != "good" {
		t.Fatalf("main queue gave %s, want good", live[0].ID)
	}
	must(t, "complete", q.Complete(ctx, live[0]))
	dl, err := q.PeekDeadLetters(ctx, 10)
	must(t, "peek dead letters", err)
	if len(dl) != 1 || dl[0].ID != "bad" {
		t.Fatalf("dead letters %v, want [bad]", ids(dl))
	}
	if dl[0].DeadLetterReason != "InvalidBody" || dl[0].DeadLetterDescription != "interactionId is not a GUID" {
		t.Fatalf("reason %q description %q", dl[0].DeadLetterReason, dl[0].DeadLetterDescription)
	}
	checkContent(t, dl[0])
	mustLockLost(t, "complete a dead-lettered message's old lock", q.Complete(ctx, msgs[0]))
}

func deadLetter(t *testing.T, q queue.Queue, reason string, ids ...string) {
	t.Helper()
	send(t, q, ids...)
	for _, m := range collect(t, q.Receive, len(ids)) {
		must(t, "dead-letter", q.DeadLetter(context.Background(), m, reason, "desc "+m.ID))
	}
}

func testDLQReceive(t *testing.T, q queue.Queue, cfg Config) {
	ctx := context.Background()
	deadLetter(t, q, "Because", "d1", "d2")
	got := collect(t, q.ReceiveDeadLetters, 2)
	byID := map[string]*queue.Message{}
	for _, m := range got {
		byID[m.ID] = m
		if m.DeadLetterReason != "Because" || m.DeadLetterDescription != "desc "+m.ID {
			t.Fatalf("%s: reason %q description %q", m.ID, m.DeadLetterReason, m.DeadLetterDescription)
		}
		checkContent(t, m)
	}
	if byID["d1"] == nil || byID["d2"] == nil {
		t.Fatalf("dead letters received %v, want d1 and d2", ids(got))
	}
	must(t, "abandon d1", q.Abandon(ctx, byID["d1"]))
	must(t, "complete d2", q.Complete(ctx, byID["d2"]))
	again := collect(t, q.ReceiveDeadLetters, 1)
	if again[0].ID != "d1" {
		t.Fatalf("after abandon got %s, want d1", again[0].ID)
	}
	must(t, "complete d1", q.Complete(ctx, again[0]))
	expectNone(t, q.ReceiveDeadLetters)
	dl, err := q.PeekDeadLetters(ctx, 10)
	must(t, "peek dead letters", err)
	if len(dl) != 0 {
		t.Fatalf("dead letters %v after completing them", ids(dl))
	}
	expectNone(t, q.Receive) // completing a dead letter does not revive it
}

func testPeekDLQ(t *testing.T, q queue.Queue, cfg Config) {
	ctx := context.Background()
	deadLetter(t, q, "Peeked", "p1", "p2", "p3")
	for round := 0; round < 2; round++ { // peeking twice gives the same: nothing is locked or removed
		dl, err := q.PeekDeadLetters(ctx, 10)
		must(t, "peek dead letters", err)
		if strings.Join(ids(dl), ",") != "p1,p2,p3" {
			t.Fatalf("round %d: peeked %v, want p1,p2,p3", round, ids(dl))
		}
	}
	dl, err := q.PeekDeadLetters(ctx, 2)
	must(t, "peek dead letters", err)
	if len(dl) != 2 {
		t.Fatalf("PeekDeadLetters(max 2) returned %d", len(dl))
	}
	if err := q.Complete(ctx, dl[0]); err == nil {
		t.Fatal("Complete of a peeked (unlocked) message succeeded")
	}
	collect(t, q.ReceiveDeadLetters, 3)
}

// testPeekDLQPaged pages through more dead letters than one peek returns,
// by sequence number, across a gap left by a removed dead letter.
func testPeekDLQPaged(t *testing.T, q queue.Queue, cfg Config) {
	ctx := context.Background()
	var want []string
	for i := 1; i <= 12; i++ {
		want = append(want, fmt.Sprintf("pg%02d", i))
	}
	deadLetter(t, q, "Paged", want...)
	// Remove pg06: the pass must step over the hole in the sequence numbers.
	for _, m := range collect(t, q.ReceiveDeadLetters, len(want)) {
		if m.ID == "pg06" {
			must(t, "complete pg06", q.Complete(ctx, m))
		} else {
			must(t, "abandon "+m.ID, q.Abandon(ctx, m))
		}
	}
	want = slices.DeleteFunc(want, func(id string) bool { return id == "pg06" })

	first, err := q.PeekDeadLettersFrom(ctx, 0, 5)
	must(t, "peek dead letters from 0", err)
	if len(first) == 0 || len(first) > 5 {
		t.Fatalf("PeekDeadLettersFrom(0, max 5) returned %d", len(first))
	}
	last := first[len(first)-1].SequenceNumber
	next, err := q.PeekDeadLettersFrom(ctx, last+1, 5)
	must(t, "peek dead letters from the next sequence number", err)
	if len(next) == 0 || next[0].SequenceNumber <= last {
		t.Fatalf("peek from %d after %v returned %v", last+1, ids(first), ids(next))
	}

	for _, page := range []int{5, 1, 100} {
		var got []string
		prev := int64(-1)
		must(t, "pass", queue.DeadLetterPass{Page: page}.Each(ctx, q, func(m *queue.Message) error {
			if m.SequenceNumber <= prev {
				t.Errorf("page %d: sequence %d after %d", page, m.SequenceNumber, prev)
			}
			prev = m.SequenceNumber
			got = append(got, m.ID)
			return nil
		}))
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("page %d: pass read %v, want %v", page, got, want)
		}
	}
	end, err := q.PeekDeadLettersFrom(ctx, prevSeq(t, q)+1, 5)
	must(t, "peek past the last dead letter", err)
	if len(end) != 0 {
		t.Fatalf("peek past the last dead letter returned %v", ids(end))
	}

	n := 0
	err = queue.DeadLetterPass{Page: 5, Max: 7}.Each(ctx, q, func(*queue.Message) error { n++; return nil })
	if !errors.Is(err, queue.ErrTooManyDeadLetters) || n != 7 {
		t.Fatalf("pass bounded at 7: read %d, error %v; want 7 and ErrTooManyDeadLetters", n, err)
	}
}

// prevSeq is the sequence number of the last dead letter.
func prevSeq(t *testing.T, q queue.Queue) int64 {
	t.Helper()
	var last int64
	must(t, "pass", queue.EachDeadLetter(context.Background(), q, func(m *queue.Message) error {
		last = m.SequenceNumber
		return nil
	}))
	return last
}

func testDuplicateWithin(t *testing.T, q queue.Queue, cfg Config) {
	ctx := context.Background()
	send(t, q, "dup", "dup", "other") // a duplicate inside one batch is dropped too
	first := collect(t, q.Receive, 2)
	for _, m := range first {
		must(t, "complete", q.Complete(ctx, m))
	}
	send(t, q, "dup") // completed, but still inside the window: dropped
	expectNone(t, q.Receive)
	send(t, q, "dup", "new") // only the new one gets through
	got := collect(t, q.Receive, 1)
	if got[0].ID != "new" {
		t.Fatalf("got %s, want new", got[0].ID)
	}
}

func testDuplicateAfter(t *testing.T, q queue.Queue, cfg Config) {
	ctx := context.Background()
	send(t, q, "again")
	must(t, "complete", q.Complete(ctx, collect(t, q.Receive, 1)[0]))
	cfg.Clock.Advance(cfg.DuplicateWindow - time.Second)
	send(t, q, "again")
	expectNone(t, q.Receive)
	cfg.Clock.Advance(2 * time.Second)
	send(t, q, "again")
	got := collect(t, q.Receive, 1)
	if got[0].ID != "again" || got[0].DeliveryCount != 1 {
		t.Fatalf("got %s with DeliveryCount %d, want a fresh again", got[0].ID, got[0].DeliveryCount)
	}
	must(t, "complete", q.Complete(ctx, got[0]))
	// The resend starts a new window.
	cfg.Clock.Advance(cfg.DuplicateWindow / 2)
	send(t, q, "again")
	expectNone(t, q.Receive)
}

func testBatchAtomic(t *testing.T, q queue.Queue, cfg Config) {
	ctx := context.Background()
	huge := out("huge")
	huge.Body = bytes.Repeat([]byte("x"), 2*cfg.MaxMessageSize)
	err := q.SendBatch(ctx, []queue.Outgoing{out("x1"), out("x2"), huge, out("x3")})
	if !errors.Is(err, queue.ErrMessageTooLarge) {
		t.Fatalf("SendBatch with an oversized message: %v, want ErrMessageTooLarge", err)
	}
	expectNone(t, q.Receive)
	// Nothing of the failed batch was recorded for duplicate detection either.
	send(t, q, "x1", "x2", "x3")
	collect(t, q.Receive, 3)
}

func testConcurrentReceivers(t *testing.T, q queue.Queue, cfg Config) {
	const n, workers = 60, 6
	var all []string
	for i := 0; i < n; i++ {
		all = append(all, fmt.Sprintf("c%03d", i))
	}
	send(t, q, all...)
	var mu sync.Mutex
	count := map[string]int{}
	held := []*queue.Message{}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				msgs, err := q.Receive(context.Background(), 3, 200*time.Millisecond)
				if err != nil {
					errs <- err
					return
				}
				if len(msgs) == 0 {
					return
				}
				mu.Lock()
				for _, m := range msgs {
					count[m.ID]++
				}
				held = append(held, msgs...) // kept locked: nobody else may get them
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("receive: %v", err)
	}
	if len(count) != n {
		t.Fatalf("received %d distinct messages, want %d", len(count), n)
	}
	for id, c := range count {
		if c != 1 {
			t.Fatalf("%s delivered %d times while locked", id, c)
		}
	}
	var cwg sync.WaitGroup
	for w := 0; w < workers; w++ {
		cwg.Add(1)
		go func(w int) {
			defer cwg.Done()
			for i := w; i < len(held); i += workers {
				if err := q.Complete(context.Background(), held[i]); err != nil {
					t.Errorf("complete %s: %v", held[i].ID, err)
				}
			}
		}(w)
	}
	cwg.Wait()
	expectNone(t, q.Receive)
}

func testReceiveWaits(t *testing.T, q queue.Queue, cfg Config) {
	sent := make(chan error, 1)
	go func() {
		time.Sleep(100 * time.Millisecond)
		sent <- q.SendBatch(context.Background(), []queue.Outgoing{out("late")})
	}()
	start := time.Now()
	msgs, err := q.Receive(context.Background(), 1, wait)
	// The sender reports back before the test ends, never after it.
	must(t, "send", <-sent)
	must(t, "receive", err)
	if len(msgs) != 1 || msgs[0].ID != "late" {
		t.Fatalf("received %v, want [late]", ids(msgs))
	}
	if time.Since(start) >= wait {
		t.Fatalf("Receive waited its full %s although a message arrived", wait)
	}
}

func testReceiveContext(t *testing.T, q queue.Queue, cfg Config) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	msgs, err := q.Receive(ctx, 1, time.Minute)
	if len(msgs) != 0 {
		t.Fatalf("received %v from an empty queue", ids(msgs))
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Receive after cancel: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Receive took %s to notice the cancelled context", d)
	}
}

// A scheduled message is accepted (and de-duplicated) at once but is
// delivered only from its time on, as a fresh delivery; a message with a
// time in the past is delivered at once.
func testScheduled(t *testing.T, q queue.Queue, cfg Config) {
	ctx := context.Background()
	now := cfg.Clock.Now()
	later, past := out("later"), out("past")
	later.ScheduledAt = now.Add(10 * time.Minute)
	past.ScheduledAt = now.Add(-time.Minute)
	must(t, "send", q.SendBatch(ctx, []queue.Outgoing{later, past, out("now")}))
	got := collect(t, q.Receive, 2)
	for _, m := range got {
		if m.ID == "later" {
			t.Fatalf("the scheduled message was delivered before its time")
		}
		must(t, "complete", q.Complete(ctx, m))
	}
	// Its id counts for duplicate detection from the send on.
	send(t, q, "later")
	cfg.Clock.Advance(10*time.Minute - time.Second)
	expectNone(t, q.Receive)
	cfg.Clock.Advance(2 * time.Second)
	got = collect(t, q.Receive, 1)
	m := got[0]
	if m.ID != "later" || m.DeliveryCount != 1 || string(m.Body) != string(later.Body) || m.Properties["id"] != "later" {
		t.Fatalf("got %s (delivery %d, body %s, properties %v), want the scheduled message on its first delivery", m.ID, m.DeliveryCount, m.Body, m.Properties)
	}
	must(t, "complete", q.Complete(ctx, m))
	expectNone(t, q.Receive)
}
