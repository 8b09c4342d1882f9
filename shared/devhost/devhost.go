// Package devhost stands in for the Azure Functions host on one machine: it
// turns timer ticks and queue deliveries into the same HTTP invocations the
// host sends to the custom handler, and settles each message as the host's
// Service Bus trigger does (complete on 2xx, abandon otherwise, so the
// queue's delivery count and dead-lettering apply). What runs locally is
// what runs in Azure; only the host is replaced.
package devhost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/queue"
)

// Host invokes a custom handler at BaseURL, and at Instances beside it.
type Host struct {
	BaseURL string
	// Instances are further handler instances beside BaseURL's, as a
	// scaled-out app runs them: each gets Workers ingest invocations of
	// its own (the host of every instance runs its own maxConcurrentCalls)
	// over the one Queue. Timers run on BaseURL's alone, as a singleton.
	Instances []string
	Queue     queue.Queue
	Workers   int // concurrent ingest invocations (the host's maxConcurrentCalls)
	Client    *http.Client
	Logger    *slog.Logger
	Now       func() time.Time

	// OnResult, when set, sees every ingest invocation's outcome.
	OnResult func(Result)

	// Pending, when set, counts the messages the queue still holds that a
	// receive cannot see now (scheduled for later, or under a lock yet to
	// expire). Drain does not call the queue empty while any remain.
	Pending func() (int, error)

	// MaxLockRenewal bounds how long a message's lock is renewed while its
	// invocation runs, when the queue can renew locks (a LockRenewer), as
	// the host's maxAutoLockRenewalDuration does (host.json); default 5
	// minutes, the host's own.
	MaxLockRenewal time.Duration

	// FunctionTimeout is host.json's functionTimeout: an invocation still
	// running then makes the host restart the whole handler process, which
	// fails every invocation in flight (their messages are abandoned). Zero:
	// unbounded.
	FunctionTimeout time.Duration
	// Restart, when set, restarts the handler as the host does after a
	// timeout and returns its new base URL. Without it a timed-out
	// invocation only fails.
	Restart func(ctx context.Context) (baseURL string, err error)
	// RestartInstance, when set, restarts instance i (0 is BaseURL's, then
	// Instances in order) after a timeout, alone, as the host of that
	// instance does; it takes Restart's place.
	RestartInstance func(ctx context.Context, i int) (baseURL string, err error)

	mu         sync.Mutex
	generation map[int]int // each instance's handler process generation, bumped by each restart
	restarts   int
}

// LockRenewer is a queue whose message locks can be extended.
type LockRenewer interface {
	RenewLock(ctx context.Context, m *queue.Message) error
	LockDuration() time.Duration
}

// DefaultMaxLockRenewal is the host's maxAutoLockRenewalDuration when
// host.json does not set it.
const DefaultMaxLockRenewal = 5 * time.Minute

// DefaultWorkers is the host's maxConcurrentCalls when host.json does not
// set it.
const DefaultWorkers = 16

// Result is one ingest invocation as the host saw it.
type Result struct {
	MessageID     string
	DeliveryCount int
	Status        int
	ReturnValue   json.RawMessage
}

// OK reports whether the invocation succeeded.
func (r Result) OK() bool { return r.Status >= 200 && r.Status < 300 }

type response struct {
	Outputs     map[string]any  `json:"Outputs"`
	Logs        []string        `json:"Logs"`
	ReturnValue json.RawMessage `json:"ReturnValue"`
}

func (h *Host) client() *http.Client {
	if h.Client != nil {
		return h.Client
	}
	return http.DefaultClient
}

func (h *Host) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// Tick invokes the timer function once, as the host does on schedule.
func (h *Host) Tick(ctx context.Context, function string, last time.Time, pastDue bool) (json.RawMessage, error) {
	now := h.now().UTC()
	payload := map[string]any{
		"Data": map[string]any{
			"timer": map[string]any{
				"Schedule": map[string]any{"AdjustForDST": true},
				"ScheduleStatus": map[string]any{
					"Last": last.UTC().Format(time.RFC3339Nano), "Next": now.Format(time.RFC3339Nano),
					"LastUpdated": last.UTC().Format(time.RFC3339Nano),
				},
				"IsPastDue": pastDue,
			},
		},
		"Metadata": map[string]any{"sys": sys(function, now)},
	}
	status, resp, err := h.invoke(ctx, 0, function, payload)
	if err != nil {
		return nil, err
	}
	if status/100 != 2 {
		return resp.ReturnValue, fmt.Errorf("%s: status %d: %s", function, status, resp.ReturnValue)
	}
	return resp.ReturnValue, nil
}

