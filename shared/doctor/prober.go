package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// HTTPProber is the Prober against VCC itself. Its tokens never leave it:
// errors carry the endpoint's error code, never a token or the secret.
type HTTPProber struct {
	TokenURL, APIURL, ClientID string
	Secret                     secrets.Source
	// HTTPClient carries the requests, always with the VCC client's one
	// redirect policy (vcc.WithRedirectPolicy); default vcc.NewHTTPClient.
	HTTPClient  *http.Client
	Application string // x-nvm-application, default vcc-ingest
	Now         func() time.Time

	once        sync.Once
	api, tokens *http.Client // the probes'; the token request's, following no redirect

	mu     sync.Mutex
	scoped string // token with the product's scopes, for the probes
}

// A prober holds a bearer token: it prints and logs as its endpoints only.
func (p *HTTPProber) String() string {
	return fmt.Sprintf("doctor.HTTPProber{TokenURL: %q, APIURL: %q, ClientID: %q}", p.TokenURL, p.APIURL, p.ClientID)
}
func (p *HTTPProber) GoString() string             { return p.String() }
func (p *HTTPProber) Format(f fmt.State, _ rune)   { _, _ = io.WriteString(f, p.String()) }
func (p *HTTPProber) LogValue() slog.Value         { return slog.StringValue(p.String()) }
func (p *HTTPProber) MarshalJSON() ([]byte, error) { return json.Marshal(p.String()) }

// clients are the probes' HTTP client and the token request's: the same as
// every VCC call's, so the bearer token keeps to its origin and the client
// secret goes to TokenURL only.
func (p *HTTPProber) clients() (api, tokens *http.Client) {
	p.once.Do(func() {
		p.api = vcc.WithRedirectPolicy(p.HTTPClient)
		p.tokens = vcc.WithoutRedirects(p.HTTPClient)
	})
	return p.api, p.tokens
}

// token requests a token for scopes (none: whatever the credential holds)
// and returns it with the granted scopes (nil when the response is silent).
func (p *HTTPProber) token(ctx context.Context, scopes []string) (string, []string, error) {
	sec, err := p.Secret.Secret(ctx, false)
	if err != nil {
		return "", nil, fmt.Errorf("reading the client secret: %w", err)
	}
	cc := clientcredentials.Config{
		ClientID: p.ClientID, ClientSecret: sec.Reveal(), TokenURL: p.TokenURL,
		Scopes: scopes, AuthStyle: oauth2.AuthStyleInHeader,
	}
	_, tokens := p.clients()
	tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, tokens))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			status := 0
			if re.Response != nil {
				status = re.Response.StatusCode
			}
			return "", nil, fmt.Errorf("token endpoint answered %d %s", status, re.ErrorCode)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			return "", nil, fmt.Errorf("token endpoint: %v", ue.Err)
		}
		return "", nil, errors.New("token request failed")
	}
	var granted []string
	if s, ok := tok.Extra("scope").(string); ok {
		granted = strings.Fields(s)
	}
	return tok.AccessToken, granted, nil
}

// CredentialScopes implements Prober.
func (p *HTTPProber) CredentialScopes(ctx context.Context) ([]string, error) {
	_, granted, err := p.token(ctx, nil)
	if err == nil && granted == nil {
		return nil, nil
	}
	if granted == nil {
		granted = []string{}
	}
	return granted, err
}

// probeToken is a token with the product's scopes, or failing that (a scope
// the credential lacks makes the whole request fail) one with whatever the
// credential holds, so the APIs it can reach are still checked.
func (p *HTTPProber) probeToken(ctx context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.scoped != "" {
		return p.scoped, nil
	}
	tok, _, err := p.token(ctx, strings.Fields(vcc.Scopes))
	if err != nil {
		var ferr error
		if tok, _, ferr = p.token(ctx, nil); ferr != nil {
			return "", err
		}
	}
	p.scoped = tok
	return tok, nil
}

// Probe implements Prober: the smallest listing request of api.
func (p *HTTPProber) Probe(ctx context.Context, api API) ProbeResult {
	tok, err := p.probeToken(ctx)
	if err != nil {
		return ProbeResult{Err: err}
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	end := now().UTC().Truncate(time.Minute)
	q := url.Values{"limit": {"1"}}
	switch api.Path {
	case "/useradmin/users":
		q.Set("include", "All")
		q.Set("page", "1")
	default:
		q.Set("start", end.Add(-time.Hour).Format("2006-01-02T15:04:05.000Z"))
		q.Set("end", end.Format("2006-01-02T15:04:05.000Z"))
		if api.Path == "/stats/interactions" {
			q.Set("page", "1")
		}
	}
	u := strings.TrimRight(p.APIURL, "/") + api.Path + "?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return ProbeResult{Err: err}
	}
	app := p.Application
	if app == "" {
		app = vcc.DefaultApplication
	}
	req.Header.Set("Accept", api.Media())
	req.Header.Set("x-nvm-application", app)
	req.Header.Set("Authorization", "Bearer "+tok)
	hc, _ := p.clients()
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is known; keep the cause
		}
		return ProbeResult{Err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	res := ProbeResult{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type")}
	if resp.StatusCode >= 300 {
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(body, &e) == nil {
			res.Message = e.Message
		}
		if len(res.Message) > 200 {
			res.Message = res.Message[:200]
		}
		res.Message = strings.ReplaceAll(res.Message, tok, "[REDACTED]")
	}
	return res
}
