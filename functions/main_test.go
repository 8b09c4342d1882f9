package main

import (
	"encoding/json"
	"os"
	"sort"
	"testing"

	"github.com/vcc-ingest/vcc-ingest/shared/customhandler"
	"github.com/vcc-ingest/vcc-ingest/shared/local"
)

// Every function folder has a route and every route has a folder: the host
// invokes POST /<folder>, so a mismatch is an invocation that 404s.
func TestFunctionFoldersMatchRoutes(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var folders []string
	for _, e := range entries {
		if e.IsDir() {
			if _, err := os.Stat(e.Name() + "/function.json"); err == nil {
				folders = append(folders, e.Name())
			}
		}
	}
	routes := customhandler.Functions()
	sort.Strings(folders)
	sort.Strings(routes)
	if len(folders) == 0 || len(folders) != len(routes) {
		t.Fatalf("function folders %v, routes %v", folders, routes)
	}
	for i := range folders {
		if folders[i] != routes[i] {
			t.Fatalf("function folders %v, routes %v", folders, routes)
		}
	}
}

type binding struct {
	Name, Type, Direction, Schedule, QueueName, Connection string
	AuthLevel, Route                                       string
	Methods                                                []string
}

func readBindings(t *testing.T, function string) []binding {
	t.Helper()
	data, err := os.ReadFile(function + "/function.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Bindings []binding }
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s/function.json: %v", function, err)
	}
	return f.Bindings
}

// function.json must agree with what the code decodes and the settings it reads.
func TestFunctionJSONMatchesCode(t *testing.T) {
	d := readBindings(t, "discover")
	if len(d) != 1 || d[0].Type != "timerTrigger" || d[0].Name != customhandler.TimerBinding || d[0].Schedule != "%DISCOVER_SCHEDULE%" {
		t.Errorf("discover bindings = %+v", d)
	}
	i := readBindings(t, "ingest")
	if len(i) != 1 || i[0].Type != "serviceBusTrigger" || i[0].Name != customhandler.MessageBinding ||
		i[0].QueueName != "%INTERACTIONS_QUEUE%" || i[0].Connection != "ServiceBusConnection" {
		t.Errorf("ingest bindings = %+v", i)
	}
	// events: exactly an httpTrigger and an http output, or the host does
	// not forward the raw request (IsHttpInAndOutFunction); anonymous, as
	// the signature is the authentication; the route the server serves.
	e := readBindings(t, "events")
	if len(e) != 2 || e[0].Type != "httpTrigger" || e[0].AuthLevel != "anonymous" || e[0].Route != "vcc/events/{tenant?}" ||
		len(e[0].Methods) != 1 || e[0].Methods[0] != "post" || e[1].Type != "http" || e[1].Direction != "out" {
		t.Errorf("events bindings = %+v", e)
	}
	if customhandler.EventsPath+"/{tenant?}" != "/api/"+e[0].Route || local.EventsFunction.Path != "/api/"+e[0].Route || local.EventsPath != customhandler.EventsPath {
		t.Errorf("server serves %s, the host stand-in routes %s, function.json routes %s", customhandler.EventsPath, local.EventsFunction.Path, e[0].Route)
	}
	hj, err := os.ReadFile("../host.json")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		CustomHandler struct{ EnableForwardingHttpRequest bool } `json:"customHandler"`
	}
	if err := json.Unmarshal(hj, &h); err != nil || !h.CustomHandler.EnableForwardingHttpRequest {
		t.Errorf("host.json: customHandler.enableForwardingHttpRequest must be true (the webhook body is verified byte for byte): %v", err)
	}
}