// Drain delivers queued messages to function until the queue has stayed
// empty for idle, or ctx ends. It returns the number of invocations. Each
// instance has Workers of its own.
func (h *Host) Drain(ctx context.Context, function string, idle time.Duration) (int, error) {
	workers := h.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}
	instances := 1 + len(h.Instances)
	var (
		mu       sync.Mutex
		count    int
		inFlight int
		lastBusy = time.Now()
		firstErr error
	)
	var wg sync.WaitGroup
	for w := 0; w < workers*instances; w++ {
		instance := w % instances
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				msgs, err := h.Queue.Receive(ctx, 1, 200*time.Millisecond)
				if err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
					}
					return
				}
				if len(msgs) == 0 {
					mu.Lock()
					done := inFlight == 0 && time.Since(lastBusy) >= idle
					mu.Unlock()
					if done {
						pending, err := h.pending()
						if err != nil {
							mu.Lock()
							if firstErr == nil {
								firstErr = err
							}
							mu.Unlock()
							return
						}
						if pending == 0 {
							return
						}
					}
					continue
				}
				mu.Lock()
				inFlight++
				mu.Unlock()
				for _, m := range msgs {
					h.deliver(ctx, instance, function, m)
				}
				mu.Lock()
				inFlight--
				count += len(msgs)
				lastBusy = time.Now()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return count, firstErr
	}
	return count, ctx.Err()
}

func (h *Host) pending() (int, error) {
	if h.Pending == nil {
		return 0, nil
	}
	return h.Pending()
}

// deliver invokes function with one message and settles it; the message
// stays locked while the invocation runs, however long that takes (up to
// MaxLockRenewal), so a long copy is not delivered a second time.
func (h *Host) deliver(ctx context.Context, instance int, function string, m *queue.Message) {
	stopRenewing := h.keepLocked(ctx, m)
	status, resp, err := h.invoke(ctx, instance, function, serviceBusPayload(function, m, h.now().UTC()))
	stopRenewing()
	res := Result{MessageID: m.ID, DeliveryCount: m.DeliveryCount, Status: status, ReturnValue: resp.ReturnValue}
	if err != nil {
		res.Status = 0
		res.ReturnValue, _ = json.Marshal(map[string]any{"error": err.Error()})
	}
	// Settle with a context of its own: a shutdown must still abandon the
	// message rather than leave it locked until the lock expires.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var serr error
	if res.OK() {
		serr = h.Queue.Complete(sctx, m)
	} else {
		serr = h.Queue.Abandon(sctx, m)
	}
	if serr != nil && h.Logger != nil {
		h.Logger.Warn("settle failed; the lock will expire and the message return", "messageId", m.ID, "error", serr)
	}
	if h.OnResult != nil {
		h.OnResult(res)
	}
}

