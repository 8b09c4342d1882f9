package vcc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
)

// defaultTokenLifetime is used when the token response has no usable
// expires_in; the documentation says tokens always last 7200 s.
const defaultTokenLifetime = 7200 * time.Second

// token is one access token and what came with it.
type token struct {
	access    string
	scopes    []string // from the response's "scope"; nil when absent
	refreshAt time.Time
}

// A token prints, logs and marshals without its access token.
func (t *token) String() string               { return "vcc access token [REDACTED]" }
func (t *token) GoString() string             { return t.String() }
func (t *token) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte(t.String())) }
func (t *token) LogValue() slog.Value         { return slog.StringValue(t.String()) }
func (t *token) MarshalJSON() ([]byte, error) { return json.Marshal(t.String()) }

// tokenSource holds the Client's single access token. Every caller shares
// it; a fetch runs under sem so that any number of concurrent callers cause
// at most one token request.
type tokenSource struct {
	c   *Client
	sem chan struct{} // held while fetching
	mu  sync.Mutex    // guards cur
	cur *token
	// basic is set once the endpoint refused the client as form fields and
	// accepted it as HTTP Basic: later requests go straight to Basic.
	basic atomic.Bool
}

func newTokenSource(c *Client) *tokenSource {
	return &tokenSource{c: c, sem: make(chan struct{}, 1)}
}

func (ts *tokenSource) current() *token {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.cur != nil && ts.c.now().Before(ts.cur.refreshAt) {
		return ts.cur
	}
	return nil
}

// get returns a valid token, fetching one when there is none or the current
// one reached its refresh point.
func (ts *tokenSource) get(ctx context.Context) (*token, error) {
	if t := ts.current(); t != nil {
		return t, nil
	}
	select {
	case ts.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-ts.sem }()
	if t := ts.current(); t != nil { // another caller fetched it meanwhile
		return t, nil
	}
	t, err := ts.fetch(ctx)
	if err != nil {
		return nil, err
	}
	ts.mu.Lock()
	ts.cur = t
	ts.mu.Unlock()
	return t, nil
}

// invalidate drops the token after the API rejected it with a 401, unless
// another caller already replaced it.
func (ts *tokenSource) invalidate(access string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.cur != nil && ts.cur.access == access {
		ts.cur = nil
	}
}

// fetch requests a token. If the endpoint rejects the client (what a rotated
// secret looks like), the secret is read again, bypassing any cache, and the
// request repeated once.
func (ts *tokenSource) fetch(ctx context.Context) (*token, error) {
	sec, err := ts.c.cfg.Secret.Secret(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("vcc: token: reading client secret: %w", err)
	}
	t, invalidClient, err := ts.request(ctx, sec)
	if !invalidClient {
		return t, err
	}
	ts.c.cfg.Logger.WarnContext(ctx, "vcc token endpoint rejected the client; reading the secret again")
	fresh, ferr := ts.c.cfg.Secret.Secret(ctx, true)
	if ferr != nil {
		return nil, fmt.Errorf("vcc: token: re-reading client secret after invalid_client: %w", ferr)
	}
	t, _, err = ts.request(ctx, fresh)
	return t, err
}

// request obtains a token in the documented form: the client id and secret
// as form fields. Only if the endpoint refuses the client that way is it
// asked again with HTTP Basic (what Vonage's node sample sends), and Basic is
// then used from there on.
func (ts *tokenSource) request(ctx context.Context, sec secrets.Secret) (t *token, invalidClient bool, err error) {
	if ts.basic.Load() {
		return ts.requestAs(ctx, sec, oauth2.AuthStyleInHeader)
	}
	t, invalidClient, err = ts.requestAs(ctx, sec, oauth2.AuthStyleInParams)
	if !invalidClient {
		return t, false, err
	}
	bt, binvalid, berr := ts.requestAs(ctx, sec, oauth2.AuthStyleInHeader)
	if binvalid {
		return nil, true, err // refused both ways: the secret is wrong
	}
	if berr == nil {
		ts.basic.Store(true)
		ts.c.cfg.Logger.InfoContext(ctx, "vcc token endpoint refused the client as form fields and accepted HTTP Basic; using Basic")
	}
	return bt, false, berr
}

