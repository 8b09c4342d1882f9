package vccsim

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/webhook"
)

// DefaultWebhookSecret is the sandbox subscription's secret, base64 as VCC
// gives it (VCC_WEBHOOK_SECRET of a sandbox run).
var DefaultWebhookSecret = base64.StdEncoding.EncodeToString([]byte("vcc-sandbox-webhook-secret-0001!"))

// DefaultProcessingDelay is how long after a sandbox call ends its
// recording appears in the content API.
const DefaultProcessingDelay = 20 * time.Second

// Webhooks is the sandbox's webhook subscription: where it sends the
// channel events of live calls (EndCall, RunCalls), signed as VCC signs
// them, and how long VCC takes to process a call's recording.
type Webhooks struct {
	URL             string        // e.g. http://127.0.0.1:7071/api/vcc/events
	Secret          string        // base64; default DefaultWebhookSecret
	ProcessingDelay time.Duration // default DefaultProcessingDelay; negative: none
	Client          *http.Client
	// Attempts bounds the deliveries of one event (VCC retries non-2xx
	// answers for up to 24 h; the sandbox a few times, a second apart).
	Attempts int // default 5
}

// Call is a live call the sandbox ended.
type Call struct {
	GUID        string
	End         time.Time // when the call ended and its events were sent
	AvailableAt time.Time // when its recording appears in the content API
	Delivered   int       // events answered 2xx
	Refused     int       // events that were not, after every attempt
}

// EndCall adds an inbound interaction whose call ends now (by Options.Now)
// and whose recording appears ProcessingDelay later, then sends its
// channel events to w.URL: channel.connected, and channel.disconnected
// for the agent's and the customer's channel (two events of one
// interaction, as VCC sends one per channel).
func (s *Sim) EndCall(ctx context.Context, w Webhooks, duration time.Duration, recordingBytes int64) (Call, error) {
	w = w.withDefaults()
	end := s.opts.Now().UTC()
	if duration <= 0 {
		duration = 2 * time.Minute
	}
	guid := s.AddInteraction(end.Add(-duration), dirInbound, recordingBytes)
	s.mu.Lock()
	in := s.pop.byGUID[guid]
	in.Duration = duration
	in.Late = true
	in.AvailableAt = end.Add(max(w.ProcessingDelay, 0))
	for _, c := range in.Content {
		c.LastModified = in.AvailableAt
	}
	conv := in.ConversationGUID
	agentID := ""
	if len(in.Agents) > 0 {
		agentID = in.Agents[0].ID
	}
	s.mu.Unlock()
	call := Call{GUID: guid, End: end, AvailableAt: in.AvailableAt}
	key, err := webhook.DecodeSecret(w.Secret)
	if err != nil {
		return call, fmt.Errorf("vccsim webhooks: %w", err)
	}
	events := []struct{ typ, role, channel string }{
		{"channel.connected", "agent", "ch-agent"},
		{"channel.disconnected", "agent", "ch-agent"},
		{"channel.disconnected", "customer", "ch-customer"},
	}
	for n, e := range events {
		party := map[string]any{"role": e.role}
		if e.role == "agent" {
			party["agentId"], party["userId"] = agentID, agentID
		}
		body, _ := json.Marshal(map[string]any{
			"specversion": "1.0", "id": fmt.Sprintf("%s-%d", guid, n), "type": e.typ,
			"source": "/vcc/sandbox", "time": end.Format(time.RFC3339Nano),
			"datacontenttype": "application/json",
			"data": map[string]any{"channel": map[string]any{
				"interactionId": guid, "conversationId": conv, "channelId": e.channel, "party": party,
			}},
		})
		if s.deliver(ctx, w, key, body) {
			call.Delivered++
		} else {
			call.Refused++
		}
	}
	return call, ctx.Err()
}

// RunCalls ends a call every interval until ctx ends, telling onCall (when
// set) about each: the live contact centre of a demo.
func (s *Sim) RunCalls(ctx context.Context, w Webhooks, every time.Duration, onCall func(Call)) {
	if every <= 0 {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		size := s.opts.MinRecordingBytes + s.addRandInt64(s.opts.MaxRecordingBytes-s.opts.MinRecordingBytes+1)
		call, err := s.EndCall(ctx, w, time.Duration(30+s.addRandInt64(300))*time.Second, size)
		if err == nil && onCall != nil {
			onCall(call)
		}
	}
}

func (s *Sim) addRandInt64(n int64) int64 {
	if n <= 0 {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addRand.Int64N(n)
}

// deliver posts one event until it is answered 2xx or the attempts run out.
func (s *Sim) deliver(ctx context.Context, w Webhooks, key secrets.Secret, body []byte) bool {
	for a := 0; a < w.Attempts && ctx.Err() == nil; a++ {
		if a > 0 {
			select {
			case <-ctx.Done():
				return false
			case <-time.After(time.Second):
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
		if err != nil {
			return false
		}
		req.Header.Set("Content-Type", "application/cloudevents+json")
		// Signed at each attempt: a token is valid for 5 minutes.
		req.Header.Set(webhook.SignatureHeader, webhook.Sign(key, body, time.Now(), 5*time.Minute))
		resp, err := w.Client.Do(req)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return true
		}
		if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests {
			return false // refused: VCC would retry, but the answer will not change
		}
	}
	return false
}

func (w Webhooks) withDefaults() Webhooks {
	if strings.TrimSpace(w.Secret) == "" {
		w.Secret = DefaultWebhookSecret
	}
	if w.ProcessingDelay == 0 {
		w.ProcessingDelay = DefaultProcessingDelay
	}
	if w.Client == nil {
		w.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if w.Attempts <= 0 {
		w.Attempts = 5
	}
	return w
}
