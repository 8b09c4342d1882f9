package queue

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// EmbeddedOptions configure an embedded queue. Zero values take the defaults,
// which are those of a Service Bus queue created with the product's templates
// except where noted.
type EmbeddedOptions struct {
	// LockDuration is how long a received message stays invisible to other
	// receivers (default 30s). There is no lock renewal.
	LockDuration time.Duration
	// MaxDeliveryCount is how many deliveries a message gets before the
	// next attempt dead-letters it with ReasonMaxDeliveryCountExceeded (default 10).
	MaxDeliveryCount int
	// DuplicateWindow is how long a message id is remembered for duplicate
	// detection (default 1h).
	DuplicateWindow time.Duration
	// MaxMessageSize bounds body plus id and properties (default 256 KiB,
	// the Service Bus standard tier limit, so what works locally fits in Azure).
	MaxMessageSize int
	// OpenTimeout is how long OpenEmbedded waits for another process to
	// release the file (default 1s).
	OpenTimeout time.Duration
	// Now is the clock for lock expiry, enqueue times and the duplicate
	// window (default time.Now). Tests pass a fake clock.
	Now func() time.Time
}

func (o *EmbeddedOptions) setDefaults() error {
	if o.LockDuration < 0 || o.MaxDeliveryCount < 0 || o.DuplicateWindow < 0 || o.MaxMessageSize < 0 || o.OpenTimeout < 0 {
		return errors.New("queue: negative embedded queue option")
	}
	if o.LockDuration == 0 {
		o.LockDuration = 30 * time.Second
	}
	if o.MaxDeliveryCount == 0 {
		o.MaxDeliveryCount = 10
	}
	if o.DuplicateWindow == 0 {
		o.DuplicateWindow = time.Hour
	}
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = 256 << 10
	}
	if o.OpenTimeout == 0 {
		o.OpenTimeout = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Bucket names. Keys of message and lock buckets are 8-byte big-endian
// sequence numbers, so a cursor walks messages in FIFO order.
var (
	bucketMeta     = []byte("meta")     // NextSequence gives sequence numbers
	bucketMsgs     = []byte("msgs")     // seq -> record
	bucketLocks    = []byte("locks")    // seq -> lock (main queue)
	bucketDLQ      = []byte("dlq")      // seq -> record
	bucketDLQLocks = []byte("dlqlocks") // seq -> lock (dead-letter sub-queue)
	bucketDupIDs   = []byte("dupids")   // message id -> first-seen time
	bucketDupSeen  = []byte("dupseen")  // first-seen time + id -> nothing (for pruning in time order)
	bucketSched    = []byte("sched")    // seq -> visible-from time (scheduled messages not yet delivered)
)

// pollInterval bounds how late a waiting Receive notices a lock that
// expired; sends and abandons wake waiters at once.
const pollInterval = 50 * time.Millisecond

// record is a stored message. Times are Unix nanoseconds so a reopened file
// (after a crash) keeps its enqueue times and the locks of a dead process
// expire by the clock.
type record struct {
	ID            string            `json:"id"`
	Body          []byte            `json:"body,omitempty"`
	ContentType   string            `json:"contentType,omitempty"`
	Properties    map[string]string `json:"properties,omitempty"`
	DeliveryCount int               `json:"deliveryCount"`
	EnqueuedAt    int64             `json:"enqueuedAt"`
	DLReason      string            `json:"deadLetterReason,omitempty"`
	DLDescription string            `json:"deadLetterDescription,omitempty"`
}

// lockValue is the stored lock: expiry (Unix nanoseconds), token, then
// the holder (the Embedded that received the message). Files written
// before holders were recorded have 24-byte locks without one.
type lockValue struct {
	until  int64
	token  [16]byte
	holder [16]byte
}

func (l lockValue) encode() []byte {
	b := make([]byte, 40)
	binary.BigEndian.PutUint64(b, uint64(l.until))
	copy(b[8:], l.token[:])
	copy(b[24:], l.holder[:])
	return b
}

func decodeLock(b []byte) (lockValue, bool) {
	if len(b) != 24 && len(b) != 40 {
		return lockValue{}, false
	}
	var l lockValue
	l.until = int64(binary.BigEndian.Uint64(b))
	copy(l.token[:], b[8:24])
	if len(b) == 40 {
		copy(l.holder[:], b[24:])
	}
	return l, true
}

// embeddedLock is the handle a received Message carries.
type embeddedLock struct {
	q     *Embedded
	dlq   bool
	key   []byte
	token [16]byte
}

// Embedded is a durable single-file queue with the Service Bus semantics the
// pipeline relies on, for local runs and tests. Every state change is one
// bbolt transaction (fsynced at commit), so killing the process at any moment
// loses no message and settles none that was not settled. One process at a
// time may open a file, and every lock records which opening of the file
// holds it: a lock found at open belongs to a process that closed the file
// or died, which can never settle the message, so it is released at once
// (the message is visible again, its delivery count kept) instead of
// waiting out LockDuration. Within one process locks expire by time, as on
// Service Bus. Safe for concurrent use by many goroutines.
type Embedded struct {
	db       *bolt.DB
	opts     EmbeddedOptions
	holder   [16]byte // this opening of the file
	released int      // locks of earlier holders released at open

	mu      sync.Mutex
	changed chan struct{} // closed and replaced when messages become visible
	done    chan struct{} // closed by Close
	closed  bool
}

var _ Queue = (*Embedded)(nil)

// OpenEmbedded opens (creating if needed) the queue file at path. If another
// process has it open, it fails after opts.OpenTimeout.
func OpenEmbedded(path string, opts EmbeddedOptions) (*Embedded, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.OpenTimeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("queue: %s is in use by another process (waited %s): %w", path, opts.OpenTimeout, err)
		}
		return nil, fmt.Errorf("queue: open %s: %w", path, err)
	}
	holder, err := newToken()
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	released := 0
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketMsgs, bucketLocks, bucketDLQ, bucketDLQLocks, bucketDupIDs, bucketDupSeen, bucketSched} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		// The file lock admits one process: every lock already here is an
		// earlier holder's, gone with the process that held it.
		for _, name := range [][]byte{bucketLocks, bucketDLQLocks} {
			b := tx.Bucket(name)
			var stale [][]byte
			now := opts.Now().UnixNano()
			if err := b.ForEach(func(k, v []byte) error {
				if l, ok := decodeLock(v); ok && l.holder != holder && l.until > now {
					released++
				}
				stale = append(stale, bytes.Clone(k))
				return nil
			}); err != nil {
				return err
			}
			for _, k := range stale {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("queue: initialise %s: %w", path, err)
	}
	return &Embedded{db: db, opts: opts, holder: holder, released: released, changed: make(chan struct{}), done: make(chan struct{})}, nil
}

