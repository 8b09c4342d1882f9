package queue

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

func TestToServiceBus(t *testing.T) {
	tests := []struct {
		name string
		in   Outgoing
		id   *string
		ct   *string
		prop map[string]any
	}{
		{"full", Outgoing{ID: "g1", Body: []byte("b"), ContentType: "application/json", Properties: map[string]string{"source": "discover"}},
			ptr("g1"), ptr("application/json"), map[string]any{"source": "discover"}},
		{"bare", Outgoing{Body: []byte("b")}, nil, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := toServiceBus(tc.in)
			if string(got.Body) != string(tc.in.Body) || fmt.Sprint(deref(got.MessageID)) != fmt.Sprint(deref(tc.id)) ||
				fmt.Sprint(deref(got.ContentType)) != fmt.Sprint(deref(tc.ct)) || fmt.Sprint(got.ApplicationProperties) != fmt.Sprint(tc.prop) {
				t.Fatalf("toServiceBus(%+v) = id %v ct %v props %v", tc.in, deref(got.MessageID), deref(got.ContentType), got.ApplicationProperties)
			}
		})
	}
}

func TestFromServiceBus(t *testing.T) {
	enq := time.Date(2026, 11, 2, 9, 0, 0, 0, time.FixedZone("x", 3600))
	rm := &azservicebus.ReceivedMessage{
		MessageID: "g1", Body: []byte("b"), ContentType: ptr("application/json"),
		ApplicationProperties: map[string]any{"source": "replay", "n": int64(3)},
		DeliveryCount:         4, EnqueuedTime: &enq, SequenceNumber: ptr(int64(42)),
		DeadLetterReason: ptr("MaxDeliveryCountExceeded"), DeadLetterErrorDescription: ptr("too many"),
	}
	m := fromServiceBus(rm, nil)
	want := Message{ID: "g1", Body: []byte("b"), ContentType: "application/json",
		Properties: map[string]string{"source": "replay", "n": "3"}, DeliveryCount: 4,
		EnqueuedAt: enq.UTC(), SequenceNumber: 42, DeadLetterReason: "MaxDeliveryCountExceeded", DeadLetterDescription: "too many"}
	if fmt.Sprint(*m) != fmt.Sprint(want) || m.EnqueuedAt.Location() != time.UTC {
		t.Fatalf("fromServiceBus = %+v\nwant %+v", *m, want)
	}
	if m := fromServiceBus(&azservicebus.ReceivedMessage{MessageID: "bare"}, nil); m.ID != "bare" || m.Properties != nil || !m.EnqueuedAt.IsZero() {
		t.Fatalf("bare message mapped to %+v", *m)
	}
}

type noCred struct{}

func (noCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, errors.New("no token here")
}

func TestServiceBusSettleForeign(t *testing.T) {
	sb, err := NewServiceBus(context.Background(), "example", "interactions", noCred{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	ctx := context.Background()
	e, err := OpenEmbedded(t.TempDir()+"/q.db", EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.SendBatch(ctx, []Outgoing{{ID: "a"}}); err != nil {
		t.Fatal(err)
	}
	msgs, err := e.Receive(ctx, 1, 0)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("receive: %v %v", msgs, err)
	}
	for name, err := range map[string]error{
		"complete":    sb.Complete(ctx, msgs[0]),
		"abandon":     sb.Abandon(ctx, msgs[0]),
		"dead-letter": sb.DeadLetter(ctx, msgs[0], "r", "d"),
		"nil":         sb.Complete(ctx, nil),
	} {
		if !errors.Is(err, ErrForeignMessage) {
			t.Errorf("%s of an embedded message on Service Bus: %v, want ErrForeignMessage", name, err)
		}
	}
	if _, err := NewServiceBus(ctx, "", "q", noCred{}, nil); err == nil {
		t.Error("empty namespace accepted")
	}
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
