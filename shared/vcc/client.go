// Package vcc is the client for the Vonage Contact Center (VCC) REST APIs the
// product reads: Interaction Content v3 (listing, metadata, recording
// downloads), Insights Stats v3 and User Admin v4.
//
// One Client per process: it owns the single OAuth token (shared by every
// caller, refreshed before it expires), the single pacer that keeps all
// calls within VCC's fair-usage budget, retrying 429 and 5xx answers, and
// the circuit breaker that stops calling a VCC that is down (ErrUnavailable
// until a probe gets an answer). Every
// failure is classified once here, as permanent (IsPermanent) or transient
// (IsTransient), so callers decide on the class and not on status codes.
//
// Where changes go: a new VCC field or API goes here (and to the sandbox,
// shared/vccsim); storing it is a field in shared/records.
package vcc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Endpoint names, used in Counters and APIError.
const (
	endpointToken           = "token"
	endpointContentList     = "content.list"
	endpointContentGet      = "content.get"
	endpointContentDownload = "content.download"
	endpointStatsGet        = "stats.get"
	endpointStatsList       = "stats.list"
	endpointUsersGet        = "users.get"
	endpointUsersList       = "users.list"
	endpointUsersByDisplay  = "users.byDisplayId"
	endpointUsersAddresses  = "users.permissions.addresses"
	endpointUsersGroups     = "users.permissions.groups"
)

var endpointNames = []string{
	endpointToken, endpointContentList, endpointContentGet, endpointContentDownload,
	endpointStatsGet, endpointStatsList, endpointUsersGet, endpointUsersList,
	endpointUsersByDisplay, endpointUsersAddresses, endpointUsersGroups,
}

// Versioned media types; VCC answers 400 without them.
const (
	acceptContent   = "application/vnd.newvoicemedia.v3+json"
	acceptStats     = "application/vnd.newvoicemedia.v3+json"
	acceptUserAdmin = "application/vnd.newvoicemedia.v4+json"
)

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// maxJSONBody bounds a JSON answer (a page of 1000 interactions or 5000
// users is well below it). An answer longer than that is refused.
const maxJSONBody = 32 << 20

// Client calls the VCC APIs. It is safe for concurrent use.
type Client struct {
	cfg       Config
	tokenHTTP *http.Client // cfg.HTTPClient following no redirect
	api       *url.URL
	tokens    *tokenSource
	pacer     Pacer
	brk       *breaker
	count     *counters
	users     *directory
	// now and sleep are the clock for pacing, the breaker, token refresh
	// and caches; tests replace them.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error

	usersPageSize int // user directory page size; tests make it small

	usage usageReport
}

