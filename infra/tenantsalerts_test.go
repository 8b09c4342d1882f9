package infra

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Finding: anyone who can write the tenants document can redirect a
// tenant (its tokenUrl receives the client secret), and nobody was told when
// it changed. With a tenants document two rules report every change.
func TestTenantsDocumentAlertsWired(t *testing.T) {
	for blob, want := range map[string]bool{"": false, "tenants.json": true} {
		main := deploy(t, "main.bicep", map[string]string{"tenantsBlobName": blob})
		m := main.f.decl(t, "module_declaration", "tenantsAlerts")
		if m.TypeText != "modules/tenantsalerts.bicep" || main.deployed(t, m) != want {
			t.Errorf("main.bicep: tenantsAlerts (%s) deployed %v with tenantsBlobName %q, want %v", m.TypeText, !want, blob, want)
		}
	}
	main := parseBicep(t, "main.bicep")
	ps := props(path(main.decl(t, "module_declaration", "tenantsAlerts").Body, "params"))
	for k, v := range map[string]string{
		"workspaceId":           "monitoring.outputs.workspaceId",
		"appInsightsName":       "monitoring.outputs.appInsightsName",
		"recordingsAccountName": "storage.outputs.recordingsAccountName",
		"stateContainerName":    "storage.outputs.stateContainerName",
		"tenantsBlobName":       "tenantsBlobName",
		"actionGroupId":         "alerts.outputs.actionGroupId",
	} {
		if textOf(ps[k]) != v {
			t.Errorf("main.bicep tenantsAlerts %s = %s, want %s", k, textOf(ps[k]), v)
		}
	}
	// The document lives in the state container of the recordings account,
	// whose blob writes and deletes reach the workspace.
	st := parseBicep(t, "modules/storage.bicep")
	if textOf(path(st.decl(t, "resource_declaration", "stateContainer").Body, "parent")) != "recordingsBlob" || textOf(path(st.decl(t, "resource_declaration", "recordingsBlob").Body, "parent")) != "recordingsAccount" {
		t.Error("storage.bicep: the state container is no longer in the recordings account: the write alert would watch the wrong account")
	}
	diag := parseBicep(t, "modules/diagnostics.bicep")
	logs := textOf(path(diag.decl(t, "resource_declaration", "recordingsAudit").Body, "properties", "logs"))
	for _, c := range []string{"'StorageWrite'", "'StorageDelete'"} {
		if !strings.Contains(logs, c) {
			t.Errorf("diagnostics.bicep: the recordings account's blob logs lack %s: the write alert would see nothing", c)
		}
	}
}

// tenantsRules returns the module's two rules, checked for what every
// change needs: notified, each time.
func tenantsRules(t *testing.T) (*bicepFile, map[string]decl, map[string]*node) {
	t.Helper()
	f := parseBicep(t, "modules/tenantsalerts.bicep")
	rules := map[string]decl{}
	vars := map[string]*node{}
	for _, v := range f.decls("variable_declaration") {
		vars[v.Name] = v.Body
	}
	for _, r := range f.decls("resource_declaration") {
		if resourceType(r.TypeText) != "Microsoft.Insights/scheduledQueryRules" {
			continue
		}
		rules[r.Name] = r
		where := pos(f, r.Node) + " " + r.Name
		if r.Cond != nil {
			t.Errorf("%s: conditional inside the module (the module is the condition)", where)
		}
		if v := textOf(path(r.Body, "properties", "autoMitigate")); v != "false" {
			t.Errorf("%s: autoMitigate %s, want false: each change must notify, not only the first", where, v)
		}
		if v := textOf(path(r.Body, "properties", "actions")); v != "actions" || !strings.Contains(textOf(vars["actions"]), "actionGroupId") {
			t.Errorf("%s: actions %s, want the action group", where, v)
		}
		if v := textOf(path(r.Body, "properties", "enabled")); v != "true" {
			t.Errorf("%s: not enabled", where)
		}
		c := path(r.Body, "properties", "criteria", "allOf").named()[0]
		if textOf(path(c, "operator")) != "'GreaterThan'" || textOf(path(c, "threshold")) != "0" || textOf(path(c, "timeAggregation")) != "'Count'" {
			t.Errorf("%s: want Count > 0", where)
		}
	}
	for _, name := range []string{"written", "loaded"} {
		if _, ok := rules[name]; !ok {
			t.Fatalf("tenantsalerts.bicep: no rule %s", name)
		}
	}
	return f, rules, vars
}

