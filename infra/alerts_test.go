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

	"github.com/vcc-ingest/vcc-ingest/shared/records"
)

// alertsFile is the alerts module with its declarations by name.
type alertsFile struct {
	f         *bicepFile
	resources map[string]decl
	vars      map[string]decl
}

func loadAlerts(t *testing.T) alertsFile {
	t.Helper()
	a := alertsFile{f: parseBicep(t, "modules/alerts.bicep"), resources: map[string]decl{}, vars: map[string]decl{}}
	for _, r := range a.f.decls("resource_declaration") {
		a.resources[r.Name] = r
	}
	for _, v := range a.f.decls("variable_declaration") {
		a.vars[v.Name] = v
	}
	return a
}

// byType lists the rules of one resource type.
func (a alertsFile) byType(typ string) []decl {
	var out []decl
	for _, r := range a.f.decls("resource_declaration") {
		if resourceType(r.TypeText) == typ {
			out = append(out, r)
		}
	}
	return out
}

// resolve follows an identifier to the var it names.
func (a alertsFile) resolve(n *node) *node {
	if n != nil && n.Kind == "identifier" {
		if v, ok := a.vars[n.Text]; ok {
			return v.Body
		}
	}
	return n
}

// scopeIs: scopes is exactly [<resource>.id] for a resource of the file of
// type typ named by param.
func (a alertsFile) scopeIs(t *testing.T, r decl, typ, param string) {
	t.Helper()
	where := pos(a.f, r.Node) + " " + r.Name
	sc := path(r.Body, "properties", "scopes")
	if sc == nil || len(sc.named()) != 1 {
		t.Errorf("%s: scopes = %s, want one resource", where, textOf(sc))
		return
	}
	sym, ok := strings.CutSuffix(sc.named()[0].Text, ".id")
	target, found := a.resources[sym]
	if !ok || !found {
		t.Errorf("%s: scope %s is not a resource of the file", where, sc.named()[0].Text)
		return
	}
	if resourceType(target.TypeText) != typ || !target.Existing || textOf(path(target.Body, "name")) != param {
		t.Errorf("%s: scope %s is %s named %s, want the existing %s named %s", where, sym, resourceType(target.TypeText), textOf(path(target.Body, "name")), typ, param)
	}
}

// notifies: the rule's actions carry the action group's id when an e-mail
// is given.
func (a alertsFile) notifies(t *testing.T, r decl) {
	t.Helper()
	where := pos(a.f, r.Node) + " " + r.Name
	acts := a.resolve(path(r.Body, "properties", "actions"))
	if acts == nil || !strings.Contains(acts.Text, "actionGroup.id") || !slices.Contains(identifiers(acts), "alertEmail") {
		t.Errorf("%s: actions = %s, want the action group (actionGroup.id) whenever alertEmail is set", where, textOf(acts))
	}
	if r.Cond != nil {
		t.Errorf("%s: the rule must not be optional (only its notification is)", where)
	}
}

func TestAlertsWiredIntoMain(t *testing.T) {
	main := parseBicep(t, "main.bicep")
	m := main.decl(t, "module_declaration", "alerts")
	if m.TypeText != "modules/alerts.bicep" || m.Cond != nil {
		t.Errorf("main.bicep: module alerts = %s (cond %v), want modules/alerts.bicep, unconditional", m.TypeText, m.Cond != nil)
	}
	ps := props(path(m.Body, "params"))
	for k, v := range map[string]string{
		"alertEmail":              "alertEmail",
		"serviceBusNamespaceName": "serviceBus.outputs.namespaceName",
		"queueName":               "serviceBus.outputs.queueName",
		"appInsightsName":         "monitoring.outputs.appInsightsName",
	} {
		if ps[k] == nil || ps[k].Text != v {
			t.Errorf("main.bicep alerts %s = %s, want %s", k, textOf(ps[k]), v)
		}
	}
	p := main.decl(t, "parameter_declaration", "alertEmail")
	if v, ok := literal(p.Body); !ok || v != "" {
		t.Errorf("main.bicep: alertEmail defaults to %s, want '' (optional)", textOf(p.Body))
	}
}

func TestActionGroupMailsTheOperator(t *testing.T) {
	a := loadAlerts(t)
	groups := a.byType("Microsoft.Insights/actionGroups")
	if len(groups) != 1 || groups[0].Name != "actionGroup" {
		t.Fatalf("alerts.bicep: want one action group named actionGroup, got %d", len(groups))
	}
	g := groups[0]
	if g.Cond == nil || !slices.Contains(identifiers(g.Cond), "alertEmail") {
		t.Error("alerts.bicep: the action group must exist only when alertEmail is set")
	}
	rec := path(g.Body, "properties", "emailReceivers")
	if rec == nil || len(rec.named()) != 1 || textOf(path(rec.named()[0], "emailAddress")) != "alertEmail" {
		t.Errorf("alerts.bicep: emailReceivers = %s, want one receiver at alertEmail", textOf(rec))
	}
}

