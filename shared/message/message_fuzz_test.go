package message

import (
	"bytes"
	"errors"
	"testing"

	"github.com/vcc-ingest/vcc-ingest/shared/vcc"
)

// FuzzDecode: every rejection wraps ErrInvalid (ingest turns it into a
// permanent failure), every accepted body has a valid id and content keys,
// and encoding an accepted body is stable: decode∘encode is the identity.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"v":1,"interactionId":"0b0b0b0b-1c1c-4d4d-8e8e-9f9f9f9f9f9f"}`))
	f.Add([]byte(`{"v":1,"interactionId":"0b0b0b0b-1c1c-4d4d-8e8e-9f9f9f9f9f9f","start":"2026-11-02T10:00:00Z","direction":"inbound","agents":["12"],"content":[{"contentKey":"callRecording","type":"callRecording","contentType":"audio/wav","contentLength":-1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if b.V != Version || !vcc.ValidGUID(b.InteractionID) {
			t.Fatalf("accepted %+v", b)
		}
		for _, c := range b.Content {
			if !vcc.ValidContentKey(c.ContentKey) {
				t.Fatalf("accepted content key %q", c.ContentKey)
			}
		}
		once, err := Encode(b)
		if err != nil {
			t.Fatalf("encode accepted body: %v", err)
		}
		b2, err := Decode(once)
		if err != nil {
			t.Fatalf("re-decode: %v\n%s", err, once)
		}
		twice, _ := Encode(b2)
		if !bytes.Equal(once, twice) {
			t.Fatalf("encoding is not stable:\n%s\n%s", once, twice)
		}
	})
}