// query returns a rule's query: the let line (as Bicep text) and the KQL
// body of the variable it appends.
func ruleQuery(t *testing.T, r decl, vars map[string]*node) (let, body string) {
	t.Helper()
	q := path(path(r.Body, "properties", "criteria", "allOf").named()[0], "query")
	m := regexp.MustCompile(`^'(let \w+ = "\$\{\w+\}";)\$\{(\w+)\}'$`).FindStringSubmatch(textOf(q))
	if m == nil {
		t.Fatalf("%s: query %s, want 'let x = \"${name}\";${kqlVar}'", r.Name, textOf(q))
	}
	s, ok := literal(vars[m[2]])
	if !ok {
		t.Fatalf("%s: %s is not a literal query", r.Name, m[2])
	}
	return m[1], s
}

// StorageBlobLogs columns the write rule may use (Azure Monitor's table
// reference, StorageBlobLogs).
var storageBlobLogsColumns = []string{"TimeGenerated", "AccountName", "Category", "OperationName", "StatusCode", "StatusText", "ObjectKey", "Uri", "RequesterObjectId", "RequesterUpn", "RequesterTenantId", "AuthenticationType", "CallerIpAddress", "UserAgentHeader", "CorrelationId"}

func TestTenantsDocumentWrittenAlert(t *testing.T) {
	f, rules, vars := tenantsRules(t)
	r := rules["written"]
	if v := textOf(path(r.Body, "properties", "scopes")); strings.Join(strings.Fields(v), "") != "[workspaceId]" {
		t.Errorf("written: scopes %s, want [workspaceId] (StorageBlobLogs is a workspace table)", v)
	}
	let, q := ruleQuery(t, r, vars)
	if let != `let tenantsBlobKey = "${blobKey}";` {
		t.Errorf("written: %s, want the blob key bound to tenantsBlobKey", let)
	}
	key := textOf(vars["blobKey"])
	if !strings.Contains(key, "'/${recordingsAccountName}/${stateContainerName}/${tenantsBlobName}'") || !strings.Contains(key, `'"'`) {
		t.Errorf("blobKey = %s, want /<account>/<container>/<blob> with its quotes escaped", key)
	}
	for _, want := range []string{
		"StorageBlobLogs\n",
		`| where Category in ("StorageWrite", "StorageDelete")`,
		"| where url_decode(ObjectKey) == tenantsBlobKey",
		"| where toint(StatusCode) between (200 .. 299)",
		"RequesterObjectId",
	} {
		if !strings.Contains(q, want) {
			t.Errorf("written query lacks %q:\n%s", want, q)
		}
	}
	for _, col := range regexp.MustCompile(`\b[A-Z][A-Za-z]+\b`).FindAllString(q, -1) {
		if col != "StorageBlobLogs" && !strings.HasPrefix(col, "Storage") && !slices.Contains(storageBlobLogsColumns, col) {
			t.Errorf("written query uses %s, not a StorageBlobLogs column", col)
		}
	}
	if ws := path(r.Body, "properties", "evaluationFrequency"); textOf(ws) != textOf(path(r.Body, "properties", "windowSize")) {
		t.Errorf("%s written: window and frequency differ: a write would be reported twice or missed", pos(f, r.Node))
	}
}

