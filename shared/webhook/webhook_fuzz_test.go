package webhook

import (
	"bytes"
	"testing"
	"time"
)

// FuzzVerify: no token or body crashes the verifier, and only a token
// signed with the key over exactly this body verifies.
func FuzzVerify(f *testing.F) {
	body := eventBody("channel.disconnected")
	f.Add(Sign(testKey, body, t0, time.Minute), body)
	f.Add("eyJhbGciOiJub25lIn0.e30.", body)
	f.Add("a.b.c", []byte(`{}`))
	f.Add("", []byte(nil))
	f.Fuzz(func(t *testing.T, tok string, b []byte) {
		err := Verify(testKey, tok, b, t0)
		if err == nil {
			// A valid token must be this key's over these bytes.
			if !bytes.Equal(b, body) && tok == Sign(testKey, body, t0, time.Minute) {
				t.Fatalf("token for another body verified %q", b)
			}
		}
		_, _ = ParseEvent(b)
	})
}
