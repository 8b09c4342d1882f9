// Package vccsim is the VCC sandbox: an in-process HTTP server with the same
// surface as Vonage Contact Center's token endpoint and the Interaction
// Content, Insights Stats and User Admin APIs. It enforces what VCC enforces
// (tokens, scopes, Accept versions, window and page limits), models what VCC
// hides (user-level feature permissions that silently omit content, late
// recordings) and injects the faults a client must survive (5xx, 429,
// truncated bodies, cross-host redirects). Its population is generated
// deterministically from a seed and its recordings are streamed, never held in
// memory, so tests can compare what was copied against Recordings().
package vccsim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// TokenPath is the token endpoint's path on the sandbox.
const TokenPath = "/Auth/connect/token"

// Sim is one sandbox. Create it with New; serve it with Start (its own
// listener) or mount Handler on any server. It is safe for concurrent use.
type Sim struct {
	opts     Options
	faults   *faultRoller
	limit    *rateLimiter // nil: no rate limit
	outage   outage
	count    *counters
	arrivals arrivals
	sigKey   []byte
	redirMu  sync.Mutex
	redir    *listener // redirect target, started on first need

	mu      sync.RWMutex
	pop     *population
	deny    Permissions
	secret  string
	tokens  map[string]tokenInfo
	issued  []string // every token ever issued, for leak checks
	addRand *mrand.Rand

	srvMu sync.Mutex
	main  *listener
}

// listener is one HTTP server on a loopback port.
type listener struct {
	srv  *http.Server
	ln   net.Listener
	base string // http://host:port
}

func (l *listener) close() {
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := l.srv.Shutdown(ctx); err != nil {
		_ = l.srv.Close()
	}
}

func serve(addr string, h http.Handler) (*listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("vccsim: listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &listener{srv: srv, ln: ln, base: "http://" + ln.Addr().String()}, nil
}

// New generates the population of opts and returns a Sim that is not yet
// listening.
func New(opts Options) *Sim {
	opts = opts.withDefaults()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s := &Sim{
		opts:    opts,
		faults:  newFaultRoller(opts.Seed, opts.Faults),
		limit:   newRateLimiter(opts.RateLimitPerMinute),
		count:   newCounters(),
		sigKey:  key,
		pop:     generate(opts),
		deny:    opts.Deny,
		secret:  opts.ClientSecret,
		tokens:  map[string]tokenInfo{},
		addRand: newRand(opts.Seed, 3),
	}
	if s.limit != nil {
		s.limit.now = opts.Now // one clock for tokens, outages and the limit
	}
	if o := opts.Outage; o.Duration > 0 {
		from := opts.Now().Add(o.After)
		s.outage.set(from, from.Add(o.Duration))
	}
	return s
}

// Start listens on 127.0.0.1 on a free port.
func (s *Sim) Start() error { return s.StartOn("127.0.0.1:0") }

// StartOn listens on addr (host:port).
func (s *Sim) StartOn(addr string) error {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.main != nil {
		return errors.New("vccsim: already started")
	}
	l, err := serve(addr, s)
	if err != nil {
		return err
	}
	s.main = l
	return nil
}

// Close stops the listeners. Handler keeps working.
func (s *Sim) Close() {
	s.srvMu.Lock()
	s.main.close()
	s.main = nil
	s.srvMu.Unlock()
	s.redirMu.Lock()
	s.redir.close()
	s.redir = nil
	s.redirMu.Unlock()
}

// APIURL is the API base ("" before Start).
func (s *Sim) APIURL() string {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.main == nil {
		return ""
	}
	return s.main.base
}

// TokenURL is the token endpoint ("" before Start).
func (s *Sim) TokenURL() string {
	u := s.APIURL()
	if u == "" {
		return ""
	}
	return u + TokenPath
}

// ClientID is the credential's client id.
func (s *Sim) ClientID() string { return s.opts.ClientID }

// ClientSecret is the credential's current secret.
func (s *Sim) ClientSecret() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.secret
}

// Handler returns the sandbox as an http.Handler (for httptest).
func (s *Sim) Handler() http.Handler { return s }

// SetFaults replaces the fault probabilities.
func (s *Sim) SetFaults(f Faults) { s.faults.set(f) }

// SetDeny replaces the credential owner's switched-off feature permissions.
func (s *Sim) SetDeny(p Permissions) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny = p
}

