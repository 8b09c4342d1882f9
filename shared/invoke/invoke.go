// Package invoke speaks the Azure Functions custom-handler protocol: it
// decodes the host's invocation requests (with their quirks) and writes the
// responses the host expects.
//
// The host posts {"Data": {...}, "Metadata": {...}} to /<function>. Service
// Bus metadata arrives doubly encoded (string values are JSON strings inside
// JSON strings, numbers are strings) and the message body may arrive as a JSON
// string, a JSON object, a doubly quoted string or base64.
package invoke

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxRequestBytes bounds an invocation request: messages are small (ids and
// a little metadata); anything larger is not ours.
const MaxRequestBytes = 1 << 20

// ErrMalformed marks a request the handler can never process.
var ErrMalformed = errors.New("malformed invocation")

// Request is the raw invocation envelope.
type Request struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

// Sys is the host's system metadata present on every invocation.
type Sys struct {
	MethodName string    `json:"MethodName"`
	UtcNow     time.Time `json:"UtcNow"`
	RandGUID   string    `json:"RandGuid"`
}

// Timer is a decoded timer-trigger invocation.
type Timer struct {
	IsPastDue   bool
	Last, Next  time.Time // zero when the host did not say
	LastUpdated time.Time
	Sys         Sys
}

// Message is a decoded Service Bus-trigger invocation.
type Message struct {
	Body           []byte // the message body, decoded from whichever form the host used
	MessageID      string
	ContentType    string
	LockToken      string
	DeliveryCount  int
	SequenceNumber int64
	EnqueuedTime   time.Time
	Properties     map[string]string // application properties with string values
	Sys            Sys
}

// ReadRequest reads and parses an invocation envelope from r.
func ReadRequest(r io.Reader) (*Request, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxRequestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read invocation: %w", err)
	}
	if len(data) > MaxRequestBytes {
		return nil, fmt.Errorf("%w: request larger than %d bytes", ErrMalformed, MaxRequestBytes)
	}
	var req Request
	if err := json.Unmarshal(data, &req); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return &req, nil
}

// Timer decodes a timer trigger bound under name.
func (r *Request) Timer(name string) (Timer, error) {
	var t Timer
	raw, ok := r.Data[name]
	if !ok {
		return t, fmt.Errorf("%w: no %q in Data", ErrMalformed, name)
	}
	var payload struct {
		IsPastDue      any `json:"IsPastDue"`
		ScheduleStatus *struct {
			Last, Next, LastUpdated string
		} `json:"ScheduleStatus"`
	}
	if err := json.Unmarshal(unwrapString(raw), &payload); err != nil {
		return t, fmt.Errorf("%w: timer: %v", ErrMalformed, err)
	}
	pastDue, err := asBool(payload.IsPastDue)
	if err != nil {
		return t, fmt.Errorf("%w: timer IsPastDue: %v", ErrMalformed, err)
	}
	t.IsPastDue = pastDue
	if s := payload.ScheduleStatus; s != nil {
		t.Last, _ = parseTime(s.Last)
		t.Next, _ = parseTime(s.Next)
		t.LastUpdated, _ = parseTime(s.LastUpdated)
	}
	t.Sys = r.sys()
	return t, nil
}

// ServiceBus decodes a Service Bus trigger bound under name.
func (r *Request) ServiceBus(name string) (Message, error) {
	var m Message
	raw, ok := r.Data[name]
	if !ok {
		return m, fmt.Errorf("%w: no %q in Data", ErrMalformed, name)
	}
	body, err := decodeBody(raw)
	if err != nil {
		return m, fmt.Errorf("%w: message body: %v", ErrMalformed, err)
	}
	m.Body = body
	m.MessageID = r.metaString("MessageId")
	m.ContentType = r.metaString("ContentType")
	m.LockToken = r.metaString("LockToken")
	if s := r.metaString("DeliveryCount"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return m, fmt.Errorf("%w: DeliveryCount %q", ErrMalformed, s)
		}
		m.DeliveryCount = n
	}
	if s := r.metaString("SequenceNumber"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return m, fmt.Errorf("%w: SequenceNumber %q", ErrMalformed, s)
		}
		m.SequenceNumber = n
	}
	if s := r.metaString("EnqueuedTimeUtc"); s != "" {
		m.EnqueuedTime, _ = parseTime(s)
	}
	m.Properties = r.properties("ApplicationProperties")
	m.Sys = r.sys()
	return m, nil
}