// keepLocked renews m's lock every third of the lock duration (a renewal
// may itself be slow: the queue syncs it to disk) until the returned
// stop is called or MaxLockRenewal has passed. A lost lock ends renewal:
// the message may already be another delivery's.
func (h *Host) keepLocked(ctx context.Context, m *queue.Message) (stop func()) {
	r, ok := h.Queue.(LockRenewer)
	if !ok || r.LockDuration() <= 0 {
		return func() {}
	}
	limit := h.MaxLockRenewal
	if limit <= 0 {
		limit = DefaultMaxLockRenewal
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(r.LockDuration() / 3)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if err := r.RenewLock(ctx, m); err != nil {
				if ctx.Err() == nil && h.Logger != nil {
					h.Logger.Warn("lock renewal failed; the message may be delivered again", "messageId", m.ID, "error", err)
				}
				return
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// Restarts is how many times the handler was restarted after a timeout.
func (h *Host) Restarts() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.restarts
}

// target is instance i's base URL and handler generation.
func (h *Host) target(i int) (string, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if i == 0 {
		return h.BaseURL, h.generation[0]
	}
	return h.Instances[i-1], h.generation[i]
}

// restart replaces instance i's handler of generation gen, unless another
// timed-out invocation already did.
func (h *Host) restart(ctx context.Context, i, gen int, function string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	restart := h.Restart
	if h.RestartInstance != nil {
		restart = func(ctx context.Context) (string, error) { return h.RestartInstance(ctx, i) }
	} else if i > 0 {
		restart = nil
	}
	if gen != h.generation[i] || restart == nil {
		return
	}
	if h.Logger != nil {
		h.Logger.Error("invocation exceeded functionTimeout: restarting the handler, failing every invocation in flight", "function", function, "functionTimeout", h.FunctionTimeout)
	}
	url, err := restart(ctx)
	if err != nil {
		if h.Logger != nil {
			h.Logger.Error("handler restart failed", "error", err)
		}
		return
	}
	if i == 0 {
		h.BaseURL = url
	} else {
		h.Instances[i-1] = url
	}
	if h.generation == nil {
		h.generation = map[int]int{}
	}
	h.generation[i]++
	h.restarts++
}

// invoke sends one invocation to instance i's handler.
func (h *Host) invoke(ctx context.Context, i int, function string, payload any) (int, response, error) {
	var resp response
	body, err := json.Marshal(payload)
	if err != nil {
		return 0, resp, err
	}
	base, gen := h.target(i)
	if h.FunctionTimeout > 0 {
		var cancel context.CancelFunc
		ictx := ctx
		ctx, cancel = context.WithTimeout(ctx, h.FunctionTimeout)
		defer cancel()
		defer func() {
			if ctx.Err() == context.DeadlineExceeded && ictx.Err() == nil {
				h.restart(ictx, i, gen, function)
			}
		}()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/"+function, bytes.NewReader(body))
	if err != nil {
		return 0, resp, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vcc-ingest-devhost")
	req.Header.Set("X-Azure-Functions-InvocationId", newID())
	r, err := h.client().Do(req)
	if err != nil {
		return 0, resp, fmt.Errorf("invoke %s: %w", function, err)
	}
	defer r.Body.Close()
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return r.StatusCode, resp, fmt.Errorf("invoke %s: read response: %w", function, err)
	}
	if err := json.Unmarshal(data, &resp); err != nil {
		return r.StatusCode, resp, fmt.Errorf("invoke %s: response is not the host protocol: %w", function, err)
	}
	return r.StatusCode, resp, nil
}

// serviceBusPayload shapes a delivery as the host does for a trigger
// without dataType: the body read as a string and JSON-serialised again
// (Data.message is a JSON string holding a JSON string literal), string
// metadata JSON-encoded again, numbers as strings, and the body's top-level
// fields copied into Metadata over the system keys, case-insensitively
// (the host's Utility.ApplyBindingData: the body wins).
func serviceBusPayload(function string, m *queue.Message, now time.Time) map[string]any {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	props := map[string]any{}
	for k, v := range m.Properties {
		props[k] = v
	}
	meta := map[string]any{}
	for k, v := range map[string]any{
		"DeliveryCount":         strconv.Itoa(m.DeliveryCount),
		"LockToken":             q(newID()),
		"MessageId":             q(m.ID),
		"ContentType":           q(m.ContentType),
		"SequenceNumber":        strconv.FormatInt(m.SequenceNumber, 10),
		"EnqueuedTimeUtc":       m.EnqueuedAt.UTC().Format("2006-01-02T15:04:05"),
		"ApplicationProperties": props,
		"UserProperties":        props,
		"MessageReceiver":       map[string]any{},
		"MessageActions":        map[string]any{},
		"Client":                map[string]any{"FullyQualifiedNamespace": "local"},
		"sys":                   sys(function, now),
	} {
		meta[k] = v
	}
	var fields map[string]any
	if json.Unmarshal(m.Body, &fields) == nil {
		for k, v := range fields {
			for existing := range meta {
				if strings.EqualFold(existing, k) {
					delete(meta, existing)
				}
			}
			if s, ok := v.(string); ok {
				meta[k] = q(s)
			} else {
				b, _ := json.Marshal(v)
				meta[k] = string(b)
			}
		}
	}
	return map[string]any{
		"Data":     map[string]any{"message": q(string(m.Body))},
		"Metadata": meta,
	}
}

func sys(function string, now time.Time) map[string]any {
	return map[string]any{"MethodName": function, "UtcNow": now.Format(time.RFC3339Nano), "RandGuid": newID()}
}

var errNotReady = errors.New("handler not ready")

// WaitReady polls each instance's readiness endpoint, as the host does.
func (h *Host) WaitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for i := 0; i <= len(h.Instances); i++ {
		for {
			base, _ := h.target(i)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/", nil)
			if r, err := h.client().Do(req); err == nil {
				r.Body.Close()
				break
			}
			if !time.Now().Before(deadline) {
				return errNotReady
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}
