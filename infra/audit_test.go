package infra

import (
	"slices"
	"sort"
	"strings"
	"testing"
)

// Finding: a Log Analytics workspace but no diagnostic settings, so no audit
// trail. Each resource that holds or moves personal data or the secret sends
// its logs to the workspace.
func TestAuditTrail(t *testing.T) {
	f := parseBicep(t, "modules/diagnostics.bicep")
	resources := map[string]decl{}
	for _, r := range f.decls("resource_declaration") {
		resources[r.Name] = r
	}
	want := map[string][]string{
		"Microsoft.KeyVault/vaults":                      {"AuditEvent"},
		"Microsoft.Storage/storageAccounts/blobServices": {"StorageDelete", "StorageRead", "StorageWrite"},
		"Microsoft.ServiceBus/namespaces":                {"OperationalLogs"},
	}
	got := map[string][]string{}
	for _, r := range f.decls("resource_declaration") {
		if resourceType(r.TypeText) != "Microsoft.Insights/diagnosticSettings" {
			continue
		}
		where := pos(f, r.Node) + " " + r.Name
		if r.Cond != nil {
			t.Errorf("%s: the audit trail must not be optional", where)
		}
		if ws := path(r.Body, "properties", "workspaceId"); ws == nil || ws.Text != "workspaceId" {
			t.Errorf("%s: must send to the workspace (workspaceId)", where)
		}
		sc := path(r.Body, "scope")
		target, ok := resources[textOf(sc)]
		if !ok {
			t.Errorf("%s: scope %s is not a resource of the file", where, textOf(sc))
			continue
		}
		typ := resourceType(target.TypeText)
		logs := path(r.Body, "properties", "logs")
		if logs == nil {
			t.Errorf("%s: no logs", where)
			continue
		}
		for _, l := range logs.named() {
			if v, _ := literal(path(l, "enabled")); v != "true" {
				t.Errorf("%s: log %s is not enabled", where, textOf(path(l, "category")))
			}
			got[typ] = append(got[typ], unquote(path(l, "category")))
		}
	}
	// The app's lines already reach the workspace through the
	// workspace-based Application Insights component: FunctionAppLogs
	// would ingest (and bill) each of them twice.
	if cats := got["Microsoft.Web/sites"]; len(cats) > 0 {
		t.Errorf("diagnostic settings of the Function App: %v; its logs reach the workspace through Application Insights already (infra/README.md, Audit trail)", cats)
	}
	for typ, cats := range want {
		g := got[typ]
		sort.Strings(g)
		if !slices.Equal(g, cats) {
			t.Errorf("diagnostic settings of %s: categories %v, want %v", typ, g, cats)
		}
	}
	// The blob service is the recordings account's (recordings and state).
	blob := resources["recordingsBlob"]
	if p := path(blob.Body, "parent"); p == nil || p.Text != "recordingsAccount" || path(resources["recordingsAccount"].Body, "name").Text != "recordingsAccountName" {
		t.Error("diagnostics.bicep: blob logs must be the recordings account's")
	}
	main := parseBicep(t, "main.bicep")
	m := main.decl(t, "module_declaration", "diagnostics")
	if m.Cond != nil {
		t.Error("main.bicep: the diagnostics module must not be optional")
	}
	ps := props(path(m.Body, "params"))
	for k, v := range map[string]string{
		"workspaceId":             "monitoring.outputs.workspaceId",
		"keyVaultName":            "keyVault.outputs.name",
		"recordingsAccountName":   "storage.outputs.recordingsAccountName",
		"serviceBusNamespaceName": "serviceBus.outputs.namespaceName",
	} {
		if ps[k] == nil || ps[k].Text != v {
			t.Errorf("main.bicep diagnostics %s = %s, want %s", k, textOf(ps[k]), v)
		}
	}
}

// Finding: a preview API version where a GA version exists. A preview is
// acceptable only where Azure publishes no GA version newer than it.
func TestAPIVersionsAreGA(t *testing.T) {
	reg := loadAzureTypes(t)
	for _, rel := range templates(t) {
		f := parseBicep(t, rel)
		for _, r := range f.decls("resource_declaration") {
			typ, v, _ := strings.Cut(r.TypeText, "@")
			if !strings.HasSuffix(v, "-preview") {
				continue
			}
			for _, pub := range reg.versions[strings.ToLower(typ)] {
				if !strings.HasSuffix(pub, "-preview") && pub > v {
					t.Errorf("%s %s: preview %s, but Azure publishes GA %s", pos(f, r.Node), r.Name, v, pub)
				}
			}
		}
	}
}

