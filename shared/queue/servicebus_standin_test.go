package queue_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/vcc-ingest/vcc-ingest/shared/queue"
	"github.com/vcc-ingest/vcc-ingest/shared/queue/queuetest"
)

// TestServiceBusStandIn runs the conformance suite through the real
// azservicebus SDK and the ServiceBus adapter against testdata/amqpfake.py,
// an AMQP 1.0 broker that answers as Service Bus does. It covers the
// adapter's wire path (token negotiation on $cbs, batch sizing from the
// link's max message size, batch sends, peek-lock receives, link
// dispositions, the dead-letter sub-queue, $management peek); the queue
// semantics themselves are the stand-in's, so this does not prove Service
// Bus behaves the same.
func TestServiceBusStandIn(t *testing.T) {
	fake := amqpFakeOptions{
		MaxMessageSize:   64 << 10,
		LockDuration:     time.Minute,
		MaxDeliveryCount: 3,
		DuplicateWindow:  time.Hour,
	}
	broker := startAMQPFake(t, fake)
	conn := fmt.Sprintf("Endpoint=sb://127.0.0.1:%d;SharedAccessKeyName=standin;SharedAccessKey=standin;UseDevelopmentEmulator=true", broker.Port)
	client, err := azservicebus.NewClientFromConnectionString(conn, &azservicebus.ClientOptions{
		RetryOptions: azservicebus.RetryOptions{MaxRetries: 1, RetryDelay: 50 * time.Millisecond, MaxRetryDelay: 200 * time.Millisecond},
	})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = client.Close(ctx)
	})

	var n atomic.Int64
	queuetest.Run(t, func(t *testing.T, cfg queuetest.Config) queuetest.Target {
		if cfg.MaxMessageSize != fake.MaxMessageSize || cfg.LockDuration != fake.LockDuration ||
			cfg.MaxDeliveryCount != fake.MaxDeliveryCount || cfg.DuplicateWindow != fake.DuplicateWindow {
			t.Fatalf("suite config %+v differs from the stand-in's %+v", cfg, fake)
		}
		// A new queue name per test: the stand-in creates queues on first use.
		name := fmt.Sprintf("q%02d-%s", n.Add(1), strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")))
		sb, err := queue.NewServiceBusWithClient(client, name, &queue.ServiceBusOptions{MinWait: 300 * time.Millisecond})
		if err != nil {
			t.Fatalf("adapter: %v", err)
		}
		t.Cleanup(func() {
			if err := sb.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
		return queuetest.Target{Queue: &clockedQueue{Queue: sb, clock: cfg.Clock, broker: broker}, FakeClock: true}
	})

	// The suite's batches fit one AMQP batch; a small MaxBatchBytes makes
	// SendBatch split, and every message must arrive once, in order.
	t.Run("SplitsBatches", func(t *testing.T) {
		ctx := context.Background()
		sb, err := queue.NewServiceBusWithClient(client, "split", &queue.ServiceBusOptions{MinWait: 300 * time.Millisecond, MaxBatchBytes: 1024})
		if err != nil {
			t.Fatalf("adapter: %v", err)
		}
		defer func() { _ = sb.Close() }()
		var msgs []queue.Outgoing
		var want []string
		for i := 0; i < 40; i++ {
			id := fmt.Sprintf("split-%02d", i)
			msgs = append(msgs, queue.Outgoing{ID: id, Body: []byte(strings.Repeat("x", 100))})
			want = append(want, id)
		}
		if err := sb.SendBatch(ctx, msgs); err != nil {
			t.Fatalf("SendBatch: %v", err)
		}
		var got []string
		for len(got) < len(want) {
			rms, err := sb.Receive(ctx, 10, 5*time.Second)
			if err != nil || len(rms) == 0 {
				t.Fatalf("receive after %d messages: %v", len(got), err)
			}
			for _, m := range rms {
				got = append(got, m.ID)
				if err := sb.Complete(ctx, m); err != nil {
					t.Fatalf("complete %s: %v", m.ID, err)
				}
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("received %v, want %v", got, want)
		}
	})
}

// clockedQueue hands the suite's fake clock to the stand-in broker before
// every call, so the tests that drive time (lock expiry, the duplicate
// window) run against the broker too. Every call still goes through the
// adapter unchanged. Tests run one at a time, so one broker clock serves all.
type clockedQueue struct {
	queue.Queue
	clock  *queuetest.Clock
	broker *amqpFake
}

func (c *clockedQueue) sync() error { return c.broker.SetNow(c.clock.Now()) }

func (c *clockedQueue) SendBatch(ctx context.Context, msgs []queue.Outgoing) error {
	if err := c.sync(); err != nil {
		return err
	}
	return c.Queue.SendBatch(ctx, msgs)
}

func (c *clockedQueue) Receive(ctx context.Context, max int, wait time.Duration) ([]*queue.Message, error) {
	if err := c.sync(); err != nil {
		return nil, err
	}
	return c.Queue.Receive(ctx, max, wait)
}

func (c *clockedQueue) Complete(ctx context.Context, m *queue.Message) error {
	if err := c.sync(); err != nil {
		return err
	}
	return c.Queue.Complete(ctx, m)
}

func (c *clockedQueue) Abandon(ctx context.Context, m *queue.Message) error {
	if err := c.sync(); err != nil {
		return err
	}
	return c.Queue.Abandon(ctx, m)
}

func (c *clockedQueue) DeadLetter(ctx context.Context, m *queue.Message, reason, description string) error {
	if err := c.sync(); err != nil {
		return err
	}
	return c.Queue.DeadLetter(ctx, m, reason, description)
}

func (c *clockedQueue) ReceiveDeadLetters(ctx context.Context, max int, wait time.Duration) ([]*queue.Message, error) {
	if err := c.sync(); err != nil {
		return nil, err
	}
	return c.Queue.ReceiveDeadLetters(ctx, max, wait)
}

func (c *clockedQueue) PeekDeadLetters(ctx context.Context, max int) ([]*queue.Message, error) {
	if err := c.sync(); err != nil {
		return nil, err
	}
	return c.Queue.PeekDeadLetters(ctx, max)
}

func (c *clockedQueue) PeekDeadLettersFrom(ctx context.Context, from int64, max int) ([]*queue.Message, error) {
	if err := c.sync(); err != nil {
		return nil, err
	}
	return c.Queue.PeekDeadLettersFrom(ctx, from, max)
}
