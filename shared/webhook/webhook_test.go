package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/secrets"
)

var (
	testKey = secrets.New("0123456789abcdef0123456789abcdef")
	t0      = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
)

const guid = "3f1c2a9e-4b7d-4c21-9a6e-0d5b8e7f1a23"

func eventBody(typ string) []byte {
	return []byte(`{"specversion":"1.0","id":"e1","type":"` + typ + `","source":"/vcc","time":"2026-11-22T10:00:00Z","data":{"channel":{"interactionId":"` + guid + `"}}}`)
}

// token builds a JWS from raw header and claims JSON, signed with key.
func token(key secrets.Secret, header, claims string) string {
	enc := base64.RawURLEncoding
	s := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	mac := hmac.New(sha256.New, []byte(key.Reveal()))
	mac.Write([]byte(s))
	return s + "." + enc.EncodeToString(mac.Sum(nil))
}

func hash(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestVerifyAcceptsSignedBody(t *testing.T) {
	body := eventBody("channel.disconnected")
	if err := Verify(testKey, Sign(testKey, body, t0, 5*time.Minute), body, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	body := eventBody("channel.disconnected")
	other := secrets.New("another secret of the same length!")
	good := Sign(testKey, body, t0, 5*time.Minute)
	parts := strings.Split(good, ".")
	claims := `{"payload_hash":"` + hash(body) + `","exp":` + jsonInt(t0.Add(5*time.Minute).Unix()) + `}`
	cases := map[string]struct {
		tok  string
		body []byte
		now  time.Time
	}{
		"no header":        {"", body, t0},
		"wrong secret":     {Sign(other, body, t0, 5*time.Minute), body, t0},
		"tampered body":    {good, append(bytes.Clone(body[:len(body)-1]), ' ', '}'), t0},
		"expired":          {good, body, t0.Add(5*time.Minute + MaxSkew + time.Second)},
		"alg none":         {parts[0][:0] + base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".", body, t0},
		"alg none signed":  {token(testKey, `{"alg":"none"}`, claims), body, t0},
		"alg HS512":        {token(testKey, `{"alg":"HS512"}`, claims), body, t0},
		"alg RS256":        {token(testKey, `{"alg":"RS256"}`, claims), body, t0},
		"alg missing":      {token(testKey, `{"typ":"JWT"}`, claims), body, t0},
		"alg case":         {token(testKey, `{"alg":"hs256"}`, claims), body, t0},
		"no exp":           {token(testKey, `{"alg":"HS256"}`, `{"payload_hash":"`+hash(body)+`"}`), body, t0},
		"no payload_hash":  {token(testKey, `{"alg":"HS256"}`, `{"exp":`+jsonInt(t0.Add(time.Minute).Unix())+`}`), body, t0},
		"hash of other":    {token(testKey, `{"alg":"HS256"}`, `{"payload_hash":"`+hash([]byte("x"))+`","exp":`+jsonInt(t0.Add(time.Minute).Unix())+`}`), body, t0},
		"not yet valid":    {token(testKey, `{"alg":"HS256"}`, `{"payload_hash":"`+hash(body)+`","exp":`+jsonInt(t0.Add(time.Hour).Unix())+`,"nbf":`+jsonInt(t0.Add(10*time.Minute).Unix())+`}`), body, t0},
		"two parts":        {parts[0] + "." + parts[1], body, t0},
		"padded signature": {good + "=", body, t0},
		"swapped claims":   {parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + "." + parts[2], body, t0},
		"bearer prefix":    {"Bearer " + good, body, t0},
		"crit header":      {token(testKey, `{"alg":"HS256","crit":["exp"]}`, claims), body, t0},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := Verify(testKey, c.tok, c.body, c.now)
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("Verify = %v, want ErrUnauthorized", err)
			}
			if strings.Contains(err.Error(), testKey.Reveal()) {
				t.Fatal("error carries the secret")
			}
		})
	}
	// The log says why: a wrong key or an altered token is a bad signature.
	if err := Verify(testKey, Sign(other, body, t0, 5*time.Minute), body, t0); err == nil || !strings.Contains(err.Error(), "bad signature") {
		t.Fatalf("wrong secret: %v", err)
	}
	if err := Verify(secrets.Secret{}, good, body, t0); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("without a secret: %v", err)
	}
}

