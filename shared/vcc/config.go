package vcc

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
)

// Scopes is the exact scope string requested from the token endpoint: the
// integration's least-privilege set, never anything more.
const Scopes = "interaction-content:read users:read stats"

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	TokenURL, APIURL string // https, or http only for loopback hosts
	ClientID         string
	Secret           secrets.Source

	// RatePerMinute is this process's budget of VCC API calls (all APIs
	// together, token requests excluded) when Pacer is nil. One pacer per
	// Client, one Client per process. Default 160, Vonage's own sample's figure.
	RatePerMinute int
	// Pacer, when set, paces every call instead of an in-process pacer of
	// RatePerMinute: a budget shared by every process of the VCC account
	// (shared/budget). A call it cannot book fails transient, unsent.
	Pacer Pacer
	// MaxRetries bounds transient retries per call. Default 5.
	MaxRetries int
	// PageSize is the content listing page size, default and maximum 1000.
	PageSize int
	// StatsPageSize is the stats listing page size, default 1000.
	StatsPageSize int
	// RefreshAt is the fraction of expires_in after which the token is
	// replaced, default 0.9.
	RefreshAt float64
	// AgentCacheTTL is how long the user directory and looked-up users are
	// kept, default 1h.
	AgentCacheTTL time.Duration
	// Application is sent as x-nvm-application, default "vcc-ingest".
	Application string
	// HTTPClient is optional (NewHTTPClient by default). Whatever is given
	// gets the one redirect policy of every VCC call (keepTokenOnOrigin); the
	// token request follows no redirect at all.
	HTTPClient *http.Client
	// MaxRecordingBytes caps a download whose listing gives no length.
	// Default 2 GiB (VCC_MAX_RECORDING_BYTES).
	MaxRecordingBytes int64
	// ReadStall is how long a download may wait in all for its next 1 KiB
	// (silent or dripping) before it fails, as a transient failure. Default
	// 60s (VCC_READ_STALL).
	ReadStall time.Duration
	// BackoffBase and BackoffMax bound the exponential backoff with full
	// jitter used when no Retry-After is given. Defaults 1s / 60s.
	BackoffBase, BackoffMax time.Duration
	// BreakerFailures and BreakerSustain say when the circuit breaker
	// opens: after at least BreakerFailures failures of VCC in a row (5xx,
	// 408, 429, timeouts, refused or broken connections) spanning at least
	// BreakerSustain, with no answer between. Defaults 5 and 5s: a burst of
	// concurrent 503s is left to the retries, an outage is not.
	BreakerFailures int
	BreakerSustain  time.Duration
	// ProbeInterval is how often one call is let through to VCC while the
	// breaker is open; every other call fails fast with ErrUnavailable.
	// Default 10s.
	ProbeInterval time.Duration
	Logger        *slog.Logger
	// UsageEvery is how often the client logs the calls it sent to VCC
	// ("vcc usage": calls, 429s, retries since the last such line), what
	// the workbook adds up per tenant and day (default 1 minute).
	UsageEvery time.Duration
}

// Defaults.
const (
	DefaultRatePerMinute = 160
	DefaultMaxRetries    = 5
	DefaultPageSize      = 1000
	MaxPageSize          = 1000
	DefaultStatsPageSize = 1000
	DefaultRefreshAt     = 0.9
	DefaultAgentCacheTTL = time.Hour
	DefaultApplication   = "vcc-ingest"
	DefaultBackoffBase   = time.Second
	DefaultBackoffMax    = 60 * time.Second

	DefaultBreakerFailures = 5
	DefaultBreakerSustain  = 5 * time.Second
	DefaultProbeInterval   = 10 * time.Second

	DefaultMaxRecordingBytes = 2 << 30
	DefaultReadStall         = 60 * time.Second
)

var regions = map[string]bool{"emea": true, "nam": true, "apac": true}