// ReleasedAtOpen is how many messages were still locked by an earlier
// process (a crashed or interrupted run) and were made visible at open.
func (q *Embedded) ReleasedAtOpen() int { return q.released }

// Close releases the file. Waiting receivers return ErrClosed.
func (q *Embedded) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	close(q.done)
	q.mu.Unlock()
	if err := q.db.Close(); err != nil {
		return fmt.Errorf("queue: close: %w", err)
	}
	return nil
}

func (q *Embedded) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// notify wakes waiting receivers.
func (q *Embedded) notify() {
	q.mu.Lock()
	close(q.changed)
	q.changed = make(chan struct{})
	q.mu.Unlock()
}

func (q *Embedded) changedCh() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.changed
}

// update runs one write transaction, mapping a closed database to ErrClosed.
func (q *Embedded) update(fn func(tx *bolt.Tx) error) error {
	if q.isClosed() {
		return ErrClosed
	}
	err := q.db.Update(fn)
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

func seqKey(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

func newToken() ([16]byte, error) {
	var t [16]byte
	_, err := rand.Read(t[:])
	return t, err
}

func newID() (string, error) {
	t, err := newToken()
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(t[:]), nil
}

func messageSize(m Outgoing) int {
	n := len(m.ID) + len(m.Body) + len(m.ContentType)
	for k, v := range m.Properties {
		n += len(k) + len(v)
	}
	return n
}

// SendBatch enqueues msgs in one transaction, dropping those whose ID was
// seen within the duplicate window (including earlier in the same batch).
func (q *Embedded) SendBatch(ctx context.Context, msgs []Outgoing) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil
	}
	prepared := make([]Outgoing, len(msgs))
	for i, m := range msgs {
		if size := messageSize(m); size > q.opts.MaxMessageSize {
			return fmt.Errorf("%w: message %q is %d bytes, limit %d", ErrMessageTooLarge, m.ID, size, q.opts.MaxMessageSize)
		}
		if m.ID == "" {
			id, err := newID()
			if err != nil {
				return fmt.Errorf("queue: message id: %w", err)
			}
			m.ID = id
		}
		prepared[i] = m
	}
	added := 0
	err := q.update(func(tx *bolt.Tx) error {
		added = 0
		now := q.opts.Now()
		q.pruneDuplicates(tx, now)
		meta, msgsB := tx.Bucket(bucketMeta), tx.Bucket(bucketMsgs)
		dupIDs, dupSeen := tx.Bucket(bucketDupIDs), tx.Bucket(bucketDupSeen)
		for _, m := range prepared {
			if v := dupIDs.Get([]byte(m.ID)); len(v) == 8 {
				seen := int64(binary.BigEndian.Uint64(v))
				if now.Sub(time.Unix(0, seen)) < q.opts.DuplicateWindow {
					continue // duplicate: dropped silently, as Service Bus does
				}
			}
			seq, err := meta.NextSequence()
			if err != nil {
				return err
			}
			enqueued := now
			if m.ScheduledAt.After(now) {
				// Service Bus enqueues a scheduled message at its time.
				enqueued = m.ScheduledAt
				if err := tx.Bucket(bucketSched).Put(seqKey(seq), seqKey(uint64(enqueued.UnixNano()))); err != nil {
					return err
				}
			}
			data, err := json.Marshal(record{
				ID: m.ID, Body: m.Body, ContentType: m.ContentType, Properties: m.Properties,
				EnqueuedAt: enqueued.UnixNano(),
			})
			if err != nil {
				return err
			}
			if err := msgsB.Put(seqKey(seq), data); err != nil {
				return err
			}
			ts := seqKey(uint64(now.UnixNano()))
			if err := dupIDs.Put([]byte(m.ID), ts); err != nil {
				return err
			}
			if err := dupSeen.Put(append(ts, m.ID...), nil); err != nil {
				return err
			}
			added++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("queue: send batch: %w", err)
	}
	if added > 0 {
		q.notify()
	}
	return nil
}

// pruneDuplicates forgets ids first seen before the window, oldest first.
func (q *Embedded) pruneDuplicates(tx *bolt.Tx, now time.Time) {
	cutoff := now.Add(-q.opts.DuplicateWindow).UnixNano()
	dupIDs, dupSeen := tx.Bucket(bucketDupIDs), tx.Bucket(bucketDupSeen)
	var stale [][]byte
	c := dupSeen.Cursor()
	for k, _ := c.First(); k != nil && len(k) >= 8 && int64(binary.BigEndian.Uint64(k)) <= cutoff; k, _ = c.Next() {
		stale = append(stale, bytes.Clone(k))
	}
	for _, k := range stale {
		id := k[8:]
		if v := dupIDs.Get(id); bytes.Equal(v, k[:8]) {
			_ = dupIDs.Delete(id)
		}
		_ = dupSeen.Delete(k)
	}
}

// Receive locks up to max messages from the main queue.
func (q *Embedded) Receive(ctx context.Context, max int, wait time.Duration) ([]*Message, error) {
	return q.receive(ctx, false, max, wait)
}

// ReceiveDeadLetters locks up to max messages from the dead-letter sub-queue.
func (q *Embedded) ReceiveDeadLetters(ctx context.Context, max int, wait time.Duration) ([]*Message, error) {
	return q.receive(ctx, true, max, wait)
}

func (q *Embedded) receive(ctx context.Context, dlq bool, max int, wait time.Duration) ([]*Message, error) {
	if max <= 0 {
		return nil, fmt.Errorf("queue: receive: max must be positive, got %d", max)
	}
	var deadline <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		deadline = t.C
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		changed := q.changedCh() // taken before looking, so no wake-up is missed
		msgs, err := q.tryReceive(dlq, max)
		if err != nil || len(msgs) > 0 || wait <= 0 {
			return msgs, err
		}
		poll := time.NewTimer(pollInterval)
		select {
		case <-ctx.Done():
			poll.Stop()
			return nil, ctx.Err()
		case <-q.done:
			poll.Stop()
			return nil, ErrClosed
		case <-deadline:
			poll.Stop()
			// One last look: a message may have arrived with the deadline.
			return q.tryReceive(dlq, max)
		case <-changed:
		case <-poll.C:
		}
		poll.Stop()
	}
}

// lockedOrLater reports whether message k cannot be taken at now (unix ns):
// locked by someone, or (outside the dead-letter queue) scheduled for later.
func lockedOrLater(k []byte, locks, sched *bolt.Bucket, dlq bool, now int64) bool {
	if l, ok := decodeLock(locks.Get(k)); ok && l.until > now {
		return true
	}
	if dlq {
		return false
	}
	at := sched.Get(k)
	return len(at) == 8 && int64(binary.BigEndian.Uint64(at)) > now
}

// anyAvailable reports whether a message is neither locked nor scheduled
// for later: whether a receive could take (or dead-letter) one now.
func (q *Embedded) anyAvailable(dlq bool) (bool, error) {
	if q.isClosed() {
		return false, ErrClosed
	}
	found := false
	err := q.db.View(func(tx *bolt.Tx) error {
		now := q.opts.Now().UnixNano()
		msgsB, locksB := tx.Bucket(bucketMsgs), tx.Bucket(bucketLocks)
		if dlq {
			msgsB, locksB = tx.Bucket(bucketDLQ), tx.Bucket(bucketDLQLocks)
		}
		sched := tx.Bucket(bucketSched)
		c := msgsB.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if !lockedOrLater(k, locksB, sched, dlq, now) {
				found = true
				return nil
			}
		}
		return nil
	})
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return false, ErrClosed
	}
	return found, err
}