func TestVerifyWithinSkew(t *testing.T) {
	body := eventBody("channel.disconnected")
	tok := Sign(testKey, body, t0, 5*time.Minute)
	if err := Verify(testKey, tok, body, t0.Add(5*time.Minute+MaxSkew-time.Second)); err != nil {
		t.Fatalf("within the skew: %v", err)
	}
}

// The hash is of the raw bytes: a body whose re-serialisation differs
// (key order, spacing, unicode escapes) verifies as sent, and its
// re-serialised form does not.
func TestVerifyHashesRawBytes(t *testing.T) {
	body, err := os.ReadFile("testdata/event-reordered.json")
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(v)
	if bytes.Equal(again, body) {
		t.Fatal("fixture re-serialises identically; it tests nothing")
	}
	tok := Sign(testKey, body, t0, time.Minute)
	if err := Verify(testKey, tok, body, t0); err != nil {
		t.Fatalf("raw body: %v", err)
	}
	if err := Verify(testKey, tok, again, t0); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("re-serialised body verified: %v", err)
	}
	ev, err := ParseEvent(body)
	if err != nil || ev.InteractionID != guid || ev.Type != "channel.disconnected" || ev.ID != "evt-1é😀" {
		t.Fatalf("ParseEvent = %+v, %v", ev, err)
	}
}

func TestParseEvent(t *testing.T) {
	ev, err := ParseEvent(eventBody("channel.disconnected"))
	if err != nil || ev.ID != "e1" || ev.InteractionID != guid || !ev.Time.Equal(t0) {
		t.Fatalf("ParseEvent = %+v, %v", ev, err)
	}
	bad := []string{
		``, `[]`, `"x"`, `{}`, `{"id":"e1","type":"t"}`,
		`{"id":"e1","type":"t","data":{}}`,
		`{"id":"e1","type":"t","data":{"channel":{}}}`,
		`{"id":"e1","type":"t","data":{"channel":{"interactionId":"not-a-guid"}}}`,
		`{"type":"t","data":{"channel":{"interactionId":"` + guid + `"}}}`,
		`{"id":"e1","data":{"channel":{"interactionId":"` + guid + `"}}}`,
		`{"specversion":"0.3","id":"e1","type":"t","data":{"channel":{"interactionId":"` + guid + `"}}}`,
		`{"id":"e1","type":"t","data":{"channel":{"interactionId":"` + guid + `"}}`,
		"{\"id\":\"e\xff\",\"type\":\"t\",\"data\":{\"channel\":{\"interactionId\":\"" + guid + "\"}}}",
	}
	for _, b := range bad {
		if _, err := ParseEvent([]byte(b)); !errors.Is(err, ErrBadEvent) {
			t.Errorf("ParseEvent(%q) = %v, want ErrBadEvent", b, err)
		}
	}
}

// The envelope alone: an event of any type, whether or not its data names
// an interaction; what is not a CloudEvent is still refused.
func TestParseEnvelope(t *testing.T) {
	ev, err := ParseEnvelope([]byte(`{"specversion":"1.0","id":"e2","type":"agent.presencechanged","data":{"agent":{"agentId":"a"}}}`))
	if err != nil || ev.ID != "e2" || ev.Type != "agent.presencechanged" || ev.InteractionID != "" {
		t.Fatalf("ParseEnvelope = %+v, %v", ev, err)
	}
	if ev, err := ParseEnvelope(eventBody("channel.connected")); err != nil || ev.InteractionID != guid {
		t.Fatalf("ParseEnvelope = %+v, %v", ev, err)
	}
	for _, b := range []string{``, `[]`, `{}`, `{"id":"e1"}`, `{"type":"t"}`, `{"specversion":"0.3","id":"e1","type":"t"}`, "{\"id\":\"e\xff\",\"type\":\"t\"}"} {
		if _, err := ParseEnvelope([]byte(b)); !errors.Is(err, ErrBadEvent) {
			t.Errorf("ParseEnvelope(%q) = %v, want ErrBadEvent", b, err)
		}
	}
}