// RotateSecret changes the client secret. Tokens already issued stay valid
// until they expire, as with any OAuth server.
func (s *Sim) RotateSecret(newSecret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secret = newSecret
}

// RevokeTokens invalidates every issued token, so the next API call answers
// 401 (a client must fetch a new token and retry).
func (s *Sim) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = map[string]tokenInfo{}
}

// IssuedTokens returns every access token issued so far (also expired and
// revoked ones), in order, so tests can check that none leaked into logs.
func (s *Sim) IssuedTokens() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.issued)
}

// Counters returns a snapshot of the request counters.
func (s *Sim) Counters() Counters { return s.count.snapshot() }

// ResetCounters zeroes the counters and clears the log of Arrivals.
func (s *Sim) ResetCounters() {
	s.count.reset()
	s.arrivals.reset()
}

// statusWriter records the status for the counters and passes Flush through.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// api describes the family an endpoint belongs to: its scope, the Accept
// versions it serves and its error body style.
type api int

const (
	apiContent api = iota
	apiStats
	apiUsers
)

type route struct {
	endpoint string
	api      api
	params   []string // path parameters (unescaped)
}

// match maps a path to a route; ok is false for unknown paths.
func match(path string) (route, bool) {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(seg) == 2 && seg[0] == "interaction-content" && seg[1] == "interactions":
		return route{endpoint: EndpointContentList, api: apiContent}, true
	case len(seg) == 3 && seg[0] == "interaction-content" && seg[1] == "interactions":
		return route{endpoint: EndpointContentGet, api: apiContent, params: seg[2:]}, true
	case len(seg) == 5 && seg[0] == "interaction-content" && seg[1] == "interactions" && seg[3] == "content":
		return route{endpoint: EndpointContentDownload, api: apiContent, params: []string{seg[2], seg[4]}}, true
	case len(seg) == 2 && seg[0] == "stats" && seg[1] == "interactions":
		return route{endpoint: EndpointStatsList, api: apiStats}, true
	case len(seg) == 3 && seg[0] == "stats" && seg[1] == "interactions":
		return route{endpoint: EndpointStatsGet, api: apiStats, params: seg[2:]}, true
	case len(seg) == 2 && seg[0] == "useradmin" && seg[1] == "users":
		return route{endpoint: EndpointUsersList, api: apiUsers}, true
	case len(seg) == 3 && seg[0] == "useradmin" && seg[1] == "users":
		return route{endpoint: EndpointUsersGet, api: apiUsers, params: seg[2:]}, true
	case len(seg) == 5 && seg[0] == "useradmin" && seg[1] == "users" && seg[2] == "by" && seg[3] == "agentDisplayId":
		return route{endpoint: EndpointUsersByDisplay, api: apiUsers, params: seg[4:]}, true
	case len(seg) == 5 && seg[0] == "useradmin" && seg[1] == "users" && seg[3] == "permissions" && seg[4] == "addresses":
		return route{endpoint: EndpointUsersAddresses, api: apiUsers, params: seg[2:3]}, true
	case len(seg) == 5 && seg[0] == "useradmin" && seg[1] == "users" && seg[3] == "permissions" && seg[4] == "groups":
		return route{endpoint: EndpointUsersGroups, api: apiUsers, params: seg[2:3]}, true
	}
	return route{}, false
}

