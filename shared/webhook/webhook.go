// Package webhook verifies and signs VCC webhook deliveries (the Webhooks
// API, beta): a CloudEvents 1.0 JSON body and, in the Vonage-Signature
// header, a JWT signed HS256 with the subscription's secret whose claim
// payload_hash is the hex SHA-256 of the raw body.
//
// Verification never trusts a claim before the signature over the token is
// checked, refuses every algorithm but HS256 ("none" included), bounds the
// token's lifetime, and compares both the signature and the body hash in
// constant time. Errors say why for
// the log; the HTTP answer to a refused request carries none of it.
package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vcc-ingest/vcc-ingest/shared/ids"
	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
)

// SignatureHeader is the header carrying the JWT.
const SignatureHeader = "Vonage-Signature"

// MaxBody is the largest body accepted (1 MiB): VCC's events are small.
const MaxBody = 1 << 20

// MaxSkew is the clock skew allowed: how far past its exp a token is still
// accepted, and how far in the future its iat may be.
const MaxSkew = 30 * time.Second

// MaxLifetime is the longest exp may be after iat: VCC's tokens are valid
// 5 minutes; one valid for longer (a replay window of years) is refused.
const MaxLifetime = 10 * time.Minute

// maxToken bounds the header before any decoding.
const maxToken = 8 << 10

// ErrUnauthorized marks a request whose signature does not verify.
var ErrUnauthorized = errors.New("webhook signature refused")

// ErrBadEvent marks a verified body that is not a usable CloudEvent.
var ErrBadEvent = errors.New("not a CloudEvents 1.0 event of a VCC channel")

// DecodeSecret reads the subscription's secret as VCC gives it: base64
// (standard, padding optional). The key is the decoded bytes.
func DecodeSecret(s string) (secrets.Secret, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return secrets.Secret{}, errors.New("empty webhook secret")
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return secrets.Secret{}, errors.New("webhook secret is not base64")
	}
	if len(key) == 0 {
		return secrets.Secret{}, errors.New("empty webhook secret")
	}
	return secrets.New(string(key)), nil
}

// CheckShape checks what of token (the Vonage-Signature header) can be
// checked without the key: present, bounded, a compact JWS whose header
// says HS256 (no crit), with a signature of HMAC-SHA256's length and
// base64url segments. No claim is read. A request failing it can be
// refused before the key is fetched; Verify checks it too. Errors wrap
// ErrUnauthorized.
func CheckShape(token string) error {
	_, _, err := shape(token)
	return err
}

// shape is CheckShape, returning the token's parts and signature.
func shape(token string) ([]string, []byte, error) {
	if token == "" {
		return nil, nil, fmt.Errorf("%w: no %s header", ErrUnauthorized, SignatureHeader)
	}
	if len(token) > maxToken {
		return nil, nil, fmt.Errorf("%w: token longer than %d bytes", ErrUnauthorized, maxToken)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil, fmt.Errorf("%w: not a compact JWS (%d parts)", ErrUnauthorized, len(parts))
	}
	head, err := b64(parts[0])
	if err != nil {
		return nil, nil, fmt.Errorf("%w: header: %v", ErrUnauthorized, err)
	}
	var h struct {
		Alg  *string `json:"alg"`
		Crit any     `json:"crit"`
	}
	if err := strictJSON(head, &h); err != nil {
		return nil, nil, fmt.Errorf("%w: header: %v", ErrUnauthorized, err)
	}
	// Only HS256: "none", "HS512", "RS256" (a public key used as an HMAC
	// key) and anything else are refused before any other work.
	if h.Alg == nil || *h.Alg != "HS256" {
		alg := "<missing>"
		if h.Alg != nil {
			alg = *h.Alg
		}
		return nil, nil, fmt.Errorf("%w: alg %q is not HS256", ErrUnauthorized, trunc(alg))
	}
	if h.Crit != nil {
		return nil, nil, fmt.Errorf("%w: crit header not understood", ErrUnauthorized)
	}
	if _, err := b64(parts[1]); err != nil {
		return nil, nil, fmt.Errorf("%w: claims: %v", ErrUnauthorized, err)
	}
	sig, err := b64(parts[2])
	if err != nil {
		return nil, nil, fmt.Errorf("%w: signature: %v", ErrUnauthorized, err)
	}
	if len(sig) != sha256.Size {
		return nil, nil, fmt.Errorf("%w: signature of %d bytes, not HMAC-SHA256's %d", ErrUnauthorized, len(sig), sha256.Size)
	}
	return parts, sig, nil
}

// claims are the token's claims the product reads.
type claims struct {
	jwt.RegisteredClaims
	PayloadHash *string `json:"payload_hash"`
}

