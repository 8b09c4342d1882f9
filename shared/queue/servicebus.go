package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// ServiceBusOptions configure the Service Bus adapter. The queue's own
// settings (lock duration, max delivery count, duplicate detection window)
// belong to the queue in Azure, set by the deployment templates.
type ServiceBusOptions struct {
	// Client is passed to azservicebus.NewClient (retries, TLS, websockets).
	Client *azservicebus.ClientOptions
	// MinWait is how long Receive waits when asked not to wait: Service Bus
	// has no "return at once if empty" receive (default 1s).
	MinWait time.Duration
	// MaxBatchBytes overrides the batch size the service advertises.
	MaxBatchBytes uint64
}

// ServiceBus is the Queue on an Azure Service Bus queue, authenticated with
// an identity (managed identity in Azure). It is a thin mapping of
// azservicebus: the semantics are Service Bus's own.
//
// What is tested here, without a broker: the message mappings both ways,
// the refusal to settle a message received elsewhere, and the constructor's
// argument checks. What is tested against a stand-in broker
// (TestServiceBusStandIn: the real SDK over plain AMQP, via
// UseDevelopmentEmulator=true, to testdata/amqpfake.py, which answers as
// Service Bus does): the whole queuetest conformance suite, so every call
// that reaches the service (token negotiation on $cbs, NewMessageBatch
// sizing from the link's max message size, splitting a send into several
// batches, SendMessageBatch, ReceiveMessages and the MinWait timeout,
// Complete/Abandon/DeadLetter as link dispositions, the dead-letter
// sub-queue receiver, PeekMessages on $management from sequence number 0)
// and the mapping of a lock-lost rejection to ErrLockLost. What remains untested, because no Service Bus
// emulator can run where the product is built: that Service Bus itself
// behaves as the stand-in does (lock duration and expiry, delivery counts,
// MaxDeliveryCountExceeded, duplicate detection, FIFO order, how a peek
// reports a dead letter's delivery count), managed-identity token
// acquisition, TLS, settlement through $management after a link was lost,
// and reconnection. Run queuetest.Run against a real namespace before a
// release.
//
// SendBatch splits msgs across as many AMQP batches as needed. Every batch
// is built before the first is sent, so a message that can never fit fails
// the call with nothing sent; but a network failure between batches leaves
// the earlier ones sent. Sending the same msgs again is then safe: duplicate
// detection (MessageId = Outgoing.ID) drops what already went.
type ServiceBus struct {
	client   *azservicebus.Client
	owned    bool // Close closes client
	sender   *azservicebus.Sender
	receiver *azservicebus.Receiver // peek-lock on the queue
	dlq      *azservicebus.Receiver // peek-lock on <queue>/$deadletterqueue
	opts     ServiceBusOptions

	recvMu sync.Mutex // one ReceiveMessages at a time per receiver link
	dlqMu  sync.Mutex
}

var _ Queue = (*ServiceBus)(nil)

// sbLock is the handle of a message received through a ServiceBus; it must
// be settled on the receiver (link) that received it.
type sbLock struct {
	sb  *ServiceBus
	r   *azservicebus.Receiver
	rm  *azservicebus.ReceivedMessage
	dlq bool

	mu      sync.Mutex
	settled bool // go-amqp treats settling a settled delivery as a silent no-op
}

// settle runs one settlement of h. The SDK (go-amqp underneath) returns nil
// when a message already settled on its link is settled again, so without
// this record a second Complete, or a Complete after Abandon, would claim a
// success the service never granted; the port promises ErrLockLost.
func (h *sbLock) settle(op string, m *Message, fn func() error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.settled {
		return fmt.Errorf("queue: %s %s: %w: already settled through this queue", op, m.ID, ErrLockLost)
	}
	if err := fn(); err != nil {
		err = mapError(op+" "+m.ID, err)
		h.settled = errors.Is(err, ErrLockLost) // the service settled it: a lost lock stays lost
		return err
	}
	h.settled = true
	return nil
}

// NewServiceBus connects to queueName in namespace ("name" or
// "name.servicebus.windows.net") with cred. Links open on first use, so a
// missing queue or role shows up at the first Send or Receive.
func NewServiceBus(ctx context.Context, namespace, queueName string, cred azcore.TokenCredential, opts *ServiceBusOptions) (*ServiceBus, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if namespace == "" || queueName == "" || cred == nil {
		return nil, errors.New("queue: service bus needs a namespace, a queue name and a credential")
	}
	if !strings.Contains(namespace, ".") {
		namespace += ".servicebus.windows.net"
	}
	var o ServiceBusOptions
	if opts != nil {
		o = *opts
	}
	client, err := azservicebus.NewClient(namespace, cred, o.Client)
	if err != nil {
		return nil, fmt.Errorf("queue: service bus client for %s: %w", namespace, err)
	}
	sb, err := NewServiceBusWithClient(client, queueName, &o)
	if err != nil {
		_ = client.Close(context.Background())
		return nil, err
	}
	sb.owned = true
	return sb, nil
}