// ServeHTTP implements http.Handler.
func (s *Sim) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w := &statusWriter{ResponseWriter: rw}
	defer func() {
		s.count.update(func(c *Counters) { c.ByStatus[w.status]++ })
	}()
	if d := s.opts.Latency; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if r.URL.Path == TokenPath {
		if r.Method != http.MethodPost && r.Method != http.MethodGet {
			s.count.update(func(c *Counters) { c.NonGET = append(c.NonGET, r.Method+" "+r.URL.Path) })
		}
		s.serveToken(w, r)
		return
	}
	rt, ok := match(r.URL.EscapedPath())
	if r.Method != http.MethodGet {
		s.count.update(func(c *Counters) { c.NonGET = append(c.NonGET, r.Method+" "+r.URL.Path) })
		if ok {
			w.Header().Set("Allow", http.MethodGet)
			writeError(w, rt.api, http.StatusMethodNotAllowed, "Method not allowed")
			return
		}
	}
	if !ok {
		writeError(w, apiContent, http.StatusNotFound, "Not Found")
		return
	}
	for i, p := range rt.params {
		u, err := pathUnescape(p)
		if err != nil {
			writeError(w, rt.api, http.StatusBadRequest, "Malformed path")
			return
		}
		rt.params[i] = u
	}
	s.count.update(func(c *Counters) {
		c.ByEndpoint[rt.endpoint]++
		c.ByApplication[r.Header.Get("x-nvm-application")]++
	})
	arrived := Arrival{At: s.opts.Now(), Endpoint: rt.endpoint}
	if len(rt.params) > 0 {
		arrived.ID = rt.params[0]
	}
	defer func() {
		arrived.Status = w.status
		s.arrivals.add(arrived)
	}()

	// An outage, the rate limit and faults come first, as from a gateway in
	// front of the API.
	if s.down(w, rt.api) {
		return
	}
	if s.limited(w, rt.api) {
		return
	}
	f, code := s.faults.roll(rt.endpoint == EndpointContentDownload)
	switch f {
	case fault5xx:
		s.countFault()
		writeError(w, rt.api, code, http.StatusText(code))
		return
	case faultThrottle:
		s.countFault()
		ra := s.faults.get().RetryAfter
		secs := int((ra + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		writeError(w, rt.api, http.StatusTooManyRequests, "Too Many Requests")
		return
	case faultThrottleNoRetryAfter:
		s.countFault()
		writeError(w, rt.api, http.StatusTooManyRequests, "Too Many Requests")
		return
	}

	tok, ok := s.authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeError(w, rt.api, http.StatusUnauthorized, "Unauthorized")
		return
	}
	s.count.update(func(c *Counters) { c.ByClient[tok.clientID]++ })
	if !slices.Contains(tok.scopes, rt.api.scope()) {
		writeError(w, rt.api, http.StatusForbidden, "Forbidden: scope "+rt.api.scope()+" required")
		return
	}
	version, ok := acceptVersion(r.Header.Values("Accept"), rt.api)
	if !ok {
		writeError(w, rt.api, http.StatusBadRequest, "A supported Accept header is required: "+rt.api.media())
		return
	}
	switch rt.endpoint {
	case EndpointContentList:
		s.contentList(w, r, version)
	case EndpointContentGet:
		s.contentGet(w, rt.params[0])
	case EndpointContentDownload:
		s.contentDownload(w, r, rt.params[0], rt.params[1], f)
	case EndpointStatsList:
		s.statsList(w, r)
	case EndpointStatsGet:
		s.statsGet(w, rt.params[0])
	case EndpointUsersList:
		s.usersList(w, r)
	case EndpointUsersGet:
		s.usersGet(w, rt.params[0])
	case EndpointUsersByDisplay:
		s.usersByDisplayID(w, rt.params[0])
	case EndpointUsersAddresses, EndpointUsersGroups:
		s.usersPermissions(w, rt.params[0], rt.endpoint == EndpointUsersGroups)
	}
}

func (s *Sim) countFault() { s.count.update(func(c *Counters) { c.Faults++ }) }

func (a api) scope() string {
	switch a {
	case apiStats:
		return ScopeStats
	case apiUsers:
		return ScopeUsers
	}
	return ScopeContent
}

func (a api) media() string {
	if a == apiUsers {
		return MediaV4
	}
	return MediaV3
}

// acceptVersion finds a served version among the Accept header's media
// types: v3 or v2 for content and stats, v4 only for User Admin.
func acceptVersion(values []string, a api) (int, bool) {
	best := 0
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
			switch {
			case a == apiUsers && mt == MediaV4:
				return 4, true
			case a != apiUsers && mt == MediaV3:
				best = 3
			case a != apiUsers && mt == MediaV2 && best == 0:
				best = 2
			}
		}
	}
	return best, best != 0
}

// writeError answers in the error style of the API family: {"message"} for
// Interaction Content, {"statusCode","error","message"} for Stats and User
// Admin.
func writeError(w http.ResponseWriter, a api, status int, msg string) {
	if a == apiContent {
		writeJSON(w, status, map[string]any{"message": msg})
		return
	}
	writeJSON(w, status, map[string]any{"statusCode": status, "error": http.StatusText(status), "message": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
