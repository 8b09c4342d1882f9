package vccsim

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

type tokenInfo struct {
	clientID string
	scopes   []string
	expires  time.Time
}

// serveToken is the OAuth 2.0 client-credentials endpoint. The client id and
// secret come from HTTP Basic (form-url-encoded, as RFC 6749 and
// golang.org/x/oauth2 do) or from form fields; scope is space separated and
// may only name scopes the credential was granted.
func (s *Sim) serveToken(w http.ResponseWriter, r *http.Request) {
	s.count.update(func(c *Counters) { c.ByEndpoint[EndpointToken]++ })
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request"})
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	requested := strings.Fields(r.PostForm.Get("scope"))
	s.count.update(func(c *Counters) {
		c.TokenRequests++
		c.TokenScopes = append(c.TokenScopes, slices.Clone(requested))
	})
	id, secret, basic := r.BasicAuth()
	if basic {
		if u, err := url.QueryUnescape(id); err == nil {
			id = u
		}
		if u, err := url.QueryUnescape(secret); err == nil {
			secret = u
		}
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		if s.opts.Quirks.TokenBasicOnly {
			id, secret = "", "" // this server reads the client only from HTTP Basic
		}
	}
	s.count.update(func(c *Counters) { c.TokenClients[id]++ })
	s.mu.RLock()
	want := s.secret
	s.mu.RUnlock()
	if id != s.opts.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1 {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	granted := requested
	if len(granted) == 0 {
		granted = slices.Clone(s.opts.GrantedScopes) // no scope asked: all the credential has
	}
	for _, sc := range granted {
		if !slices.Contains(s.opts.GrantedScopes, sc) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_scope"})
			return
		}
	}
	granted = dedupe(granted)
	tok := randomToken()
	now := s.opts.Now()
	s.mu.Lock()
	for k, t := range s.tokens {
		if !now.Before(t.expires) {
			delete(s.tokens, k)
		}
	}
	s.issued = append(s.issued, tok)
	s.tokens[tok] = tokenInfo{clientID: id, scopes: granted, expires: now.Add(s.opts.TokenLifetime)}
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"expires_in":   int64(s.opts.TokenLifetime / time.Second),
		"token_type":   "Bearer",
		"scope":        strings.Join(granted, " "),
	})
}

func dedupe(in []string) []string {
	var out []string
	for _, v := range in {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// authenticate checks the bearer token: known and not expired by Options.Now.
func (s *Sim) authenticate(r *http.Request) (tokenInfo, bool) {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return tokenInfo{}, false
	}
	s.mu.RLock()
	t, ok := s.tokens[strings.TrimSpace(h[len(prefix):])]
	s.mu.RUnlock()
	if !ok || !s.opts.Now().Before(t.expires) {
		return tokenInfo{}, false
	}
	return t, true
}

func pathUnescape(s string) (string, error) { return url.PathUnescape(s) }