// Retention: each step a parameter of main.bicep, off by default, wired to
// the storage module, and the parameter files consistent (a blob under
// immutability cannot be deleted by lifecycle before its period ends).
func TestRecordingsRetention(t *testing.T) {
	st := parseBicep(t, "modules/storage.bicep")
	lc := st.decl(t, "resource_declaration", "recordingsLifecycle")
	if lc.Cond == nil || resourceType(lc.TypeText) != "Microsoft.Storage/storageAccounts/managementPolicies" {
		t.Error("storage.bicep: the lifecycle policy must be a conditional managementPolicies resource")
	}
	if p := path(lc.Body, "parent"); p == nil || p.Text != "recordingsAccount" {
		t.Error("storage.bicep: the lifecycle policy belongs to the recordings account")
	}
	if pm := findProp(lc.Body, "prefixMatch"); len(pm) != 1 || !strings.Contains(pm[0].Text, "${recordingsContainerName}/") {
		t.Error("storage.bicep: lifecycle must be limited to the recordings container (state is not personal data to age out)")
	}
	im := st.decl(t, "resource_declaration", "recordingsImmutability")
	if im.Cond == nil || !strings.Contains(im.Cond.Text, "immutabilityDays") || path(im.Body, "parent").Text != "recordingsContainer" {
		t.Error("storage.bicep: immutability must be optional and on the recordings container")
	}
	main := parseBicep(t, "main.bicep")
	wiring := map[string]string{
		"softDeleteDays":   "recordingsSoftDeleteDays",
		"versioning":       "recordingsVersioning",
		"coolAfterDays":    "recordingsCoolAfterDays",
		"coldAfterDays":    "recordingsColdAfterDays",
		"coldTier":         "recordingsColdTier",
		"deleteAfterDays":  "recordingsDeleteAfterDays",
		"immutabilityDays": "recordingsImmutabilityDays",
	}
	ps := props(path(main.decl(t, "module_declaration", "storage").Body, "params"))
	for k, v := range wiring {
		if ps[k] == nil || ps[k].Text != v {
			t.Errorf("main.bicep storage %s = %s, want %s", k, textOf(ps[k]), v)
		}
	}
	defaults := map[string]string{}
	for _, p := range main.decls("parameter_declaration") {
		if v, ok := literal(p.Body); ok {
			defaults[p.Name] = v
		}
	}
	for _, k := range []string{"recordingsCoolAfterDays", "recordingsColdAfterDays", "recordingsDeleteAfterDays", "recordingsImmutabilityDays"} {
		if defaults[k] != "0" {
			t.Errorf("main.bicep %s defaults to %s: retention that deletes or locks data is opt-in", k, defaults[k])
		}
	}
	for _, rel := range bicepFiles(t) {
		if !strings.HasSuffix(rel, ".bicepparam") {
			continue
		}
		vals := map[string]int{}
		for k, v := range defaults {
			if strings.HasSuffix(k, "Days") {
				vals[k] = atoi(t, k, v)
			}
		}
		for _, v := range parseBicep(t, rel).decls("variable_declaration") {
			if s, ok := literal(v.Body); ok && strings.HasSuffix(v.Name, "Days") {
				vals[v.Name] = atoi(t, rel, s)
			}
		}
		cool, cold, del, imm := vals["recordingsCoolAfterDays"], vals["recordingsColdAfterDays"], vals["recordingsDeleteAfterDays"], vals["recordingsImmutabilityDays"]
		if del > 0 && imm > del {
			t.Errorf("%s: delete after %d days, but immutable for %d", rel, del, imm)
		}
		if cool > 0 && cold > 0 && cold <= cool || cold > 0 && del > 0 && del <= cold || cool > 0 && del > 0 && del <= cool {
			t.Errorf("%s: lifecycle steps out of order (cool %d, cold %d, delete %d)", rel, cool, cold, del)
		}
	}
}
