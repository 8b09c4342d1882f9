// Package queue is the pipeline's port to its work queue: discovery sends one
// message per interaction, ingest receives them under a peek-lock and settles
// each one. Two implementations share the semantics the pipeline relies on
// (peek-lock, delivery count, dead-lettering past a maximum delivery count,
// duplicate detection by message id, a dead-letter sub-queue): ServiceBus for
// Azure, and Embedded, a single-file queue for local runs and tests, because
// no Service Bus emulator can run where the product is built and tested.
// The shared conformance suite lives in package queuetest.
package queue

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Outgoing is a message to send. ID becomes the message id that duplicate
// detection keys on (discovery uses the interaction guid, so re-listing an
// interaction inside the window is harmless). An empty ID gets a random one.
type Outgoing struct {
	ID          string
	Body        []byte
	ContentType string
	Properties  map[string]string
	// ScheduledAt, when set and in the future, makes the message a
	// scheduled message (Service Bus ScheduledEnqueueTime): accepted and
	// de-duplicated now, invisible to receivers until then. A retry with
	// back-off is a scheduled copy; Service Bus itself redelivers an
	// abandoned message at once.
	ScheduledAt time.Time
}

// Message is a received message. It carries the lock (an unexported handle)
// that Complete, Abandon and DeadLetter need, so it must be settled through
// the Queue that returned it.
type Message struct {
	ID             string
	Body           []byte
	ContentType    string
	Properties     map[string]string
	DeliveryCount  int // 1 on the first delivery
	EnqueuedAt     time.Time
	SequenceNumber int64

	// Set on messages from the dead-letter sub-queue.
	DeadLetterReason      string
	DeadLetterDescription string

	handle any // *embeddedLock or *sbLock
}

// Sender is the part of the queue the steps send with (discover's messages,
// events' messages, ingest's scheduled copies).
type Sender interface {
	// SendBatch enqueues msgs all or nothing. A message whose ID was already
	// sent within the duplicate-detection window is dropped silently, as
	// Service Bus does.
	SendBatch(ctx context.Context, msgs []Outgoing) error
}

// Queue is the whole port: what the runners receive, settle and browse with.
// Implementations are safe for concurrent use.
type Queue interface {
	Sender
	// Receive locks and returns up to max messages, waiting up to wait for the
	// first one. No messages is not an error. Each receive counts a delivery.
	Receive(ctx context.Context, max int, wait time.Duration) ([]*Message, error)
	// Complete removes a locked message. A lock that expired or was lost
	// gives ErrLockLost (someone else may now hold the message).
	Complete(ctx context.Context, m *Message) error
	// Abandon releases the lock so the message is delivered again; the
	// delivery was already counted at receive.
	Abandon(ctx context.Context, m *Message) error
	// DeadLetter moves a locked message to the dead-letter sub-queue.
	DeadLetter(ctx context.Context, m *Message, reason, description string) error
	// ReceiveDeadLetters is Receive on the dead-letter sub-queue; Complete
	// removes a dead letter, Abandon puts it back.
	ReceiveDeadLetters(ctx context.Context, max int, wait time.Duration) ([]*Message, error)
	// PeekDeadLetters returns up to max dead letters, oldest first, without
	// locking: one page from the start, possibly fewer than exist. To see
	// every dead letter, use EachDeadLetter.
	PeekDeadLetters(ctx context.Context, max int) ([]*Message, error)
	DeadLetterPeeker
	Close() error
}

// DeadLetterPeeker browses the dead-letter sub-queue by sequence number.
type DeadLetterPeeker interface {
	// PeekDeadLettersFrom returns up to max dead letters whose sequence
	// number is at least from, in sequence order, without locking. It may
	// return fewer than max while more exist (Service Bus does): only an
	// empty page means there are no more.
	PeekDeadLettersFrom(ctx context.Context, from int64, max int) ([]*Message, error)
}

// DeadLetterPass reads the whole dead-letter sub-queue, page by page.
type DeadLetterPass struct {
	Page int // dead letters asked for per peek (default DeadLetterPage)
	Max  int // most dead letters read (default MaxDeadLetters)
}

const (
	// DeadLetterPage is the peek size of a pass: what Service Bus answers
	// in one management call for messages of a few hundred bytes.
	DeadLetterPage = 250
	// MaxDeadLetters bounds one pass, so that a runaway dead-letter queue
	// cannot make a report or a listing run for hours or exhaust memory.
	MaxDeadLetters = 1_000_000
)

// ErrTooManyDeadLetters means a pass stopped at its bound: the sub-queue
// holds at least that many dead letters, and only those were read.
var ErrTooManyDeadLetters = errors.New("queue: too many dead letters to read in one pass")

// EachDeadLetter calls fn with every dead letter, in sequence order, with
// the default DeadLetterPass.
func EachDeadLetter(ctx context.Context, p DeadLetterPeeker, fn func(*Message) error) error {
	return DeadLetterPass{}.Each(ctx, p, fn)
}

// Each calls fn with every dead letter in sequence order, peeking from the
// sequence number after the last one seen until a page comes back empty.
// It stops at fn's first error, and past Max dead letters with an error
// wrapping ErrTooManyDeadLetters (fn has then seen the first Max).
func (d DeadLetterPass) Each(ctx context.Context, p DeadLetterPeeker, fn func(*Message) error) error {
	page, limit := d.Page, d.Max
	if page <= 0 {
		page = DeadLetterPage
	}
	if limit <= 0 {
		limit = MaxDeadLetters
	}
	from, n := int64(0), 0
	for {
		msgs, err := p.PeekDeadLettersFrom(ctx, from, page)
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			return nil
		}
		start := from
		for _, m := range msgs {
			if m.SequenceNumber < from {
				continue // never twice, whatever the broker answers
			}
			if n >= limit {
				return fmt.Errorf("%w: more than %d; only the first %d were read", ErrTooManyDeadLetters, limit, limit)
			}
			n++
			from = m.SequenceNumber + 1
			if err := fn(m); err != nil {
				return err
			}
		}
		if from == start {
			return fmt.Errorf("queue: peek dead letters from %d: the page did not advance", start)
		}
	}
}

// Reasons set on messages the queue dead-letters by itself.
const (
	// ReasonMaxDeliveryCountExceeded is Service Bus's reason for a message
	// delivered more than the queue's maximum delivery count.
	ReasonMaxDeliveryCountExceeded = "MaxDeliveryCountExceeded"
)

var (
	// ErrLockLost means the message's lock expired or is no longer held:
	// the settlement did not happen and the message may be redelivered.
	ErrLockLost = errors.New("queue: message lock lost or expired")
	// ErrMessageTooLarge means a message cannot be sent at all; the batch
	// it belongs to is rejected as a whole.
	ErrMessageTooLarge = errors.New("queue: message too large")
	// ErrClosed is returned by every operation after Close.
	ErrClosed = errors.New("queue: closed")
	// ErrForeignMessage means a message was settled on a Queue (or
	// sub-queue) other than the one that received it.
	ErrForeignMessage = errors.New("queue: message was not received from this queue")
)