func (q *Embedded) tryReceive(dlq bool, max int) ([]*Message, error) {
	// Look in a read transaction first: most looks find nothing (every
	// change wakes every waiting receiver), and a write transaction is the
	// database's one writer and a sync to disk even when it changes nothing.
	if ok, err := q.anyAvailable(dlq); err != nil || !ok {
		return nil, err
	}
	var out []*Message
	deadLettered := false
	err := q.update(func(tx *bolt.Tx) error {
		out, deadLettered = out[:0], false
		now := q.opts.Now()
		msgsB, locksB := tx.Bucket(bucketMsgs), tx.Bucket(bucketLocks)
		if dlq {
			msgsB, locksB = tx.Bucket(bucketDLQ), tx.Bucket(bucketDLQLocks)
		}
		type delivery struct {
			key []byte
			rec record
		}
		var deliver []delivery
		var toDLQ [][]byte
		sched := tx.Bucket(bucketSched)
		var due [][]byte
		c := msgsB.Cursor()
		for k, v := c.First(); k != nil && len(deliver) < max; k, v = c.Next() {
			if lockedOrLater(k, locksB, sched, dlq, now.UnixNano()) {
				continue
			}
			if !dlq && len(sched.Get(k)) == 8 {
				due = append(due, bytes.Clone(k)) // its time has come
			}
			var rec record
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("corrupt message %x: %w", k, err)
			}
			if !dlq && rec.DeliveryCount >= q.opts.MaxDeliveryCount {
				toDLQ = append(toDLQ, bytes.Clone(k))
				continue
			}
			deliver = append(deliver, delivery{bytes.Clone(k), rec})
		}
		for _, k := range due {
			if err := sched.Delete(k); err != nil {
				return err
			}
		}
		for _, k := range toDLQ {
			if err := q.moveToDLQ(tx, k, ReasonMaxDeliveryCountExceeded,
				fmt.Sprintf("Message could not be consumed after %d delivery attempts.", q.opts.MaxDeliveryCount)); err != nil {
				return err
			}
			deadLettered = true
		}
		until := now.Add(q.opts.LockDuration).UnixNano()
		for _, d := range deliver {
			d.rec.DeliveryCount++
			data, err := json.Marshal(d.rec)
			if err != nil {
				return err
			}
			if err := msgsB.Put(d.key, data); err != nil {
				return err
			}
			token, err := newToken()
			if err != nil {
				return err
			}
			if err := locksB.Put(d.key, lockValue{until: until, token: token, holder: q.holder}.encode()); err != nil {
				return err
			}
			out = append(out, d.rec.message(d.key, &embeddedLock{q: q, dlq: dlq, key: d.key, token: token}))
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return nil, err
		}
		return nil, fmt.Errorf("queue: receive: %w", err)
	}
	if deadLettered {
		q.notify() // dead-letter receivers may be waiting
	}
	return out, nil
}