func (r *Request) sys() Sys {
	var s Sys
	if raw, ok := r.Metadata["sys"]; ok {
		_ = json.Unmarshal(unwrapString(raw), &s) // informational only
	}
	return s
}

// metaString returns a metadata value as a plain string, undoing the host's
// double encoding ("\"id\"" → id) and accepting bare numbers and booleans.
func (r *Request) metaString(key string) string {
	raw, ok := r.Metadata[key]
	if !ok {
		return ""
	}
	return scalarString(raw)
}

func (r *Request) properties(key string) map[string]string {
	raw, ok := r.Metadata[key]
	if !ok {
		return nil
	}
	var props map[string]json.RawMessage
	if err := json.Unmarshal(unwrapString(raw), &props); err != nil || len(props) == 0 {
		return nil
	}
	out := make(map[string]string, len(props))
	for k, v := range props {
		out[k] = scalarString(v)
	}
	return out
}

// scalarString turns a JSON scalar into its string form, unwrapping nested
// JSON strings up to a few levels.
func scalarString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	for i := 0; i < 3; i++ {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			break
		}
		next := []byte(strings.TrimSpace(s))
		if len(next) > 1 && next[0] == '"' && json.Valid(next) {
			raw = next
			continue
		}
		return s
	}
	if string(raw) == "null" {
		return ""
	}
	return string(raw)
}

// unwrapString returns the JSON inside raw when raw is a JSON string that
// holds a JSON object (the host sometimes serialises objects to strings).
func unwrapString(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	for i := 0; i < 3 && len(raw) > 0 && raw[0] == '"'; i++ {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			break
		}
		raw = json.RawMessage(strings.TrimSpace(s))
	}
	return raw
}

// decodeBody recovers a JSON message body from the forms the host uses: an
// object, a JSON string holding the object (possibly quoted twice), or base64
// of either.
func decodeBody(raw json.RawMessage) ([]byte, error) {
	cur := bytes.TrimSpace(raw)
	for i := 0; i < 4; i++ {
		if len(cur) == 0 {
			return nil, errors.New("empty")
		}
		switch cur[0] {
		case '{', '[':
			// JSON text is UTF-8 (RFC 8259); Go's json.Valid lets invalid
			// bytes inside strings through, which a decoder would then
			// silently replace.
			if !json.Valid(cur) || !utf8.Valid(cur) {
				return nil, errors.New("invalid JSON")
			}
			return cur, nil
		case '"':
			var s string
			if err := json.Unmarshal(cur, &s); err != nil {
				return nil, err
			}
			cur = []byte(strings.TrimSpace(s))
		default:
			dec, err := base64.StdEncoding.DecodeString(string(cur))
			if err != nil {
				return nil, errors.New("neither JSON nor base64")
			}
			cur = bytes.TrimSpace(dec)
		}
	}
	return nil, errors.New("too deeply encoded")
}

func asBool(v any) (bool, error) {
	switch b := v.(type) {
	case nil:
		return false, nil
	case bool:
		return b, nil
	case string:
		return strconv.ParseBool(strings.Trim(b, `"`))
	default:
		return false, fmt.Errorf("unexpected %T", v)
	}
}

// parseTime accepts the host's timestamp forms: RFC 3339 with or without a
// zone (a zoneless time is UTC, as the host writes *Utc fields).
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("empty time")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC)
	if err != nil {
		return time.Time{}, err
	}
	return t, nil
}

// Response is what the handler answers. Any non-2xx status fails the
// invocation: for a Service Bus trigger the host then abandons the message
// and Service Bus redelivers it (or dead-letters it past maxDeliveryCount).
type Response struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// Write sends resp with status. Outputs is never null: the host expects an object.
func Write(w http.ResponseWriter, status int, resp Response) {
	if resp.Outputs == nil {
		resp.Outputs = map[string]any{}
	}
	if resp.Logs == nil {
		resp.Logs = []string{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(resp)
}