// requestAs performs one token request with oauth2's client-credentials
// flow, the client sent as style says.
func (ts *tokenSource) requestAs(ctx context.Context, sec secrets.Secret, style oauth2.AuthStyle) (t *token, invalidClient bool, err error) {
	cc := clientcredentials.Config{
		ClientID:     ts.c.cfg.ClientID,
		ClientSecret: sec.Reveal(),
		TokenURL:     ts.c.cfg.TokenURL,
		Scopes:       strings.Fields(Scopes),
		AuthStyle:    style,
	}
	// The request carries the secret: it goes to TokenURL or nowhere.
	ctx = context.WithValue(ctx, oauth2.HTTPClient, ts.c.tokenHTTP)
	ts.c.count.call(endpointToken)
	ts.c.count.tokens.Add(1)
	start := ts.c.now()
	tok, err := cc.Token(ctx)
	if err != nil {
		terr, invalid := ts.tokenError(err, sec)
		return nil, invalid, terr
	}
	if tok.AccessToken == "" {
		return nil, false, &transientError{errors.New("vcc: token: response has no access_token")}
	}
	lifetime := expiresIn(tok)
	if lifetime <= 0 {
		lifetime = defaultTokenLifetime
	}
	t = &token{
		access:    tok.AccessToken,
		refreshAt: start.Add(time.Duration(float64(lifetime) * ts.c.cfg.RefreshAt)),
	}
	if s, ok := tok.Extra("scope").(string); ok {
		t.scopes = strings.Fields(s)
	}
	return t, false, nil
}

// expiresIn reads expires_in from the raw response, which clientcredentials
// does not copy into Token.ExpiresIn; it may be a number or a string.
func expiresIn(tok *oauth2.Token) time.Duration {
	var secs float64
	switch v := tok.Extra("expires_in").(type) {
	case float64:
		secs = v
	case json.Number:
		secs, _ = v.Float64()
	case string:
		secs, _ = strconv.ParseFloat(v, 64)
	default:
		if !tok.Expiry.IsZero() {
			return time.Until(tok.Expiry)
		}
	}
	return time.Duration(secs * float64(time.Second))
}

// tokenError turns an oauth2 error into an error that holds neither the
// response body nor the secret: oauth2's RetrieveError prints the body.
func (ts *tokenSource) tokenError(err error, sec secrets.Secret) (_ error, invalidClient bool) {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		se := &scrubbedError{msg: scrub("vcc: token: "+err.Error(), sec.Reveal()), err: err}
		if errors.Is(err, ErrRedirectRefused) {
			return &permanentError{se}, false // the endpoint is misconfigured; asking again will not help
		}
		return se, false
	}
	status := 0
	var retryAfter time.Duration
	if re.Response != nil {
		status = re.Response.StatusCode
		retryAfter, _ = parseRetryAfter(re.Response.Header.Get("Retry-After"), ts.c.now())
	}
	msg := re.ErrorCode
	if re.ErrorDescription != "" {
		msg += ": " + re.ErrorDescription
	}
	if len(msg) > 200 {
		msg = msg[:200]
	}
	ae := &APIError{Endpoint: endpointToken, Status: status, Message: scrub(msg, sec.Reveal()), RetryAfter: retryAfter}
	invalid := (status == http.StatusBadRequest || status == http.StatusUnauthorized) && re.ErrorCode == "invalid_client" ||
		status == http.StatusUnauthorized && re.ErrorCode == ""
	return ae, invalid
}

// scrubbedError replaces a wrapped error's text, to keep a secret out of it.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrub removes every occurrence of secret from s.
func scrub(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[REDACTED]")
}
