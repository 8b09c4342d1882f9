package infra

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// handlerLines are the handler's log lines captured from "handler local
// --sandbox" runs (testdata/logs: a day, a day with VCC faults and hidden
// lines, an outage, webhooks), one JSON object per line as the host copies
// them into traces.message.
func handlerLines(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(infraDir(t), "testdata", "logs", "*.log"))
	if err != nil || len(files) < 4 {
		t.Fatalf("testdata/logs: %v %v", files, err)
	}
	var lines []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			lines = append(lines, l)
		}
	}
	return lines
}

// tenantOf is the tenant a line names, "(single)" without one.
func tenantOf(e map[string]any) string {
	if s, _ := e["tenant"].(string); s != "" {
		return s
	}
	return "(single)"
}

// events decodes the captured lines.
func events(t *testing.T, lines []string) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// hostRequests are requests rows as the host writes them for invocations
// (the host's own telemetry, not the handler's): one failed discover, one
// events request the host failed itself (the handler down), one 503 the
// handler answered (success true), and ingest invocations.
func hostRequests() []kqlRow {
	at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	row := func(name string, success bool, code string, ms float64, url, id string) kqlRow {
		return kqlRow{"timestamp": at, "name": name, "operation_Name": name, "success": success, "resultCode": code, "duration": ms, "url": url,
			"customDimensions": map[string]any{"InvocationId": id}}
	}
	return []kqlRow{
		row("discover", false, "0", 1200, "", "d-1"),
		row("events", false, "502", 30, "https://app.example/api/vcc/events/acme", "e-1"),
		row("events", true, "503", 40, "https://app.example/api/vcc/events/acme", "e-2"),
		row("ingest", true, "200", 100, "", "i-1"),
		row("ingest", true, "200", 300, "", "i-2"),
		row("ingest", true, "200", 900, "", "i-3"),
	}
}

