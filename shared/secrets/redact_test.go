package secrets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const leaked = "value-that-must-never-print"

// Every type that holds a secret value redacts it in every fmt verb, in
// slog's text and JSON handlers, and in json.Marshal: printed alone or as a
// field of a struct.
func TestHoldersNeverPrintTheirValue(t *testing.T) {
	kv, err := NewKeyVault("https://vault.example.net/", "vcc-client-secret", fakeCredential{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kv.cached = New(leaked)
	holders := map[string]any{
		"Secret":    New(leaked),
		"Static":    Static(New(leaked)),
		"*KeyVault": kv,
	}
	for name, h := range holders {
		var out []string
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
			out = append(out, fmt.Sprintf(verb, h))
			out = append(out, fmt.Sprintf(verb, struct{ Source any }{h}))
		}
		var text, js bytes.Buffer
		slog.New(slog.NewTextHandler(&text, nil)).Info("m", "secret", h, "group", struct{ S any }{h})
		slog.New(slog.NewJSONHandler(&js, nil)).Info("m", "secret", h, "group", struct{ S any }{h})
		out = append(out, text.String(), js.String())
		data, err := json.Marshal(map[string]any{"secret": h, "nested": struct{ S any }{h}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, string(data))
		for _, o := range out {
			if strings.Contains(o, leaked) || strings.Contains(o, fmt.Sprintf("%x", leaked)) || strings.Contains(o, fmt.Sprintf("%X", leaked)) {
				t.Errorf("%s printed its value: %s", name, o)
			}
		}
		if !strings.Contains(fmt.Sprint(h), redacted) {
			t.Errorf("%s prints %q, not %s", name, fmt.Sprint(h), redacted)
		}
	}
}