// ConfigFromEnv reads the VCC settings through getenv (os.Getenv in the
// program, a map in tests). The secret is not read here: the caller sets
// cfg.Secret from Key Vault or the environment. Errors name the setting.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var cfg Config
	region := strings.ToLower(strings.TrimSpace(getenv("VCC_REGION")))
	if region == "" {
		region = "emea"
	}
	if !regions[region] {
		return cfg, fmt.Errorf("VCC_REGION: %q is not one of emea, nam, apac", region)
	}
	cfg.TokenURL = "https://" + region + ".cc.vonage.com/Auth/connect/token"
	cfg.APIURL = "https://" + region + ".api.newvoicemedia.com"
	if v := strings.TrimSpace(getenv("VCC_TOKEN_URL")); v != "" {
		cfg.TokenURL = v
	}
	if v := strings.TrimSpace(getenv("VCC_API_URL")); v != "" {
		cfg.APIURL = v
	}
	if err := checkURL(cfg.TokenURL); err != nil {
		return cfg, fmt.Errorf("VCC_TOKEN_URL: %w", err)
	}
	if err := checkURL(cfg.APIURL); err != nil {
		return cfg, fmt.Errorf("VCC_API_URL: %w", err)
	}
	cfg.ClientID = strings.TrimSpace(getenv("VCC_CLIENT_ID"))
	if cfg.ClientID == "" {
		return cfg, errors.New("VCC_CLIENT_ID: required")
	}
	if v := strings.TrimSpace(getenv("VCC_RATE_PER_MINUTE")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return cfg, fmt.Errorf("VCC_RATE_PER_MINUTE: %q is not a positive integer", v)
		}
		cfg.RatePerMinute = n
	}
	if v := strings.TrimSpace(getenv("VCC_PAGE_SIZE")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > MaxPageSize {
			return cfg, fmt.Errorf("VCC_PAGE_SIZE: %q is not an integer from 1 to %d", v, MaxPageSize)
		}
		cfg.PageSize = n
	}
	if v := strings.TrimSpace(getenv("VCC_MAX_RECORDING_BYTES")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return cfg, fmt.Errorf("VCC_MAX_RECORDING_BYTES: %q is not a positive number of bytes", v)
		}
		cfg.MaxRecordingBytes = n
	}
	if v := strings.TrimSpace(getenv("VCC_READ_STALL")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			return cfg, fmt.Errorf("VCC_READ_STALL: %q is not a duration of at least 1s", v)
		}
		cfg.ReadStall = d
	}
	return cfg, nil
}