func handleOf(m *Message) any {
	if m == nil {
		return nil
	}
	return m.handle
}

func (r record) message(key []byte, h *embeddedLock) *Message {
	m := &Message{
		ID:                    r.ID,
		Body:                  r.Body,
		ContentType:           r.ContentType,
		Properties:            r.Properties,
		DeliveryCount:         r.DeliveryCount,
		EnqueuedAt:            time.Unix(0, r.EnqueuedAt).UTC(),
		SequenceNumber:        int64(binary.BigEndian.Uint64(key)),
		DeadLetterReason:      r.DLReason,
		DeadLetterDescription: r.DLDescription,
	}
	if h != nil {
		m.handle = h
	}
	return m
}

// moveToDLQ moves the main-queue message at key to the dead-letter
// sub-queue, keeping its sequence number, and drops its lock.
func (q *Embedded) moveToDLQ(tx *bolt.Tx, key []byte, reason, description string) error {
	msgsB := tx.Bucket(bucketMsgs)
	v := msgsB.Get(key)
	if v == nil {
		return fmt.Errorf("message %x vanished", key)
	}
	var rec record
	if err := json.Unmarshal(v, &rec); err != nil {
		return fmt.Errorf("corrupt message %x: %w", key, err)
	}
	rec.DLReason, rec.DLDescription = reason, description
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketDLQ).Put(key, data); err != nil {
		return err
	}
	if err := msgsB.Delete(key); err != nil {
		return err
	}
	return tx.Bucket(bucketLocks).Delete(key)
}