// NewServiceBusWithClient uses an existing client (for a connection string
// or a stand-in broker). Close does not close client.
func NewServiceBusWithClient(client *azservicebus.Client, queueName string, opts *ServiceBusOptions) (*ServiceBus, error) {
	var o ServiceBusOptions
	if opts != nil {
		o = *opts
	}
	if o.MinWait <= 0 {
		o.MinWait = time.Second
	}
	sender, err := client.NewSender(queueName, nil)
	if err != nil {
		return nil, fmt.Errorf("queue: service bus sender for %s: %w", queueName, err)
	}
	receiver, err := client.NewReceiverForQueue(queueName, &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModePeekLock})
	if err != nil {
		return nil, fmt.Errorf("queue: service bus receiver for %s: %w", queueName, err)
	}
	dlq, err := client.NewReceiverForQueue(queueName, &azservicebus.ReceiverOptions{
		ReceiveMode: azservicebus.ReceiveModePeekLock,
		SubQueue:    azservicebus.SubQueueDeadLetter,
	})
	if err != nil {
		return nil, fmt.Errorf("queue: service bus dead-letter receiver for %s: %w", queueName, err)
	}
	return &ServiceBus{client: client, sender: sender, receiver: receiver, dlq: dlq, opts: o}, nil
}

// toServiceBus maps an Outgoing to the SDK's message.
func toServiceBus(m Outgoing) *azservicebus.Message {
	sm := &azservicebus.Message{Body: m.Body}
	if !m.ScheduledAt.IsZero() {
		at := m.ScheduledAt.UTC()
		sm.ScheduledEnqueueTime = &at
	}
	if m.ID != "" {
		id := m.ID
		sm.MessageID = &id
	}
	if m.ContentType != "" {
		ct := m.ContentType
		sm.ContentType = &ct
	}
	if len(m.Properties) > 0 {
		sm.ApplicationProperties = make(map[string]any, len(m.Properties))
		for k, v := range m.Properties {
			sm.ApplicationProperties[k] = v
		}
	}
	return sm
}

// deadLetterProperties are the application properties Service Bus adds to a
// dead letter; fromServiceBus moves them into the Message's own fields so
// Properties stays what the sender set.
var deadLetterProperties = map[string]bool{"DeadLetterReason": true, "DeadLetterErrorDescription": true}

// fromServiceBus maps a received message; non-string application
// properties (set by other senders) are formatted with fmt.
func fromServiceBus(rm *azservicebus.ReceivedMessage, h *sbLock) *Message {
	m := &Message{
		ID:            rm.MessageID,
		Body:          rm.Body,
		DeliveryCount: int(rm.DeliveryCount),
	}
	if rm.ContentType != nil {
		m.ContentType = *rm.ContentType
	}
	if len(rm.ApplicationProperties) > 0 {
		m.Properties = make(map[string]string, len(rm.ApplicationProperties))
		for k, v := range rm.ApplicationProperties {
			if deadLetterProperties[k] { // the SDK surfaces these as DeadLetter* fields
				continue
			}
			if s, ok := v.(string); ok {
				m.Properties[k] = s
			} else {
				m.Properties[k] = fmt.Sprint(v)
			}
		}
	}
	if rm.EnqueuedTime != nil {
		m.EnqueuedAt = rm.EnqueuedTime.UTC()
	}
	if rm.SequenceNumber != nil {
		m.SequenceNumber = *rm.SequenceNumber
	}
	if rm.DeadLetterReason != nil {
		m.DeadLetterReason = *rm.DeadLetterReason
	}
	if rm.DeadLetterErrorDescription != nil {
		m.DeadLetterDescription = *rm.DeadLetterErrorDescription
	}
	if h != nil {
		m.handle = h
	}
	return m
}

// mapError turns the SDK's lock-lost error into ErrLockLost, keeping the
// original in the chain.
func mapError(op string, err error) error {
	var sbErr *azservicebus.Error
	if errors.As(err, &sbErr) && sbErr.Code == azservicebus.CodeLockLost {
		return fmt.Errorf("queue: %s: %w (%w)", op, ErrLockLost, err)
	}
	return fmt.Errorf("queue: %s: %w", op, err)
}

// SendBatch sends msgs, MessageId = ID, in as few AMQP batches as fit.
func (s *ServiceBus) SendBatch(ctx context.Context, msgs []Outgoing) error {
	if len(msgs) == 0 {
		return nil
	}
	var bopts *azservicebus.MessageBatchOptions
	if s.opts.MaxBatchBytes > 0 {
		bopts = &azservicebus.MessageBatchOptions{MaxBytes: s.opts.MaxBatchBytes}
	}
	var batches []*azservicebus.MessageBatch
	cur, err := s.sender.NewMessageBatch(ctx, bopts)
	if err != nil {
		return mapError("new message batch", err)
	}
	for _, m := range msgs {
		sm := toServiceBus(m)
		err := cur.AddMessage(sm, nil)
		if errors.Is(err, azservicebus.ErrMessageTooLarge) && cur.NumMessages() > 0 {
			batches = append(batches, cur)
			if cur, err = s.sender.NewMessageBatch(ctx, bopts); err != nil {
				return mapError("new message batch", err)
			}
			err = cur.AddMessage(sm, nil)
		}
		if errors.Is(err, azservicebus.ErrMessageTooLarge) {
			return fmt.Errorf("%w: message %q (%d byte body) exceeds the batch limit; nothing was sent", ErrMessageTooLarge, m.ID, len(m.Body))
		}
		if err != nil {
			return mapError("add message", err)
		}
	}
	batches = append(batches, cur)
	for i, b := range batches {
		if err := s.sender.SendMessageBatch(ctx, b, nil); err != nil {
			return mapError(fmt.Sprintf("send batch %d of %d (earlier ones were sent; resending all is safe)", i+1, len(batches)), err)
		}
	}
	return nil
}

