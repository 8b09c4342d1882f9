package customhandler

import (
	"strings"
	"testing"

	"github.com/vcc-ingest/vcc-ingest/shared/tenants"
)

// FuzzEventsTenant: whatever path arrives, a tenant is named only by
// EventsPath/<id> with id a tenant id exactly as sent, and the bare path
// only by EventsPath (a trailing slash allowed).
func FuzzEventsTenant(f *testing.F) {
	for _, p := range []string{EventsPath, EventsPath + "/", EventsPath + "/acme", EventsPath + "/ACME", EventsPath + "/..",
		EventsPath + "/a%2Fb", EventsPath + "//acme", EventsPath + "/acme/", "/API/vcc/events/acme", EventsPath + "x", "/", ""} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		id, err := eventsTenant(p)
		if err != nil {
			if id != "" {
				t.Fatalf("%q: refused, yet named %q", p, id)
			}
			return
		}
		rest := p[len(EventsPath):]
		switch {
		case id == "" && rest != "" && rest != "/":
			t.Fatalf("%q: taken as the bare path", p)
		case id != "" && (!tenants.ValidID(id) || rest != "/"+id):
			t.Fatalf("%q: named tenant %q", p, id)
		case !strings.EqualFold(p[:len(EventsPath)], EventsPath):
			t.Fatalf("%q: not under %s", p, EventsPath)
		}
	})
}