// settle checks m's lock inside tx and runs fn; a lock that is missing,
// expired, or now held by another receiver gives ErrLockLost.
func (q *Embedded) settle(ctx context.Context, op string, m *Message, fn func(tx *bolt.Tx, h *embeddedLock) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m == nil {
		return fmt.Errorf("queue: %s: nil message", op)
	}
	h, ok := handleOf(m).(*embeddedLock)
	if !ok || h.q != q {
		return fmt.Errorf("queue: %s %s: %w", op, m.ID, ErrForeignMessage)
	}
	err := q.update(func(tx *bolt.Tx) error {
		locksB := tx.Bucket(bucketLocks)
		if h.dlq {
			locksB = tx.Bucket(bucketDLQLocks)
		}
		l, ok := decodeLock(locksB.Get(h.key))
		if !ok || l.token != h.token || l.until <= q.opts.Now().UnixNano() {
			return ErrLockLost
		}
		return fn(tx, h)
	})
	if err != nil {
		return fmt.Errorf("queue: %s %s: %w", op, m.ID, err)
	}
	return nil
}

// Complete removes a locked message (from whichever sub-queue it came from).
func (q *Embedded) Complete(ctx context.Context, m *Message) error {
	return q.settle(ctx, "complete", m, func(tx *bolt.Tx, h *embeddedLock) error {
		msgsB, locksB := tx.Bucket(bucketMsgs), tx.Bucket(bucketLocks)
		if h.dlq {
			msgsB, locksB = tx.Bucket(bucketDLQ), tx.Bucket(bucketDLQLocks)
		}
		if err := msgsB.Delete(h.key); err != nil {
			return err
		}
		return locksB.Delete(h.key)
	})
}

// RenewLock extends m's lock to a lock duration from now, as the Functions
// host does while an invocation runs (Service Bus: RenewMessageLock). A
// lock already lost gives ErrLockLost.
func (q *Embedded) RenewLock(ctx context.Context, m *Message) error {
	return q.settle(ctx, "renew lock", m, func(tx *bolt.Tx, h *embeddedLock) error {
		locksB := tx.Bucket(bucketLocks)
		if h.dlq {
			locksB = tx.Bucket(bucketDLQLocks)
		}
		until := q.opts.Now().Add(q.opts.LockDuration).UnixNano()
		return locksB.Put(h.key, lockValue{until: until, token: h.token, holder: q.holder}.encode())
	})
}

