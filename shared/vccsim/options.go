package vccsim

import "time"

// Scope names the sandbox understands; they are the three the product asks for.
const (
	ScopeContent = "interaction-content:read"
	ScopeUsers   = "users:read"
	ScopeStats   = "stats"
)

// Media types VCC requires in the Accept header.
const (
	MediaV2 = "application/vnd.newvoicemedia.v2+json"
	MediaV3 = "application/vnd.newvoicemedia.v3+json"
	MediaV4 = "application/vnd.newvoicemedia.v4+json"
)

// Default credential of the sandbox.
const (
	DefaultClientID     = "sandbox-client"
	DefaultClientSecret = "sandbox-secret"
)

// defaultStart is the first day of generated data when Options.Start is zero.
var defaultStart = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

// Options configures a Sim. The zero value gives a small, fully permitted,
// fault-free sandbox; every field has a default chosen to match VCC.
type Options struct {
	Seed               int64
	Start              time.Time // first day (UTC midnight) of generated data; default 2026-11-02
	Days               int       // default 1
	InteractionsPerDay int       // default 200; negative for none (then add with AddInteraction)
	Agents             int       // default 25
	ClientID           string    // default "sandbox-client"
	ClientSecret       string    // default "sandbox-secret"
	GrantedScopes      []string  // scopes the credential may be granted; default the three
	TokenLifetime      time.Duration
	Deny               Permissions // user-level feature permissions switched OFF (zero value: all on)

	MinRecordingBytes, MaxRecordingBytes int64 // default 16 KiB .. 256 KiB

	// LateRecording makes the content of about 5% of interactions appear only
	// this long after the call ended (by Now), as VCC does while it processes
	// recordings; before that they are absent from the content API.
	LateRecording time.Duration
	Latency       time.Duration // added to every response
	Now           func() time.Time
	Faults        Faults

	// RateLimitPerMinute, when positive, answers 429 (with Retry-After) to
	// API requests beyond this many in any rolling minute (by Now); token
	// requests are not limited. Zero: no limit. See ratelimit.go.
	RateLimitPerMinute int

	// Outage makes every API request answer 503 for a spell (see
	// StartOutage to begin one at run time).
	Outage Outage

	// Quirks switch on the undocumented or contradictory forms of the API
	// (see vcc-api.md) so clients can be tested against each of them.
	Quirks Quirks
}

// Quirks selects alternative, plausible forms of the VCC API. The zero value
// is the documented form.
type Quirks struct {
	OmitContentDirection bool // content API items carry no "direction" (the seed document's claim)
	OmitContentLength    bool // content items carry no "contentLength"
	InclusiveEnd         bool // listing windows include interactions starting exactly at end
	UsersBareArray       bool // /useradmin/users answers a bare JSON array
	UsersZeroBasedPages  bool // /useradmin/users pages start at 0
	TokenBasicOnly       bool // the token endpoint refuses client id and secret as form fields (HTTP Basic only)
	PermissionsRefused   bool // /useradmin/users/{id}/permissions/... answer 403
}

// Permissions are the credential owner's feature permissions, true meaning
// switched OFF. VCC omits what they hide without any error.
type Permissions struct {
	Inbound  bool // "View inbound interaction content" off
	Outbound bool // "View outbound interaction content" off
	Groups   bool // "Access groups of users' content" off: only the owner's reporting line
	// Lines: "Access groups of users' content (overrides line permissions)"
	// off, as VCC documents it: the owner sees content by line permissions,
	// only on the lines (addresses) it is permitted (2 of the 6 lines; see
	// Sim.Lines), whoever handled the call.
	Lines bool
}

// Faults are per-request probabilities of misbehaviour, drawn from a
// generator seeded with Options.Seed. They never apply to the token endpoint.
type Faults struct {
	Status5xx            float64 // 500/502/503/504
	Throttle             float64 // 429 with Retry-After
	ThrottleNoRetryAfter float64 // 429 without Retry-After
	Truncate             float64 // download: Content-Length sent, connection closed after half
	TruncateNoLength     float64 // download: chunked, connection closed after half
	Redirect             float64 // download: 307 to another host that refuses Authorization
	RetryAfter           time.Duration
}

// FirstDay is the first day of generated data (UTC midnight).
func (o Options) FirstDay() time.Time { return o.withDefaults().Start }

func (o Options) withDefaults() Options {
	if o.Start.IsZero() {
		o.Start = defaultStart
	}
	o.Start = o.Start.UTC().Truncate(24 * time.Hour)
	if o.Days <= 0 {
		o.Days = 1
	}
	if o.InteractionsPerDay < 0 {
		o.InteractionsPerDay = 0
	} else if o.InteractionsPerDay == 0 {
		o.InteractionsPerDay = 200
	}
	if o.Agents <= 0 {
		o.Agents = 25
	}
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.ClientSecret == "" {
		o.ClientSecret = DefaultClientSecret
	}
	if o.GrantedScopes == nil {
		o.GrantedScopes = []string{ScopeContent, ScopeUsers, ScopeStats}
	}
	if o.TokenLifetime <= 0 {
		o.TokenLifetime = 7200 * time.Second
	}
	if o.MinRecordingBytes <= 0 {
		o.MinRecordingBytes = 16 << 10
	}
	if o.MaxRecordingBytes <= 0 {
		o.MaxRecordingBytes = 256 << 10
	}
	if o.MinRecordingBytes < wavHeaderSize+2 {
		o.MinRecordingBytes = wavHeaderSize + 2
	}
	if o.MaxRecordingBytes < o.MinRecordingBytes {
		o.MaxRecordingBytes = o.MinRecordingBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Faults = o.Faults.withDefaults()
	return o
}

func (f Faults) withDefaults() Faults {
	if f.RetryAfter <= 0 {
		f.RetryAfter = time.Second
	}
	return f
}
