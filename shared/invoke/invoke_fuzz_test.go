package invoke

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzHostRequest: any envelope the host might post decodes without
// panicking; a Service Bus body is JSON and survives the host's string
// wrapping unchanged; a timer decodes the same whether the host sends the
// payload as an object or as a JSON string holding it.
func FuzzHostRequest(f *testing.F) {
	f.Add(`{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":{"Last":"2026-11-02T10:00:00.0000000+00:00","Next":"2026-11-02T10:15:00+00:00","LastUpdated":"2026-11-02T10:00:00"},"IsPastDue":false}},"Metadata":{"sys":{"MethodName":"discover","UtcNow":"2026-11-02T10:15:00.01Z","RandGuid":"x"}}}`)
	f.Add(`{"Data":{"message":"{\"v\":1,\"interactionId\":\"0b0b0b0b-1c1c-4d4d-8e8e-9f9f9f9f9f9f\"}"},"Metadata":{"MessageId":"\"0b0b\"","DeliveryCount":"2","SequenceNumber":"7","ApplicationProperties":"{\"a\":\"\\\"b\\\"\"}"}}`)
	f.Fuzz(func(t *testing.T, env string) {
		req, err := ReadRequest(strings.NewReader(env))
		if err != nil {
			return
		}
		if m, err := req.ServiceBus("message"); err == nil {
			if !json.Valid(m.Body) || (m.Body[0] != '{' && m.Body[0] != '[') {
				t.Fatalf("body %q", m.Body)
			}
			wrapped, _ := json.Marshal(string(m.Body))
			again := &Request{Data: map[string]json.RawMessage{"message": wrapped}}
			m2, err := again.ServiceBus("message")
			if err != nil || !bytes.Equal(m2.Body, m.Body) {
				t.Fatalf("string-wrapped body: %q, %v; want %q", m2.Body, err, m.Body)
			}
		}
		if tm, err := req.Timer("timer"); err == nil {
			raw := bytes.TrimSpace(unwrapString(req.Data["timer"]))
			wrapped, _ := json.Marshal(string(raw))
			again := &Request{Data: map[string]json.RawMessage{"timer": wrapped}, Metadata: req.Metadata}
			tm2, err := again.Timer("timer")
			if err != nil || tm2.IsPastDue != tm.IsPastDue || !tm2.Last.Equal(tm.Last) || !tm2.Next.Equal(tm.Next) {
				t.Fatalf("string-wrapped timer: %+v, %v; want %+v", tm2, err, tm)
			}
		}
	})
}