func loadWorkbook(t *testing.T) (decl, map[string]any) {
	t.Helper()
	f := parseBicep(t, "modules/workbook.bicep")
	var wb []decl
	for _, r := range f.decls("resource_declaration") {
		if resourceType(r.TypeText) == "Microsoft.Insights/workbooks" {
			wb = append(wb, r)
		}
	}
	if len(wb) != 1 {
		t.Fatalf("workbook.bicep: %d workbooks, want 1", len(wb))
	}
	data, err := os.ReadFile(filepath.Join(infraDir(t), "modules", "workbook.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("workbook.json: %v", err)
	}
	return wb[0], doc
}

// The workbook: deployed with the app unless switched off, attached to the
// Application Insights component, its content the JSON file.
func TestWorkbookModule(t *testing.T) {
	main := parseBicep(t, "main.bicep")
	m := main.decl(t, "module_declaration", "workbook")
	if m.TypeText != "modules/workbook.bicep" || m.Cond == nil || m.Cond.Text != "(deployWorkbook)" {
		t.Errorf("main.bicep: module workbook = %s if %s, want modules/workbook.bicep if (deployWorkbook)", m.TypeText, textOf(m.Cond))
	}
	if v, _ := literal(main.decl(t, "parameter_declaration", "deployWorkbook").Body); v != "true" {
		t.Error("main.bicep: deployWorkbook must default to true (the workbook is deployed with the app)")
	}
	if p := props(path(m.Body, "params"))["appInsightsName"]; p == nil || p.Text != "monitoring.outputs.appInsightsName" {
		t.Errorf("main.bicep: workbook appInsightsName = %s", textOf(p))
	}
	r, doc := loadWorkbook(t)
	if k, _ := literal(path(r.Body, "kind")); k != "shared" {
		t.Errorf("workbook kind %q, want shared", k)
	}
	if n := path(r.Body, "name"); n == nil || !strings.HasPrefix(n.Text, "guid(resourceGroup().id") {
		t.Errorf("workbook name %s: want a fixed guid per resource group (redeployments update it)", textOf(n))
	}
	if s := path(r.Body, "properties", "sourceId"); s == nil || s.Text != "appInsights.id" {
		t.Errorf("workbook sourceId %s, want appInsights.id", textOf(s))
	}
	sd := path(r.Body, "properties", "serializedData")
	if sd == nil || !strings.Contains(sd.Text, "loadTextContent('workbook.json')") || !strings.Contains(sd.Text, "'__APP_INSIGHTS_ID__', appInsights.id") {
		t.Errorf("serializedData = %s, want workbook.json with the component's id put in", textOf(sd))
	}
	if doc["version"] != "Notebook/1.0" || !slices.Equal(doc["fallbackResourceIds"].([]any), []any{"__APP_INSIGHTS_ID__"}) {
		t.Errorf("workbook.json: version %v, fallbackResourceIds %v", doc["version"], doc["fallbackResourceIds"])
	}
}

// workbookQueries are the query items of workbook.json by name.
func workbookQueries(t *testing.T, doc map[string]any) map[string]string {
	qs := map[string]string{}
	for _, it := range doc["items"].([]any) {
		item := it.(map[string]any)
		if item["type"] != 3.0 {
			continue
		}
		c := item["content"].(map[string]any)
		if c["resourceType"] != "microsoft.insights/components" || c["timeContextFromParameter"] != "TimeRange" {
			t.Errorf("workbook item %v: want the component's data over the TimeRange parameter", item["name"])
		}
		qs[item["name"].(string)] = c["query"].(string)
	}
	return qs
}

// Each view of the workbook, run over the handler's real lines and the
// host's requests rows, gives the figures the lines hold.
func TestWorkbookQueriesOverTheHandlersLines(t *testing.T) {
	_, doc := loadWorkbook(t)
	qs := workbookQueries(t, doc)
	lines := handlerLines(t)
	evs := events(t, lines)
	tables := map[string][]kqlRow{"traces": tracesFrom(t, lines), "requests": hostRequests()}
	run := func(name string) []kqlRow {
		t.Helper()
		q, ok := qs[name]
		if !ok {
			t.Fatalf("workbook.json has no view %s", name)
		}
		rows, err := kqlRun(q, tables)
		if err != nil {
			t.Fatalf("view %s: %v\n%s", name, err, q)
		}
		if len(rows) == 0 {
			t.Errorf("view %s: no rows from the captured lines", name)
		}
		return rows
	}
	total := func(rows []kqlRow, col string) float64 {
		var n float64
		for _, r := range rows {
			x, _ := kqlNumber(r[col])
			n += x
		}
		return n
	}
	count := func(pred func(map[string]any) bool) (n, copied, bytes float64) {
		for _, e := range evs {
			if pred(e) {
				n++
				c, _ := e["copied"].(float64)
				b, _ := e["bytes"].(float64)
				copied, bytes = copied+c, bytes+b
			}
		}
		return
	}
	msgIs := func(m string) func(map[string]any) bool {
		return func(e map[string]any) bool { return e["msg"] == m }
	}

	stored := run("stored")
	_, copied, _ := count(func(e map[string]any) bool { return e["msg"] == "ingest done" && e["outcome"] == "stored" })
	tenants := map[string]bool{}
	for _, e := range evs {
		if e["msg"] == "ingest done" {
			tenants[tenantOf(e)] = true
		}
	}
	if len(tenants) < 3 {
		t.Fatalf("the captured lines hold the stored interactions of %v, want the single account's and two tenants'", tenants)
	}
	for tenant := range tenants {
		n, copied, bytes := count(func(e map[string]any) bool {
			return e["msg"] == "ingest done" && e["outcome"] == "stored" && tenantOf(e) == tenant
		})
		var rows []kqlRow
		for _, r := range stored {
			if r["tenant"] == tenant {
				rows = append(rows, r)
			}
		}
		if total(rows, "interactions") != n || total(rows, "recordings") != copied || total(rows, "bytes") != bytes || n == 0 {
			t.Errorf("stored of %s: %v, want %v interactions, %v recordings, %v bytes", tenant, rows, n, copied, bytes)
		}
	}
	for _, r := range stored {
		if !slices.Contains([]any{"local", "discover", "event"}, r["path"]) {
			t.Errorf("stored row %v: the path (via) expected", r)
		}
	}

	latency := run("latency")
	for _, r := range latency {
		if r["fn"] == "ingest" && (r["invocations"] != 3.0 || r["p50ms"] != 300.0 || r["p95ms"] != 900.0) {
			t.Errorf("latency of ingest: %v, want 3 invocations, p50 300, p95 900", r)
		}
		if r["fn"] == "discover" && r["failed"] != 1.0 {
			t.Errorf("latency of discover: %v, want 1 failed", r)
		}
	}

	webhooks := run("webhooks")
	if n, _, _ := count(msgIs("webhook accepted")); total(webhooks, "accepted") != n || n == 0 {
		t.Errorf("webhooks: %v, want %v accepted", webhooks, n)
	}
	for _, r := range webhooks {
		if r["p50ms"] == nil || r["p95ms"] == nil {
			t.Errorf("webhooks: %v, want the answer time", r)
		}
	}

	vcc := run("vcc")
	if n, _, _ := count(msgIs("vcc unavailable; circuit open")); total(vcc, "circuitOpened") != n || n == 0 {
		t.Errorf("vcc: %v, want %v circuit openings", vcc, n)
	}
	if total(vcc, "recordings") != copied {
		t.Errorf("vcc: %v recordings, want %v", total(vcc, "recordings"), copied)
	}
	var usageCalls float64
	for _, e := range evs {
		if e["msg"] == "vcc usage" {
			usageCalls += e["calls"].(float64)
		}
	}
	if total(vcc, "vccCalls") != usageCalls || usageCalls == 0 {
		t.Errorf("vcc: %v calls, want the %v of the vcc usage lines", total(vcc, "vccCalls"), usageCalls)
	}
	for _, r := range vcc {
		calls, _ := kqlNumber(r["vccCalls"])
		recs, _ := kqlNumber(r["recordings"])
		if per, ok := kqlNumber(r["callsPerRecording"]); !ok || (recs > 0 && math.Abs(per-calls/recs) > 0.001) {
			t.Errorf("vcc row %v: callsPerRecording, want vccCalls ÷ recordings", r)
		}
	}

	deferrals := run("deferrals")
	if n, _, _ := count(func(e map[string]any) bool { return e["msg"] == "ingest failed" && e["level"] == "WARN" }); total(deferrals, "failedAttempts") != n || n == 0 {
		t.Errorf("deferrals: %v, want %v failed attempts (the WARN line; the ERROR line of the same attempt is not counted twice)", deferrals, n)
	}

	// The captured audits all ran on one day: one row per tenant.
	audit := run("audit")
	type figures struct{ audits, gaps, hiddenLines, hiddenDirections, problems float64 }
	want := map[string]figures{}
	for _, e := range evs {
		if e["msg"] == "vcc-ingest audit" {
			f := want[tenantOf(e)]
			f.audits++
			f.gaps, f.hiddenLines = max(f.gaps, e["gaps"].(float64)), max(f.hiddenLines, e["hiddenLines"].(float64))
			f.hiddenDirections = max(f.hiddenDirections, e["hiddenDirections"].(float64))
			if e["permissionProblem"] == true {
				f.problems++
			}
			want[tenantOf(e)] = f
		}
	}
	got := map[string]figures{}
	for _, r := range audit {
		got[r["tenant"].(string)] = figures{r["audits"].(float64), r["gaps"].(float64), r["hiddenLines"].(float64), r["hiddenDirections"].(float64), r["permissionProblems"].(float64)}
	}
	if len(want) < 2 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("audit by tenant: %v, want %v", got, want)
	}

	// The audit's latency and calls per recording by path, as its line says.
	paths := run("pathlatency")
	var wantPer float64
	for _, e := range evs {
		if e["msg"] == "vcc-ingest audit" && tenantOf(e) == "(single)" {
			if v, ok := e["discoverCallsPerRecording"].(float64); ok {
				wantPer = max(wantPer, v)
			}
		}
	}
	var gotPer float64
	for _, r := range paths {
		if r["tenant"] == "(single)" {
			v, _ := kqlNumber(r["discoverCallsPerRecording"])
			gotPer = max(gotPer, v)
		}
	}
	if wantPer == 0 || gotPer != wantPer {
		t.Errorf("pathlatency: discover calls per recording %v, want the audit line's %v (%v)", gotPer, wantPer, paths)
	}

	failures := run("failures")
	guid := regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-`)
	var whats []string
	for _, r := range failures {
		whats = append(whats, r["what"].(string))
		if guid.MatchString(r["reason"].(string)) {
			t.Errorf("failure reason keeps an id, so equal reasons do not group: %v", r["reason"])
		}
	}
	if !slices.Contains(whats, "ingest failed") || !slices.Contains(whats, "discover run") {
		t.Errorf("failures: %v, want the failed ingest attempt and the failed discover run", failures)
	}
	if total(failures, "failures") != 2 {
		t.Errorf("failures: %v, want 2 (each failure once)", failures)
	}
}

// Every field the workbook reads from a line (e.x) is one the handler
// writes: each appears in the captured lines.
func TestWorkbookReadsLoggedFields(t *testing.T) {
	_, doc := loadWorkbook(t)
	keys := map[string]bool{}
	for _, e := range events(t, handlerLines(t)) {
		for k := range e {
			keys[k] = true
		}
	}
	// The path and the direction of a stored interaction are on its
	// "ingest done" line for the stored view.
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "shared", "pipeline", "ingest", "rules.go"))
	if err != nil {
		t.Fatal(err)
	}
	done := regexp.MustCompile(`log\.Info\("ingest done",[^\n]*`).Find(src)
	for _, want := range []string{`"via", storedVia(w.body.Source)`, `"direction", res.Direction`} {
		if !strings.Contains(string(done), want) {
			t.Errorf("shared/pipeline/ingest/rules.go: the ingest done line lacks %s", want)
		}
	}
	for name, q := range workbookQueries(t, doc) {
		for _, m := range kqlField.FindAllStringSubmatch(q, -1) {
			if k := m[1] + m[2]; !keys[k] {
				t.Errorf("view %s reads e.%s, which no line of the handler carries", name, k)
			}
		}
	}
}

// The alert rules, run over the same lines and requests rows: each fires
// on what it exists for and on nothing else.
func TestAlertQueriesOverTheHandlersLines(t *testing.T) {
	a := loadAlerts(t)
	rules := logRules(t, a)
	lines := handlerLines(t)
	tables := map[string][]kqlRow{"traces": tracesFrom(t, lines), "requests": hostRequests()}
	run := func(name string) []kqlRow {
		t.Helper()
		rows, err := kqlRun(a.query(t, rules[name]), tables)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return rows
	}
	// The audits with gaps or hidden lines fire, each for its tenant; the
	// clean ones do not.
	rows := run("auditFindings")
	var fired []string
	for _, r := range rows {
		fired = append(fired, fmt.Sprint(r["tenant"], " ", r["gaps"]))
	}
	slices.Sort(fired)
	if !slices.Equal(fired, []string{"(single) 3", "sandbox-2 1"}) {
		t.Errorf("auditFindings: %v, want the single account's audit with 3 gaps and sandbox-2's with 1", rows)
	}
	// The failed discover invocation, named by its invocation id; the
	// ERROR line of a failed ingest attempt is not a discover failure.
	if rows := run("runFailures"); len(rows) != 1 || rows[0]["fn"] != "discover" || rows[0]["invocationId"] != "d-1" {
		t.Errorf("runFailures: %v, want the failed discover invocation d-1", rows)
	}
	// The events request the host failed, with its tenant from the path;
	// the 503 the handler answered has success true and its own line, and
	// accepted webhooks are not failures.
	if rows := run("webhookFailures"); len(rows) != 1 || rows[0]["tenant"] != "acme" || rows[0]["invocationId"] != "e-1" || rows[0]["status"] != 502.0 {
		t.Errorf("webhookFailures: %v, want the host-side failure e-1 of tenant acme", rows)
	}
}