// New validates cfg, applies defaults and returns a Client. No request is
// made until the first call.
func New(cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	api, err := url.Parse(strings.TrimRight(cfg.APIURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("vcc: APIURL: %w", err)
	}
	c := &Client{
		cfg:       cfg,
		tokenHTTP: WithoutRedirects(cfg.HTTPClient),
		api:       api,
		pacer:     cfg.Pacer,
		brk:       newBreaker(cfg.BreakerFailures, cfg.BreakerSustain, cfg.ProbeInterval),
		count:     newCounters(),
		now:       time.Now,
		sleep:     sleep,

		usersPageSize: usersPageSize,
	}
	if c.pacer == nil {
		p := newPacer(cfg.RatePerMinute)
		p.now = func() time.Time { return c.now() } // tests replace c.now
		c.pacer = p
	}
	c.tokens = newTokenSource(c)
	c.users = newDirectory()
	return c, nil
}

// HTTPClient is the HTTP client the Client's calls go through, with its one
// redirect policy: for other requests to VCC (the doctor's probes).
func (c *Client) HTTPClient() *http.Client { return c.cfg.HTTPClient }

// Counters is a snapshot of what a Client has done, for run records and
// tests. Calls counts HTTP requests sent per endpoint (retries included).
// FailedFast counts calls refused by the open circuit breaker; OutOfWindow
// counts listed items dropped for starting outside the asked window.
type Counters struct {
	Calls                                      map[string]int64
	Retries, Throttled, TokenRequests, Invalid int64
	FailedFast, OutOfWindow                    int64
	Breaker                                    BreakerState
}

type counters struct {
	calls                                      map[string]*atomic.Int64 // fixed keys, never written after creation
	retries, throttled, tokens, invalid, other atomic.Int64
	failedFast, outOfWindow                    atomic.Int64
}

func newCounters() *counters {
	c := &counters{calls: make(map[string]*atomic.Int64, len(endpointNames))}
	for _, n := range endpointNames {
		c.calls[n] = new(atomic.Int64)
	}
	return c
}

func (c *counters) call(endpoint string) {
	if n, ok := c.calls[endpoint]; ok {
		n.Add(1)
		return
	}
	c.other.Add(1)
}

// Counters returns a snapshot of the client's counters.
func (c *Client) Counters() Counters {
	out := Counters{
		Calls:         make(map[string]int64, len(endpointNames)),
		Retries:       c.count.retries.Load(),
		Throttled:     c.count.throttled.Load(),
		TokenRequests: c.count.tokens.Load(),
		Invalid:       c.count.invalid.Load(),
		FailedFast:    c.count.failedFast.Load(),
		OutOfWindow:   c.count.outOfWindow.Load(),
		Breaker:       c.brk.state(),
	}
	for n, v := range c.count.calls {
		out.Calls[n] = v.Load()
	}
	return out
}

// Available returns nil when calls may go to VCC, or the *UnavailableError
// a call would get now because the circuit breaker is open. It sends
// nothing, so work can be put off before it starts.
func (c *Client) Available() error {
	if ue := c.brk.refused(c.now()); ue != nil {
		return ue
	}
	return nil
}

// PacerWait is how long a call made now would wait for the request budget
// (calls already booked ahead, or a 429's pause): zero while the budget has
// room. Ingest puts work off rather than hold an invocation that long.
func (c *Client) PacerWait() time.Duration { return c.pacer.Ahead() }

// Pacer is the pacer the client's calls go through: Config.Pacer, or its
// own in-process one.
func (c *Client) Pacer() Pacer { return c.pacer }

// GrantedScopes returns the scopes the token endpoint granted (its "scope"
// field), nil when the response did not say. It fetches a token if needed.
func (c *Client) GrantedScopes(ctx context.Context) ([]string, error) {
	t, err := c.tokens.get(ctx)
	if err != nil {
		return nil, err
	}
	if t.scopes == nil {
		return nil, nil
	}
	return append([]string(nil), t.scopes...), nil
}

// request describes one API call.
type request struct {
	endpoint string
	accept   string
	segments []string // path below the API base, unescaped
	query    url.Values
	header   http.Header // extra headers
}

// url builds the request URL. Every segment is escaped on its own, so an id
// can never add a path level or a query.
func (c *Client) url(segments []string, query url.Values) *url.URL {
	u := *c.api
	var p, raw strings.Builder
	p.WriteString(c.api.Path)
	raw.WriteString(c.api.EscapedPath())
	for _, s := range segments {
		p.WriteString("/")
		p.WriteString(s)
		raw.WriteString("/")
		raw.WriteString(url.PathEscape(s))
	}
	u.Path, u.RawPath = p.String(), raw.String()
	u.RawQuery = query.Encode()
	return &u
}

// do sends a GET with the client's headers, token, pacing and retries, and
// returns the response when its status is 2xx (the caller closes the body).
//
// A 401 drops the token and repeats the call once with a new one. 429 and
// 5xx answers and network failures are retried up to MaxRetries times:
// after Retry-After when given (a 429 pauses the whole pacer), otherwise
// after an exponential backoff with full jitter. Other answers are returned
// as *APIError without retrying.
//
// While the circuit breaker is open the call fails fast with an
// *UnavailableError, and a call whose retry finds it open stops there.
func (c *Client) do(ctx context.Context, r request) (*http.Response, error) {
	defer c.reportUsage(ctx)
	u := c.url(r.segments, r.query)
	reauthed := false
	for attempt := 0; ; attempt++ {
		probe, err := c.brk.allow(c.now(), r.endpoint)
		if err != nil {
			c.count.failedFast.Add(1)
			return nil, err
		}
		if probe {
			c.cfg.Logger.InfoContext(ctx, "vcc unavailable; probing", "endpoint", r.endpoint)
		}
		resp, tok, err := c.attempt(ctx, r, u)
		if isPacingError(err) {
			c.brk.record(c.now(), probe, outcomeNone, nil) // nothing was sent: no news of VCC
			return nil, err
		}
		c.brk.record(c.now(), probe, classifyOutcome(ctx, err), err)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("vcc: %s: %w", r.endpoint, ctx.Err())
		}
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized && ae.Endpoint != endpointToken {
			if reauthed {
				return nil, err // a new token was rejected too: no point insisting now
			}
			reauthed = true
			c.tokens.invalidate(tok)
			c.cfg.Logger.DebugContext(ctx, "vcc token rejected; fetching a new one", "endpoint", r.endpoint)
			attempt-- // the re-authentication is not one of the transient retries
			continue
		}
		if !IsTransient(err) {
			return nil, err
		}
		if ue := c.brk.unavailable(c.now(), r.endpoint); ue != nil {
			c.cfg.Logger.WarnContext(ctx, "vcc unavailable; circuit open", "endpoint", r.endpoint,
				"next_probe_in", ue.RetryIn, "error", err)
			return nil, ue
		}
		if attempt >= c.cfg.MaxRetries {
			return nil, err
		}
		delay := backoff(c.cfg.BackoffBase, c.cfg.BackoffMax, attempt)
		if ae != nil && ae.RetryAfter > 0 {
			delay = ae.RetryAfter
		}
		if ae != nil && ae.Status == http.StatusTooManyRequests {
			// Everyone waits: the budget is shared by all callers.
			c.pacer.Pause(ctx, c.now().Add(delay))
			delay = 0
		}
		c.count.retries.Add(1)
		c.cfg.Logger.DebugContext(ctx, "vcc call failed; retrying", "endpoint", r.endpoint,
			"attempt", attempt+1, "delay", delay, "error", err)
		if err := c.sleep(ctx, delay); err != nil {
			return nil, fmt.Errorf("vcc: %s: %w", r.endpoint, err)
		}
	}
}

