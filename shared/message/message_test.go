package message

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

func TestDecodeRejectsWhatCanNeverBeProcessed(t *testing.T) {
	cases := map[string]string{
		"not json":        `{"v":1,`,
		"no version":      `{"interactionId":"2480fc2c-7a3b-4b5e-9c61-0d2f4e8a1b7c"}`,
		"future version":  `{"v":2,"interactionId":"2480fc2c-7a3b-4b5e-9c61-0d2f4e8a1b7c"}`,
		"bad guid":        `{"v":1,"interactionId":"../../etc"}`,
		"bad tenant":      `{"v":1,"interactionId":"2480fc2c-7a3b-4b5e-9c61-0d2f4e8a1b7c","tenant":"../acme"}`,
		"upper tenant":    `{"v":1,"interactionId":"2480fc2c-7a3b-4b5e-9c61-0d2f4e8a1b7c","tenant":"Acme"}`,
		"bad content key": `{"v":1,"interactionId":"2480fc2c-7a3b-4b5e-9c61-0d2f4e8a1b7c","content":[{"contentKey":"a/b"}]}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode([]byte(body)); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestRoundTripCarriesWhatDiscoveryLearned(t *testing.T) {
	start := time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)
	in := vcc.Interaction{
		GUID: "2480fc2c-7a3b-4b5e-9c61-0d2f4e8a1b7c", Start: start, Direction: vcc.DirectionInbound,
		HandlingAgents: []vcc.AgentRef{{ID: "1342"}},
		Content:        []vcc.ContentItem{{ContentKey: "callRecording", Type: "callRecording", ContentType: "audio/wav", ContentLength: 99}},
	}
	st := &vcc.Stats{GUID: in.GUID, Direction: vcc.DirectionOutbound, Duration: 90 * time.Second, Medium: "Phone"}
	data, err := Encode(FromInteraction(in, st, "discover", start))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if b.Direction != "outbound" || b.ContentDir != "inbound" || b.Duration != 90000 || b.Medium != "Phone" {
		t.Errorf("direction/timing: %+v", b)
	}
	if !b.Start.Equal(start) || len(b.Agents) != 1 || b.Agents[0] != "1342" || len(b.Content) != 1 || b.Content[0].ContentLength != 99 {
		t.Errorf("content/agents: %+v", b)
	}

	// Stats that does not know the direction leaves it empty: ingest then
	// falls back to the content API's field, and says so.
	b2 := FromInteraction(in, &vcc.Stats{Direction: vcc.DirectionUnknown}, "discover", start)
	if b2.Direction != "" || b2.ContentDir != "inbound" {
		t.Errorf("unknown stats direction: %+v", b2)
	}
}

// The Functions host copies a message body's top-level fields into the
// invocation's Metadata and lets them overwrite the system keys of the same
// name, case-insensitively: a body field called messageId would silently
// replace the real MessageId. No field of the body may share a name with a
// key the host sets.
func TestBodyFieldsNeverShadowHostMetadata(t *testing.T) {
	system := []string{
		"DeliveryCount", "LockToken", "MessageId", "ContentType", "SequenceNumber", "EnqueuedTimeUtc",
		"EnqueuedTime", "ExpiresAtUtc", "ExpiresAt", "CorrelationId", "SessionId", "ReplyTo", "ReplyToSessionId",
		"To", "Label", "Subject", "PartitionKey", "TimeToLive", "DeadLetterSource", "ApplicationProperties",
		"UserProperties", "MessageReceiver", "MessageSession", "MessageActions", "SessionActions", "ReceiveActions",
		"Client", "RetryContext", "sys",
	}
	now := time.Now()
	data, err := Encode(Body{InteractionID: "2480fc2c-7a3b-4b5e-9c61-0d2f4e8a1b7c", Start: &now, Direction: "inbound",
		ContentDir: "inbound", Duration: 1, Medium: "Phone", Agents: []string{"1"}, Content: []Content{{ContentKey: "callRecording"}},
		DiscoveredAt: now, Source: "discover", Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	if len(fields) != reflect.TypeOf(Body{}).NumField() {
		t.Fatalf("the check saw %d fields of %d: fill every field above", len(fields), reflect.TypeOf(Body{}).NumField())
	}
	for f := range fields {
		for _, k := range system {
			if strings.EqualFold(f, k) {
				t.Errorf("body field %q would overwrite the host's %s metadata", f, k)
			}
		}
	}
}

func TestTenantRoundTripAndID(t *testing.T) {
	b, err := Decode([]byte(`{"v":1,"interactionId":"2480fc2c-7a3b-4b5e-9c61-0d2f4e8a1b7c","tenant":"globex-2"}`))
	if err != nil || b.Tenant != "globex-2" {
		t.Fatalf("tenant %q, %v", b.Tenant, err)
	}
	if ID("", "g") != "g" || ID("acme", "g") != "acme:g" {
		t.Errorf("ID: %q %q", ID("", "g"), ID("acme", "g"))
	}
	data, _ := Encode(Body{InteractionID: "2480fc2c-7a3b-4b5e-9c61-0d2f4e8a1b7c"})
	if strings.Contains(string(data), "tenant") {
		t.Errorf("a single-tenant body carries a tenant field: %s", data)
	}
}