// LockDuration is how long a lock lasts from a receive or a renewal.
func (q *Embedded) LockDuration() time.Duration { return q.opts.LockDuration }

// Abandon releases the lock. A main-queue message that has used up its
// deliveries goes straight to the dead-letter sub-queue, as on Service Bus.
func (q *Embedded) Abandon(ctx context.Context, m *Message) error {
	err := q.settle(ctx, "abandon", m, func(tx *bolt.Tx, h *embeddedLock) error {
		if h.dlq {
			return tx.Bucket(bucketDLQLocks).Delete(h.key)
		}
		var rec record
		if err := json.Unmarshal(tx.Bucket(bucketMsgs).Get(h.key), &rec); err != nil {
			return fmt.Errorf("corrupt message %x: %w", h.key, err)
		}
		if rec.DeliveryCount >= q.opts.MaxDeliveryCount {
			return q.moveToDLQ(tx, h.key, ReasonMaxDeliveryCountExceeded,
				fmt.Sprintf("Message could not be consumed after %d delivery attempts.", q.opts.MaxDeliveryCount))
		}
		return tx.Bucket(bucketLocks).Delete(h.key)
	})
	if err == nil {
		q.notify()
	}
	return err
}

// DeadLetter moves a locked main-queue message to the dead-letter sub-queue.
func (q *Embedded) DeadLetter(ctx context.Context, m *Message, reason, description string) error {
	if h, ok := handleOf(m).(*embeddedLock); ok && h.dlq {
		return fmt.Errorf("queue: dead-letter %s: message is already in the dead-letter sub-queue", m.ID)
	}
	err := q.settle(ctx, "dead-letter", m, func(tx *bolt.Tx, h *embeddedLock) error {
		return q.moveToDLQ(tx, h.key, reason, description)
	})
	if err == nil {
		q.notify()
	}
	return err
}

// PeekDeadLetters returns up to max dead letters, oldest first, locked or not.
func (q *Embedded) PeekDeadLetters(ctx context.Context, max int) ([]*Message, error) {
	return q.PeekDeadLettersFrom(ctx, 0, max)
}

// PeekDeadLettersFrom returns up to max dead letters from sequence number
// from on, in sequence order, locked or not.
func (q *Embedded) PeekDeadLettersFrom(ctx context.Context, from int64, max int) ([]*Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if q.isClosed() {
		return nil, ErrClosed
	}
	if from < 0 {
		from = 0
	}
	var out []*Message
	err := q.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDLQ).Cursor()
		for k, v := c.Seek(seqKey(uint64(from))); k != nil && len(out) < max; k, v = c.Next() {
			var rec record
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("corrupt dead letter %x: %w", k, err)
			}
			out = append(out, rec.message(k, nil))
		}
		return nil
	})
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return nil, ErrClosed
	}
	if err != nil {
		return nil, fmt.Errorf("queue: peek dead letters: %w", err)
	}
	return out, nil
}

// Stats counts messages for progress displays.
type Stats struct {
	Active       int // in the main queue and available for delivery
	Locked       int // in the main queue under an unexpired lock
	Scheduled    int // in the main queue, scheduled for later
	DeadLettered int // in the dead-letter sub-queue, locked or not
}

// Stats returns the current counts.
func (q *Embedded) Stats() (Stats, error) {
	if q.isClosed() {
		return Stats{}, ErrClosed
	}
	var s Stats
	err := q.db.View(func(tx *bolt.Tx) error {
		now := q.opts.Now().UnixNano()
		total := tx.Bucket(bucketMsgs).Stats().KeyN
		err := tx.Bucket(bucketLocks).ForEach(func(_, v []byte) error {
			if l, ok := decodeLock(v); ok && l.until > now {
				s.Locked++
			}
			return nil
		})
		if err == nil {
			err = tx.Bucket(bucketSched).ForEach(func(_, v []byte) error {
				if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) > now {
					s.Scheduled++
				}
				return nil
			})
		}
		s.Active = total - s.Locked - s.Scheduled
		s.DeadLettered = tx.Bucket(bucketDLQ).Stats().KeyN
		return err
	})
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return Stats{}, ErrClosed
	}
	if err != nil {
		return Stats{}, fmt.Errorf("queue: stats: %w", err)
	}
	return s, nil
}