// attempt makes one try; it returns the access token used so that a 401 can
// invalidate exactly that token. The token used is taken after the pacing
// wait, which can be long: taken before, it could expire while waiting. One
// is also fetched, when needed, before the slot is booked, so that a slow
// token request does not push the call out of its slot.
func (c *Client) attempt(ctx context.Context, r request, u *url.URL) (*http.Response, string, error) {
	if _, err := c.tokens.get(ctx); err != nil {
		return nil, "", err
	}
	at, err := c.pacer.Reserve(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", err
		}
		return nil, "", &pacingError{fmt.Errorf("vcc: %s: request budget: %w", r.endpoint, err)}
	}
	if err := c.sleep(ctx, at.Sub(c.now())); err != nil {
		return nil, "", err
	}
	tok, err := c.tokens.get(ctx)
	if err != nil {
		return nil, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, tok.access, &permanentError{fmt.Errorf("vcc: %s: building request: %w", r.endpoint, err)}
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", r.accept)
	req.Header.Set("x-nvm-application", c.cfg.Application)
	req.Header.Set("Authorization", "Bearer "+tok.access)
	c.count.call(r.endpoint)
	if n, ok := ctx.Value(callCountKey{}).(*atomic.Int64); ok {
		n.Add(1)
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		// url.Error carries the URL (no secrets in it) and the cause.
		return nil, tok.access, &scrubbedError{msg: scrub(fmt.Sprintf("vcc: %s: %v", r.endpoint, err), tok.access), err: err}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, tok.access, nil
	}
	ae := c.apiError(r.endpoint, resp, tok.access)
	if ae.Status == http.StatusTooManyRequests {
		c.count.throttled.Add(1)
	}
	return nil, tok.access, ae
}