// The loaded rule reads the line shared/livetenants writes, with the
// fields it writes, for the document the app is configured with.
func TestTenantsDocumentLoadedAlert(t *testing.T) {
	_, rules, vars := tenantsRules(t)
	r := rules["loaded"]
	if v := textOf(path(r.Body, "properties", "scopes")); strings.Join(strings.Fields(v), "") != "[appInsights.id]" {
		t.Errorf("loaded: scopes %s, want the Application Insights component", v)
	}
	let, q := ruleQuery(t, r, vars)
	if let != `let tenantsDocument = "${documentName}";` || !strings.Contains(textOf(vars["documentName"]), "tenantsBlobName") {
		t.Errorf("loaded: %s, want the document name (tenantsBlobName) bound to tenantsDocument", let)
	}
	msg, keys := tenantsLoadedLog(t)
	if n := strings.Count(q, `"`+msg+`"`); n < 2 {
		t.Errorf("loaded query: %q appears %d times, want the filter and the msg check:\n%s", msg, n, q)
	}
	var read []string
	for _, m := range kqlField.FindAllStringSubmatch(q, -1) {
		read = append(read, m[1]+m[2])
	}
	for _, want := range []string{"msg", "document", "version"} {
		if !slices.Contains(read, want) {
			t.Errorf("loaded query does not read e.%s", want)
		}
	}
	for _, k := range read {
		if k != "msg" && !slices.Contains(keys, k) {
			t.Errorf("loaded query reads e.%s, which the log line does not carry (it logs %v)", k, keys)
		}
	}
	if !strings.Contains(q, "tostring(e.document) == tenantsDocument") || !strings.Contains(q, "by version = tostring(e.version)") {
		t.Errorf("loaded query must keep this document's lines and group them by version:\n%s", q)
	}
	// A version is new when its first line falls in the last evaluation
	// period, looking back far enough to know the versions served before.
	every := unquote(path(r.Body, "properties", "evaluationFrequency"))
	m := regexp.MustCompile(`where firstServed > ago\((\d+)m\)`).FindStringSubmatch(q)
	if m == nil || "PT"+m[1]+"M" != every {
		t.Errorf("loaded query: new versions over %v, want the evaluation period %s:\n%s", m, every, q)
	}
	if v := unquote(path(r.Body, "properties", "overrideQueryTimeRange")); v != "P2D" {
		t.Errorf("loaded: overrideQueryTimeRange %s, want P2D (the versions already served)", v)
	}
	// The document's name in the line is the blob name the app is given.
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "shared", "pipeline", "tenancy", "tenancy.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), "Name: cfg.TenantsBlob") {
		t.Error("shared/pipeline/tenancy/tenancy.go no longer names the document by VCC_TENANTS_BLOB: the loaded rule's document filter would miss it")
	}
}

// tenantsLoadedLog reads the message and attribute keys of shared/livetenants'
// Info call that reports a version served.
func tenantsLoadedLog(t *testing.T) (msg string, keys []string) {
	t.Helper()
	p := filepath.Join(repoRoot(t), "shared", "livetenants", "livetenants.go")
	src, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	file, err := parser.ParseFile(token.NewFileSet(), p, src, 0)
	if err != nil {
		t.Fatal(err)
	}
	ast.Inspect(file, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		lit, isLit := call.Args[0].(*ast.BasicLit)
		if !ok || sel.Sel.Name != "Info" || !isLit {
			return true
		}
		m, _ := strconv.Unquote(lit.Value)
		if !strings.HasPrefix(m, "tenants document") {
			return true
		}
		msg = m
		for j := 1; j < len(call.Args); j += 2 {
			if k, ok := call.Args[j].(*ast.BasicLit); ok && k.Kind == token.STRING {
				s, _ := strconv.Unquote(k.Value)
				keys = append(keys, s)
			}
		}
		return true
	})
	if msg != "tenants document loaded" {
		t.Fatalf("%s: no Info(\"tenants document loaded\", ...) call (found %q)", p, msg)
	}
	return msg, keys
}