// Verify checks token (the Vonage-Signature header) against body, the raw
// request body, with key (DecodeSecret's result) at now, with
// github.com/golang-jwt/jwt/v5: HS256 the only method, exp and iat
// required, iat not after now (MaxSkew allowed), exp not past (MaxSkew
// allowed) and at most MaxLifetime after iat, nbf honoured; then the body's
// hash. Every error wraps ErrUnauthorized and names the reason, for the log
// only.
func Verify(key secrets.Secret, token string, body []byte, now time.Time) error {
	if key.IsZero() {
		return fmt.Errorf("%w: no secret configured", ErrUnauthorized)
	}
	if _, _, err := shape(token); err != nil {
		return err
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithStrictDecoding(),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(MaxSkew),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	var c claims
	_, err := p.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return []byte(key.Reveal()), nil })
	if errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		return fmt.Errorf("%w: bad signature (wrong secret or altered token)", ErrUnauthorized)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnauthorized, err)
	}
	// The signature holds: the claims are VCC's.
	if c.IssuedAt == nil {
		return fmt.Errorf("%w: no iat claim", ErrUnauthorized)
	}
	if life := c.ExpiresAt.Sub(c.IssuedAt.Time); life < 0 || life > MaxLifetime {
		return fmt.Errorf("%w: exp is %s after iat; at most %s is accepted", ErrUnauthorized, life.Round(time.Second), MaxLifetime)
	}
	if c.PayloadHash == nil {
		return fmt.Errorf("%w: no payload_hash claim", ErrUnauthorized)
	}
	sum := sha256.Sum256(body)
	want := []byte(hex.EncodeToString(sum[:]))
	if subtle.ConstantTimeCompare(want, []byte(strings.ToLower(*c.PayloadHash))) != 1 {
		return fmt.Errorf("%w: payload_hash does not match the body (altered body)", ErrUnauthorized)
	}
	return nil
}

// Sign returns a Vonage-Signature token for body, as VCC signs it: HS256,
// payload_hash, iat now and exp ttl later. For the sandbox and tests.
func Sign(key secrets.Secret, body []byte, now time.Time, ttl time.Duration) string {
	sum := sha256.Sum256(body)
	head, _ := json.Marshal(map[string]string{"alg": "HS256", "typ": "JWT"})
	claims, _ := json.Marshal(map[string]any{
		"payload_hash": hex.EncodeToString(sum[:]),
		"iat":          now.Unix(),
		"exp":          now.Add(ttl).Unix(),
	})
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(head) + "." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, []byte(key.Reveal()))
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

// Event is what the product uses of a verified CloudEvent.
type Event struct {
	ID            string
	Type          string
	Time          time.Time // zero when absent
	InteractionID string
}

// ParseEvent reads a CloudEvents 1.0 JSON object (structured mode) carrying
// data.channel.interactionId. Errors wrap ErrBadEvent.
func ParseEvent(body []byte) (Event, error) { return parseEvent(body, true) }

// ParseEnvelope reads the CloudEvent's envelope only (id, type, time),
// whatever its data: an event of a type the product ignores (say
// agent.presencechanged) need not name an interaction. InteractionID is
// set when the data names a valid one. Errors wrap ErrBadEvent.
func ParseEnvelope(body []byte) (Event, error) { return parseEvent(body, false) }

func parseEvent(body []byte, needInteraction bool) (Event, error) {
	var ev Event
	if !utf8.Valid(body) || !json.Valid(body) {
		return ev, fmt.Errorf("%w: body is not JSON", ErrBadEvent)
	}
	var raw struct {
		SpecVersion *string `json:"specversion"`
		ID          *string `json:"id"`
		Type        *string `json:"type"`
		Time        *string `json:"time"`
		Data        *struct {
			Channel *struct {
				InteractionID *string `json:"interactionId"`
			} `json:"channel"`
		} `json:"data"`
	}
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
		return ev, fmt.Errorf("%w: body is not a JSON object", ErrBadEvent)
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return ev, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	if raw.SpecVersion != nil && *raw.SpecVersion != "1.0" {
		return ev, fmt.Errorf("%w: specversion %q", ErrBadEvent, trunc(*raw.SpecVersion))
	}
	if raw.ID == nil || *raw.ID == "" || len(*raw.ID) > 256 {
		return ev, fmt.Errorf("%w: no id", ErrBadEvent)
	}
	if raw.Type == nil || *raw.Type == "" || len(*raw.Type) > 256 {
		return ev, fmt.Errorf("%w: no type", ErrBadEvent)
	}
	id := ""
	if raw.Data != nil && raw.Data.Channel != nil && raw.Data.Channel.InteractionID != nil {
		id = strings.ToLower(*raw.Data.Channel.InteractionID)
	}
	switch {
	case !needInteraction:
		if !ids.ValidGUID(id) {
			id = ""
		}
	case raw.Data == nil || raw.Data.Channel == nil || raw.Data.Channel.InteractionID == nil:
		return ev, fmt.Errorf("%w: no data.channel.interactionId", ErrBadEvent)
	case !ids.ValidGUID(id):
		return ev, fmt.Errorf("%w: data.channel.interactionId %q is not a GUID", ErrBadEvent, trunc(id))
	}
	ev = Event{ID: *raw.ID, Type: *raw.Type, InteractionID: id}
	if raw.Time != nil {
		if t, err := time.Parse(time.RFC3339Nano, *raw.Time); err == nil {
			ev.Time = t.UTC()
		}
	}
	return ev, nil
}

func b64(s string) ([]byte, error) {
	// JWS uses unpadded base64url; padding or other alphabets are refused.
	return base64.RawURLEncoding.Strict().DecodeString(s)
}

// strictJSON decodes one JSON object, numbers kept as written.
func strictJSON(data []byte, v any) error {
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		return errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