// checkURL accepts https URLs, and http only for loopback hosts (the local
// sandbox): a bearer token must never cross a network in clear text.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %q", raw)
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("no host in %q", raw)
	}
	if u.User != nil {
		return fmt.Errorf("credentials in URL are not allowed")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q: http is allowed only for loopback hosts; use https", raw)
	default:
		return fmt.Errorf("%q: scheme must be https", raw)
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// withDefaults validates cfg and fills in defaults.
func (cfg Config) withDefaults() (Config, error) {
	if err := checkURL(cfg.TokenURL); err != nil {
		return cfg, fmt.Errorf("vcc: TokenURL: %w", err)
	}
	if err := checkURL(cfg.APIURL); err != nil {
		return cfg, fmt.Errorf("vcc: APIURL: %w", err)
	}
	if cfg.ClientID == "" {
		return cfg, errors.New("vcc: ClientID: required")
	}
	if cfg.Secret == nil {
		return cfg, errors.New("vcc: Secret: required")
	}
	if cfg.RatePerMinute < 0 || cfg.MaxRetries < 0 || cfg.PageSize < 0 || cfg.StatsPageSize < 0 ||
		cfg.AgentCacheTTL < 0 || cfg.BackoffBase < 0 || cfg.BackoffMax < 0 ||
		cfg.BreakerFailures < 0 || cfg.BreakerSustain < 0 || cfg.ProbeInterval < 0 ||
		cfg.MaxRecordingBytes < 0 || cfg.ReadStall < 0 {
		return cfg, errors.New("vcc: negative values are not allowed in Config")
	}
	if cfg.PageSize > MaxPageSize {
		return cfg, fmt.Errorf("vcc: PageSize: %d exceeds the maximum %d", cfg.PageSize, MaxPageSize)
	}
	if cfg.RefreshAt < 0 || cfg.RefreshAt > 1 {
		return cfg, fmt.Errorf("vcc: RefreshAt: %v is not within (0, 1]", cfg.RefreshAt)
	}
	if cfg.RatePerMinute == 0 {
		cfg.RatePerMinute = DefaultRatePerMinute
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.StatsPageSize == 0 {
		cfg.StatsPageSize = DefaultStatsPageSize
	}
	if cfg.RefreshAt == 0 {
		cfg.RefreshAt = DefaultRefreshAt
	}
	if cfg.AgentCacheTTL == 0 {
		cfg.AgentCacheTTL = DefaultAgentCacheTTL
	}
	if cfg.Application == "" {
		cfg.Application = DefaultApplication
	}
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase = DefaultBackoffBase
	}
	if cfg.BackoffMax == 0 {
		cfg.BackoffMax = DefaultBackoffMax
	}
	if cfg.BreakerFailures == 0 {
		cfg.BreakerFailures = DefaultBreakerFailures
	}
	if cfg.BreakerSustain == 0 {
		cfg.BreakerSustain = DefaultBreakerSustain
	}
	if cfg.ProbeInterval == 0 {
		cfg.ProbeInterval = DefaultProbeInterval
	}
	if cfg.MaxRecordingBytes == 0 {
		cfg.MaxRecordingBytes = DefaultMaxRecordingBytes
	}
	if cfg.ReadStall == 0 {
		cfg.ReadStall = DefaultReadStall
	}
	if cfg.BackoffMax < cfg.BackoffBase {
		cfg.BackoffMax = cfg.BackoffBase
	}
	cfg.HTTPClient = WithRedirectPolicy(cfg.HTTPClient)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

// NewHTTPClient is the HTTP client every call to VCC goes through (the
// Client's and the doctor's): connection-level timeouts, no overall Timeout
// (http.Client.Timeout would also cut off the body of a long recording
// download; ReadStall bounds a silent one), and keepTokenOnOrigin.
func NewHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 60 * time.Second
	t.TLSHandshakeTimeout = 15 * time.Second
	t.IdleConnTimeout = 90 * time.Second
	t.MaxIdleConnsPerHost = 16
	t.DialContext = (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return &http.Client{Transport: t, CheckRedirect: keepTokenOnOrigin}
}

// WithRedirectPolicy is c (NewHTTPClient when nil) with VCC's one redirect
// policy, whatever c had: a copy, c itself is unchanged.
func WithRedirectPolicy(c *http.Client) *http.Client {
	if c == nil {
		return NewHTTPClient()
	}
	cp := *c
	cp.CheckRedirect = keepTokenOnOrigin
	return &cp
}

// WithoutRedirects is c for a request that carries the client secret (the
// token request): a redirect is refused, never followed, so the secret is
// sent to the configured endpoint and nowhere else.
func WithoutRedirects(c *http.Client) *http.Client {
	cp := *WithRedirectPolicy(c)
	cp.CheckRedirect = refuseRedirect
	return &cp
}

// ErrRedirectRefused is the error of a token request answered with a redirect.
var ErrRedirectRefused = errors.New("redirect refused: credentials are sent only to the configured endpoint")

func refuseRedirect(req *http.Request, _ []*http.Request) error {
	return fmt.Errorf("%w (to %s)", ErrRedirectRefused, req.URL.Redacted())
}

// keepTokenOnOrigin is the redirect policy. Go's default drops
// Authorization only when the host name changes; a redirect to another port
// or scheme of the same host (or a pre-signed storage URL) must not get the
// bearer token either, and a redirect from https to http is refused.
func keepTokenOnOrigin(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	origin := via[0].URL
	if origin.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("refused a redirect from https to %s", req.URL.Scheme)
	}
	if req.URL.Scheme != origin.Scheme || !strings.EqualFold(req.URL.Host, origin.Host) {
		req.Header.Del("Authorization")
	}
	return nil
}