// apiError reads and closes an error answer.
func (c *Client) apiError(endpoint string, resp *http.Response, access string) *APIError {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	ae := &APIError{Endpoint: endpoint, Status: resp.StatusCode}
	ae.RetryAfter, _ = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	var e struct {
		Message json.RawMessage `json:"message"`
		Error   json.RawMessage `json:"error"`
	}
	msg := ""
	if json.Unmarshal(body, &e) == nil {
		msg = jsonText(e.Message)
		if msg == "" {
			msg = jsonText(e.Error)
		}
	} else if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/plain") {
		msg = strings.TrimSpace(string(body))
	}
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	ae.Message = scrub(msg, access)
	return ae
}

// jsonText renders a JSON value as text: strings unquoted, anything else
// (some APIs send arrays of messages) as compact JSON.
func jsonText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// getJSON performs r and decodes the 2xx JSON answer into v.
func (c *Client) getJSON(ctx context.Context, r request, v any) error {
	resp, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	lr := &io.LimitedReader{R: resp.Body, N: maxJSONBody + 1}
	dec := json.NewDecoder(lr)
	err = dec.Decode(v)
	if lr.N <= 0 {
		// The same request would get the same answer: not worth retrying.
		return &permanentError{fmt.Errorf("vcc: %s: answer longer than %d bytes", r.endpoint, maxJSONBody)}
	}
	if err != nil {
		// A body cut short or garbled by a failing server: worth another try.
		return &transientError{fmt.Errorf("vcc: %s: decoding answer: %w", r.endpoint, err)}
	}
	return nil
}

// usageReport is what the last "vcc usage" line counted up to.
type usageReport struct {
	mu                        sync.Mutex
	at                        time.Time // zero: the client's first call
	calls, throttled, retries int64
}

// reportUsage logs, at most every UsageEvery, the calls this client sent to
// VCC since its last line, the 429s and the retries among them. The
// counters are one process's; these lines are what adds them up across the
// processes of a deployment (the workbook's VCC calls per recording and
// 429s). What a process sends after its last line and before it ends is
// not reported.
func (c *Client) reportUsage(ctx context.Context) {
	every := c.cfg.UsageEvery
	if every <= 0 {
		every = time.Minute
	}
	now := c.now()
	c.usage.mu.Lock()
	if c.usage.at.IsZero() {
		c.usage.at = now
	}
	if now.Sub(c.usage.at) < every {
		c.usage.mu.Unlock()
		return
	}
	var calls int64
	for _, v := range c.count.calls {
		calls += v.Load()
	}
	throttled, retries := c.count.throttled.Load(), c.count.retries.Load()
	prevAt, prevCalls, prevThrottled, prevRetries := c.usage.at, c.usage.calls, c.usage.throttled, c.usage.retries
	c.usage.at, c.usage.calls, c.usage.throttled, c.usage.retries = now, calls, throttled, retries
	c.usage.mu.Unlock()
	if calls > prevCalls {
		c.cfg.Logger.InfoContext(ctx, "vcc usage", "calls", calls-prevCalls, "throttled", throttled-prevThrottled,
			"retries", retries-prevRetries, "seconds", int64(now.Sub(prevAt).Seconds()))
	}
}

type callCountKey struct{}

// WithCallCount is ctx whose VCC calls (each request sent, retries
// included, token requests not) this package adds to n: what one run or one
// delivery cost, where the client's counters are the whole process's.
func WithCallCount(ctx context.Context, n *atomic.Int64) context.Context {
	return context.WithValue(ctx, callCountKey{}, n)
}
