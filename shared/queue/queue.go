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

// Queue is the port the steps use. Implementations are safe for concurrent use.
type Queue interface {
	// SendBatch enqueues msgs all or nothing. A message whose ID was already
	// sent within the duplicate-detection window is dropped silently, as
	// Service Bus does.
	SendBatch(ctx context.Context, msgs []Outgoing) error
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
	// PeekDeadLetters returns up to max dead letters, oldest first, without locking.
	PeekDeadLetters(ctx context.Context, max int) ([]*Message, error)
	Close() error
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