// Receive locks up to max messages, waiting up to wait (at least MinWait).
func (s *ServiceBus) Receive(ctx context.Context, max int, wait time.Duration) ([]*Message, error) {
	return s.receive(ctx, s.receiver, &s.recvMu, false, max, wait)
}

// ReceiveDeadLetters locks up to max messages from the dead-letter sub-queue.
func (s *ServiceBus) ReceiveDeadLetters(ctx context.Context, max int, wait time.Duration) ([]*Message, error) {
	return s.receive(ctx, s.dlq, &s.dlqMu, true, max, wait)
}

func (s *ServiceBus) receive(ctx context.Context, r *azservicebus.Receiver, mu *sync.Mutex, dlq bool, max int, wait time.Duration) ([]*Message, error) {
	if max <= 0 {
		return nil, fmt.Errorf("queue: receive: max must be positive, got %d", max)
	}
	if wait < s.opts.MinWait {
		wait = s.opts.MinWait
	}
	mu.Lock()
	defer mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	rms, err := r.ReceiveMessages(rctx, max, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if rctx.Err() != nil {
			return nil, nil // waited, nothing came
		}
		return nil, mapError("receive", err)
	}
	out := make([]*Message, len(rms))
	for i, rm := range rms {
		out[i] = fromServiceBus(rm, &sbLock{sb: s, r: r, rm: rm, dlq: dlq})
	}
	return out, nil
}

func (s *ServiceBus) lockOf(op string, m *Message) (*sbLock, error) {
	h, ok := handleOf(m).(*sbLock)
	if !ok || h.sb != s {
		id := "<nil>"
		if m != nil {
			id = m.ID
		}
		return nil, fmt.Errorf("queue: %s %s: %w", op, id, ErrForeignMessage)
	}
	return h, nil
}

// Complete settles the message as done.
func (s *ServiceBus) Complete(ctx context.Context, m *Message) error {
	h, err := s.lockOf("complete", m)
	if err != nil {
		return err
	}
	return h.settle("complete", m, func() error { return h.r.CompleteMessage(ctx, h.rm, nil) })
}

// Abandon releases the lock for redelivery.
func (s *ServiceBus) Abandon(ctx context.Context, m *Message) error {
	h, err := s.lockOf("abandon", m)
	if err != nil {
		return err
	}
	return h.settle("abandon", m, func() error { return h.r.AbandonMessage(ctx, h.rm, nil) })
}

// DeadLetter moves the message to the dead-letter sub-queue.
func (s *ServiceBus) DeadLetter(ctx context.Context, m *Message, reason, description string) error {
	h, err := s.lockOf("dead-letter", m)
	if err != nil {
		return err
	}
	if h.dlq {
		return fmt.Errorf("queue: dead-letter %s: message is already in the dead-letter sub-queue", m.ID)
	}
	return h.settle("dead-letter", m, func() error {
		return h.r.DeadLetterMessage(ctx, h.rm, &azservicebus.DeadLetterOptions{Reason: &reason, ErrorDescription: &description})
	})
}

// PeekDeadLetters browses the dead-letter sub-queue from its start. Service
// Bus may return fewer than max even when more exist.
func (s *ServiceBus) PeekDeadLetters(ctx context.Context, max int) ([]*Message, error) {
	return s.PeekDeadLettersFrom(ctx, 0, max)
}

// PeekDeadLettersFrom browses the dead-letter sub-queue from sequence
// number from. Each call names its start: the receiver's own peek cursor
// would make concurrent passes skip each other's pages.
func (s *ServiceBus) PeekDeadLettersFrom(ctx context.Context, from int64, max int) ([]*Message, error) {
	if from < 0 {
		from = 0
	}
	rms, err := s.dlq.PeekMessages(ctx, max, &azservicebus.PeekMessagesOptions{FromSequenceNumber: &from})
	if err != nil {
		return nil, mapError("peek dead letters", err)
	}
	out := make([]*Message, len(rms))
	for i, rm := range rms {
		out[i] = fromServiceBus(rm, nil)
	}
	return out, nil
}

// Close closes the links, and the client if NewServiceBus made it.
func (s *ServiceBus) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := []error{s.sender.Close(ctx), s.receiver.Close(ctx), s.dlq.Close(ctx)}
	if s.owned {
		errs = append(errs, s.client.Close(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("queue: close service bus: %w", err)
	}
	return nil
}