func TestDeadLetterAlert(t *testing.T) {
	a := loadAlerts(t)
	rules := a.byType("Microsoft.Insights/metricAlerts")
	if len(rules) != 1 {
		t.Fatalf("alerts.bicep: %d metric alerts, want 1 (dead letters)", len(rules))
	}
	r := rules[0]
	a.scopeIs(t, r, "Microsoft.ServiceBus/namespaces", "serviceBusNamespaceName")
	a.notifies(t, r)
	where := pos(a.f, r.Node) + " " + r.Name
	if v, _ := literal(path(r.Body, "properties", "targetResourceType")); v != "Microsoft.ServiceBus/namespaces" {
		t.Errorf("%s: targetResourceType %q", where, v)
	}
	all := path(r.Body, "properties", "criteria", "allOf")
	if all == nil || len(all.named()) != 1 {
		t.Fatalf("%s: want one criterion", where)
	}
	c := all.named()[0]
	for k, want := range map[string]string{
		"metricNamespace": "Microsoft.ServiceBus/namespaces",
		"metricName":      "DeadletteredMessages",
		"operator":        "GreaterThan",
		"threshold":       "0",
		"criterionType":   "StaticThresholdCriterion",
	} {
		if v, _ := literal(path(c, k)); v != want {
			t.Errorf("%s: %s = %s, want %s", where, k, textOf(path(c, k)), want)
		}
	}
	dims := path(c, "dimensions")
	if dims == nil || len(dims.named()) != 1 {
		t.Fatalf("%s: want one dimension (the queue)", where)
	}
	d := dims.named()[0]
	vals := path(d, "values")
	if n, _ := literal(path(d, "name")); n != "EntityName" || textOf(path(d, "operator")) != "'Include'" || vals == nil || len(vals.named()) != 1 || vals.named()[0].Text != "queueName" {
		t.Errorf("%s: dimension %s, want EntityName Include [queueName]", where, textOf(d))
	}
}

// logRules returns the log alerts by name, each checked for scope and
// actions. Each fires on a count above 0, but webhookFailures: a failed
// webhook is delivered again and discover is the safety net, so a couple
// in half an hour are a blip.
func logRules(t *testing.T, a alertsFile) map[string]decl {
	t.Helper()
	rules := map[string]decl{}
	for _, r := range a.byType("Microsoft.Insights/scheduledQueryRules") {
		rules[r.Name] = r
		a.scopeIs(t, r, "Microsoft.Insights/components", "appInsightsName")
		a.notifies(t, r)
		where := pos(a.f, r.Node) + " " + r.Name
		if v, _ := literal(path(r.Body, "kind")); v != "LogAlert" {
			t.Errorf("%s: kind %q, want LogAlert", where, v)
		}
		all := path(r.Body, "properties", "criteria", "allOf")
		if all == nil || len(all.named()) != 1 {
			t.Errorf("%s: want one criterion", where)
			continue
		}
		c := all.named()[0]
		threshold := map[string]string{"webhookFailures": "2"}[r.Name]
		if threshold == "" {
			threshold = "0"
		}
		if op, _ := literal(path(c, "operator")); op != "GreaterThan" || textOf(path(c, "threshold")) != threshold || textOf(path(c, "timeAggregation")) != "'Count'" {
			t.Errorf("%s: want Count > %s", where, threshold)
		}
	}
	for _, name := range []string{"auditFindings", "runFailures", "webhookFailures"} {
		if _, ok := rules[name]; !ok {
			t.Errorf("alerts.bicep: no log alert %s", name)
		}
	}
	return rules
}

func (a alertsFile) query(t *testing.T, r decl) string {
	t.Helper()
	q := a.resolve(path(r.Body, "properties", "criteria", "allOf").named()[0])
	q = a.resolve(path(q, "query"))
	s, ok := literal(q)
	if !ok {
		t.Fatalf("%s: the query must be a literal (or a var holding one)", r.Name)
	}
	return s
}

var kqlField = regexp.MustCompile(`\be(?:\.([A-Za-z][A-Za-z0-9]*)|\["([A-Za-z][A-Za-z0-9]*)"\])`)

// The audit rule reads the event the code writes: its message is
// records.AuditEvent and every field it reads is one audit.go logs.
func TestAuditAlertMatchesTheEvent(t *testing.T) {
	a := loadAlerts(t)
	r, ok := logRules(t, a)["auditFindings"]
	if !ok {
		t.FailNow()
	}
	q := a.query(t, r)
	if n := strings.Count(q, `"`+records.AuditEvent+`"`); n < 2 {
		t.Errorf("audit query: %q appears %d times, want the filter and the msg check:\n%s", records.AuditEvent, n, q)
	}
	logged := auditEventKeys(t)
	var read []string
	for _, m := range kqlField.FindAllStringSubmatch(q, -1) {
		read = append(read, m[1]+m[2])
	}
	for _, want := range []string{"msg", "gaps", "permissionProblem"} {
		if !slices.Contains(read, want) {
			t.Errorf("audit query does not read e.%s", want)
		}
	}
	for _, k := range read {
		if k != "msg" && !slices.Contains(logged, k) {
			t.Errorf("audit query reads e.%s, which the audit event does not carry (it logs %v)", k, logged)
		}
	}
	if !regexp.MustCompile(`where gaps > 0 or permissionProblem\b`).MatchString(q) {
		t.Errorf("audit query must keep only runs with a gap or a permission problem:\n%s", q)
	}
}