func TestDecodeSecret(t *testing.T) {
	k, err := DecodeSecret(base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")))
	if err != nil || k.Reveal() != testKey.Reveal() {
		t.Fatalf("DecodeSecret = %v", err)
	}
	if _, err := DecodeSecret("not base64!"); err == nil {
		t.Fatal("accepted a non-base64 secret")
	}
	if s := k.String(); s != "[REDACTED]" {
		t.Fatalf("secret prints %q", s)
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// CheckShape refuses what needs no key to refuse, and passes a token VCC
// could have signed (whatever its key) on to Verify.
func TestCheckShape(t *testing.T) {
	body := eventBody("channel.disconnected")
	good := Sign(testKey, body, t0, 5*time.Minute)
	if err := CheckShape(good); err != nil {
		t.Fatalf("a signed token: %v", err)
	}
	if err := CheckShape(Sign(secrets.New("any other key"), body, t0, 5*time.Minute)); err != nil {
		t.Fatalf("a token signed with another key is well formed: %v", err)
	}
	parts := strings.Split(good, ".")
	for name, tok := range map[string]string{
		"none":           "",
		"two parts":      parts[0] + "." + parts[1],
		"alg none":       base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".",
		"short sig":      parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString([]byte("short")),
		"claims not b64": parts[0] + ".!!." + parts[2],
		"bearer":         "Bearer " + good,
		"overlong":       strings.Repeat("a", maxToken+1),
	} {
		if err := CheckShape(tok); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s: %v, want ErrUnauthorized", name, err)
		}
	}
}

// A token's lifetime is bounded: exp and iat are required, exp at most
// MaxLifetime after iat, iat not in the future beyond MaxSkew.
func TestVerifyBoundsTheLifetime(t *testing.T) {
	body := eventBody("channel.disconnected")
	h := hash(body)
	at := func(d time.Duration) string { return jsonInt(t0.Add(d).Unix()) }
	year36812 := jsonInt(time.Date(36812, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
	refused := map[string]string{
		"exp in year 36812":      `{"payload_hash":"` + h + `","iat":` + at(0) + `,"exp":` + year36812 + `}`,
		"exp without iat":        `{"payload_hash":"` + h + `","exp":` + at(5*time.Minute) + `}`,
		"exp a day after iat":    `{"payload_hash":"` + h + `","iat":` + at(0) + `,"exp":` + at(24*time.Hour) + `}`,
		"exp past MaxLifetime":   `{"payload_hash":"` + h + `","iat":` + at(0) + `,"exp":` + at(MaxLifetime+time.Second) + `}`,
		"iat in the future":      `{"payload_hash":"` + h + `","iat":` + at(MaxSkew+time.Minute) + `,"exp":` + at(MaxSkew+2*time.Minute) + `}`,
		"exp before iat":         `{"payload_hash":"` + h + `","iat":` + at(0) + `,"exp":` + at(-time.Second) + `}`,
		"iat not a number":       `{"payload_hash":"` + h + `","iat":"now","exp":` + at(time.Minute) + `}`,
		"exp not a number":       `{"payload_hash":"` + h + `","iat":` + at(0) + `,"exp":"later"}`,
		"iat with no exp at all": `{"payload_hash":"` + h + `","iat":` + at(0) + `}`,
	}
	for name, claims := range refused {
		t.Run(name, func(t *testing.T) {
			err := Verify(testKey, token(testKey, `{"alg":"HS256","typ":"JWT"}`, claims), body, t0)
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("Verify = %v, want ErrUnauthorized", err)
			}
		})
	}
	// VCC's own: 5 minutes; iat a little ahead of our clock is skew.
	for name, claims := range map[string]string{
		"5 minutes":    `{"payload_hash":"` + h + `","iat":` + at(0) + `,"exp":` + at(5*time.Minute) + `}`,
		"iat in skew":  `{"payload_hash":"` + h + `","iat":` + at(MaxSkew-time.Second) + `,"exp":` + at(5*time.Minute) + `}`,
		"MaxLifetime":  `{"payload_hash":"` + h + `","iat":` + at(0) + `,"exp":` + at(MaxLifetime) + `}`,
		"with nbf now": `{"payload_hash":"` + h + `","iat":` + at(0) + `,"nbf":` + at(0) + `,"exp":` + at(time.Minute) + `}`,
	} {
		if err := Verify(testKey, token(testKey, `{"alg":"HS256","typ":"JWT"}`, claims), body, t0); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
