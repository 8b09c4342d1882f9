package invoke

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/invoke/invoketest"
)

func fixture(t *testing.T, name string) []byte { return invoketest.Fixture(t, name) }

func TestTimerFixture(t *testing.T) {
	req, err := ReadRequest(bytes.NewReader(fixture(t, "timer.json")))
	if err != nil {
		t.Fatal(err)
	}
	tm, err := req.Timer("timer")
	if err != nil {
		t.Fatal(err)
	}
	if tm.IsPastDue {
		t.Error("IsPastDue = true, want false")
	}
	wantLast := time.Date(2026, 11, 2, 10, 5, 0, 1605200, time.UTC)
	if !tm.Last.Equal(wantLast) {
		t.Errorf("Last = %v, want %v", tm.Last, wantLast)
	}
	if tm.Sys.MethodName != "discover" || tm.Sys.UtcNow.IsZero() {
		t.Errorf("Sys = %+v", tm.Sys)
	}
}

func TestServiceBusFixture(t *testing.T) {
	req, err := ReadRequest(bytes.NewReader(fixture(t, "servicebus.json")))
	if err != nil {
		t.Fatal(err)
	}
	m, err := req.ServiceBus("message")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(m.Body), `{"v":1,"interactionId":"2480fc2c-7a3b-4b5e-9c61-0d2f4e8a1b7c"}`; got != want {
		t.Errorf("Body = %s, want %s", got, want)
	}
	if m.MessageID != "2480fc2c-7a3b-4b5e-9c61-0d2f4e8a1b7c" {
		t.Errorf("MessageID = %q", m.MessageID)
	}
	if m.DeliveryCount != 1 || m.SequenceNumber != 42 {
		t.Errorf("DeliveryCount, SequenceNumber = %d, %d", m.DeliveryCount, m.SequenceNumber)
	}
	if m.ContentType != "application/json" || m.LockToken != "6b0f3a52-1c1e-4a8e-9a55-5a4d2f3c9e10" {
		t.Errorf("ContentType, LockToken = %q, %q", m.ContentType, m.LockToken)
	}
	if want := time.Date(2026, 11, 2, 10, 10, 1, 0, time.UTC); !m.EnqueuedTime.Equal(want) {
		t.Errorf("EnqueuedTime = %v", m.EnqueuedTime)
	}
}

// The body's form depends on the message's content type; every form must
// yield the same JSON.
func TestServiceBusBodyForms(t *testing.T) {
	body := `{"v":1,"interactionId":"2480fc2c-7a3b-4b5e-9c61-0d2f4e8a1b7c"}`
	quoted, _ := json.Marshal(body)
	twice, _ := json.Marshal(string(quoted))
	b64 := base64.StdEncoding.EncodeToString([]byte(body))
	b64quoted, _ := json.Marshal(b64)
	cases := map[string]string{
		"object":        body,
		"json string":   string(quoted),
		"quoted twice":  string(twice),
		"base64 string": string(b64quoted),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			env := `{"Data":{"message":` + data + `},"Metadata":{"MessageId":"\"m1\"","DeliveryCount":3,"ApplicationProperties":{"replayCount":"\"2\""}}}`
			req, err := ReadRequest(strings.NewReader(env))
			if err != nil {
				t.Fatal(err)
			}
			m, err := req.ServiceBus("message")
			if err != nil {
				t.Fatal(err)
			}
			if string(m.Body) != body {
				t.Errorf("Body = %s", m.Body)
			}
			if m.MessageID != "m1" || m.DeliveryCount != 3 {
				t.Errorf("MessageID, DeliveryCount = %q, %d", m.MessageID, m.DeliveryCount)
			}
			if m.Properties["replayCount"] != "2" {
				t.Errorf("Properties = %v", m.Properties)
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	cases := map[string]string{
		"not json":         `{"Data":`,
		"no binding":       `{"Data":{},"Metadata":{}}`,
		"garbage body":     `{"Data":{"message":"%%%not-base64"},"Metadata":{}}`,
		"broken json":      `{"Data":{"message":"{\"v\":1"},"Metadata":{}}`,
		"bad count":        `{"Data":{"message":{}},"Metadata":{"DeliveryCount":"x"}}`,
		"empty body":       `{"Data":{"message":""},"Metadata":{}}`,
		"not UTF-8":        "{\"Data\":{\"message\":{\"id\":\"\xe6\"}},\"Metadata\":{}}",
		"base64 not UTF-8": `{"Data":{"message":"eyJpZCI6IuYifQ=="},"Metadata":{}}`,
		"oversized input":  `{"Data":{"message":"` + strings.Repeat("A", MaxRequestBytes) + `"}}`,
	}
	for name, env := range cases {
		t.Run(name, func(t *testing.T) {
			req, err := ReadRequest(strings.NewReader(env))
			if err == nil {
				_, err = req.ServiceBus("message")
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestWriteNeverNullOutputs(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, 500, Response{ReturnValue: map[string]string{"error": "x"}})
	if rec.Code != 500 {
		t.Fatalf("status %d", rec.Code)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if string(got["Outputs"]) != "{}" || string(got["Logs"]) != "[]" {
		t.Errorf("body = %s", rec.Body.String())
	}
}

func FuzzServiceBus(f *testing.F) {
	f.Add(`{"Data":{"message":"{\"v\":1}"},"Metadata":{"MessageId":"\"x\"","DeliveryCount":"1"}}`)
	f.Add(`{"Data":{"message":"eyJ2IjoxfQ=="},"Metadata":{}}`)
	f.Fuzz(func(t *testing.T, env string) {
		req, err := ReadRequest(strings.NewReader(env))
		if err != nil {
			return
		}
		m, err := req.ServiceBus("message")
		if err == nil && !json.Valid(m.Body) {
			t.Fatalf("accepted a body that is not JSON: %q", m.Body)
		}
	})
}