// auditEventKeys reads the attribute keys of the Log call that writes
// records.AuditEvent in functions/audit.
func auditEventKeys(t *testing.T) []string {
	t.Helper()
	p := filepath.Join(repoRoot(t), "shared", "pipeline", "audit", "audit.go")
	src, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	file, err := parser.ParseFile(token.NewFileSet(), p, src, 0)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	ast.Inspect(file, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		for i, arg := range call.Args {
			sel, ok := arg.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "AuditEvent" {
				continue
			}
			for j := i + 1; j < len(call.Args); j += 2 {
				if lit, ok := call.Args[j].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					k, _ := strconv.Unquote(lit.Value)
					keys = append(keys, k)
				}
			}
		}
		return true
	})
	if len(keys) == 0 {
		t.Fatalf("%s: no Log call with records.AuditEvent", p)
	}
	return keys
}

// The failure rule reads the handler's error lines of discover and audit
// (level ERROR, the function attribute server.go sets) and failed requests.
func TestFailureAlertCoversDiscoverAndAudit(t *testing.T) {
	a := loadAlerts(t)
	r, ok := logRules(t, a)["runFailures"]
	if !ok {
		t.FailNow()
	}
	q := a.query(t, r)
	for _, want := range []string{`tostring(e.level) == "ERROR"`, `e["function"]) in ("discover", "audit")`, "requests", `success == false and name in ("discover", "audit")`,
		"invocationId = tostring(e.invocationId)", "invocationId = tostring(customDimensions.InvocationId)"} {
		if !strings.Contains(q, want) {
			t.Errorf("failure query lacks %s:\n%s", want, q)
		}
	}
	if strings.Contains(q, "resultCode") {
		t.Errorf("failure query reports resultCode, always \"0\" for a failed timer invocation; the invocation id names it:\n%s", q)
	}
	server, err := os.ReadFile(filepath.Join(repoRoot(t), "shared", "customhandler", "server.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range []string{"discover", "audit"} {
		if !strings.Contains(string(server), `s.log.With("function", "`+fn+`"`) {
			t.Errorf("shared/customhandler/server.go no longer tags %s's logs with function=%s: the failure query would miss them", fn, fn)
		}
	}
}

// The webhook rule reads the events function's 5xx lines as server.go
// writes them, split by tenant.
func TestWebhookAlertMatchesTheLog(t *testing.T) {
	a := loadAlerts(t)
	r, ok := logRules(t, a)["webhookFailures"]
	if !ok {
		t.FailNow()
	}
	q := a.query(t, r)
	for _, want := range []string{`tostring(e.level) == "ERROR"`, `tostring(e["function"]) == "events"`, `tostring(e.msg) == "webhook not accepted"`, "tenant = ",
		`success == false and name == "events"`, "invocationId = tostring(e.invocationId)", "invocationId = tostring(customDimensions.InvocationId)"} {
		if !strings.Contains(q, want) {
			t.Errorf("webhook query lacks %s:\n%s", want, q)
		}
	}
	server, err := os.ReadFile(filepath.Join(repoRoot(t), "shared", "customhandler", "server.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`log.Error("webhook not accepted"`, `s.log.With("function", "events"`, `log.With("tenant", tenant)`} {
		if !strings.Contains(string(server), want) {
			t.Errorf("shared/customhandler/server.go no longer has %s: the webhook query would miss its lines", want)
		}
	}
	if !strings.Contains(textOf(path(r.Body, "properties", "criteria")), "'tenant'") {
		t.Error("the webhook rule is not split by tenant")
	}
}

// Each rule is documented for the operator.
func TestAlertsDocumented(t *testing.T) {
	a := loadAlerts(t)
	readme, err := os.ReadFile(filepath.Join(infraDir(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var rules int
	for _, r := range a.f.decls("resource_declaration") {
		typ := resourceType(r.TypeText)
		if typ != "Microsoft.Insights/metricAlerts" && typ != "Microsoft.Insights/scheduledQueryRules" {
			continue
		}
		rules++
		name := unquote(path(r.Body, "name"))
		_, suffix, _ := strings.Cut(name, "}-")
		if suffix == "" || !strings.Contains(string(readme), "`"+suffix+"`") {
			t.Errorf("infra/README.md does not document the rule %s (`%s`)", r.Name, suffix)
		}
	}
	if rules != 4 {
		t.Errorf("%d alert rules, want 4", rules)
	}
	if !strings.Contains(string(readme), "alertEmail") {
		t.Error("infra/README.md does not explain alertEmail")
	}
}
