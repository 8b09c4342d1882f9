// Package invoketest holds invocation requests shaped as the Azure Functions
// host sends them to a custom handler, for the tests of every package that
// answers the host.
//
// The files in testdata/ follow requests captured from a real host and the
// host's own sources: numbers as strings, string metadata encoded twice, the
// body's top-level fields copied into Metadata, and, in servicebus.json, the
// message body itself encoded twice (a JSON string holding a JSON string
// literal), as the host does for a Service Bus trigger without dataType.
package invoketest

import (
	"embed"
	"testing"
)

//go:embed testdata/*.json
var files embed.FS

// Fixture returns testdata/<name> ("servicebus.json", "timer.json").
func Fixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := files.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatalf("host fixture %s: %v", name, err)
	}
	return data
}
