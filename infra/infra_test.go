package infra

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vcc-ingest/vcc-ingest/shared/config"
)

// The modules main.bicep must be composed of.
var wantModules = []string{
	"modules/monitoring.bicep",
	"modules/identity.bicep",
	"modules/storage.bicep",
	"modules/servicebus.bicep",
	"modules/keyvault.bicep",
	"modules/functionapp.bicep",
	"modules/roles.bicep",
	"modules/diagnostics.bicep",
	"modules/alerts.bicep",
	"modules/network.bicep",
	"modules/privateendpoints.bicep",
	"modules/tenantsalerts.bicep",
	"modules/cmk.bicep",
	"modules/workbook.bicep",
	"modules/eventgrid.bicep",
}

func TestEveryTemplateParses(t *testing.T) {
	files := bicepFiles(t)
	for _, want := range append([]string{"main.bicep", "main.bicepparam"}, wantModules...) {
		if !slices.Contains(files, want) {
			t.Errorf("infra/%s is missing", want)
		}
	}
	for _, rel := range files {
		t.Run(rel, func(t *testing.T) {
			f := parseBicep(t, rel)
			var bad []string
			f.Root.walk(func(n *node) {
				switch {
				case n.Error:
					bad = append(bad, pos(f, n)+": syntax error near "+firstLine(n.Text))
				case n.Missing:
					bad = append(bad, pos(f, n)+": missing "+n.Kind)
				}
			})
			for _, b := range bad {
				t.Error(b)
			}
			if len(f.Root.named()) == 0 {
				t.Errorf("%s: no statements", rel)
			}
		})
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 60 {
		s = s[:60]
	}
	return strconv.Quote(s)
}

// TestModuleWiring stands in for the compiler's own checks on what connects
// the files: every module exists and is used, every parameter passed is
// declared, every required one is passed, and every `x.outputs.y` exists.
func TestModuleWiring(t *testing.T) {
	main := parseBicep(t, "main.bicep")
	used := map[string]bool{}
	outputs := map[string]map[string]bool{} // module symbol -> outputs
	for _, m := range main.decls("module_declaration") {
		rel := filepath.ToSlash(filepath.Clean(m.TypeText))
		used[rel] = true
		mod := parseBicep(t, rel)
		checkParams(t, "main.bicep module "+m.Name, mod, props(path(m.Body, "params")))
		outputs[m.Name] = map[string]bool{}
		for _, o := range mod.decls("output_declaration") {
			outputs[m.Name][o.Name] = true
		}
	}
	for _, want := range wantModules {
		if !used[want] {
			t.Errorf("main.bicep does not use %s", want)
		}
	}
	main.Root.walk(func(n *node) {
		// <module>.outputs.<name> parses as member_expression(member_expression(id, outputs), name).
		if n.Kind != "member_expression" {
			return
		}
		k := n.named()
		if len(k) != 2 || k[0].Kind != "member_expression" {
			return
		}
		inner := k[0].named()
		if len(inner) != 2 || inner[1].Text != "outputs" {
			return
		}
		mod, out := inner[0].Text, k[1].Text
		if outs, ok := outputs[mod]; !ok {
			t.Errorf("%s: %s is not a module", pos(main, n), mod)
		} else if !outs[out] {
			t.Errorf("%s: module %s has no output %s", pos(main, n), mod, out)
		}
	})
	for _, rel := range bicepFiles(t) {
		if !strings.HasSuffix(rel, ".bicepparam") {
			continue
		}
		pf := parseBicep(t, rel)
		var using string
		for _, s := range pf.Root.named() {
			if s.Kind == "using_statement" {
				using = unquote(s.named()[0])
			}
		}
		target := filepath.ToSlash(filepath.Join(filepath.Dir(rel), using))
		if target != "main.bicep" {
			t.Errorf("%s: using %q, want the file main.bicep", rel, using)
			continue
		}
		given := map[string]*node{}
		for _, v := range pf.decls("variable_declaration") { // param lines, see paramLine
			given[v.Name] = v.Body
		}
		checkParams(t, rel, main, given)
	}
}

// checkParams: given ⊆ declared params of f, and required params ⊆ given.
func checkParams(t *testing.T, where string, f *bicepFile, given map[string]*node) {
	t.Helper()
	declared := map[string]bool{}
	for _, p := range f.decls("parameter_declaration") {
		declared[p.Name] = true
		if p.Body == nil && given[p.Name] == nil {
			t.Errorf("%s: required parameter %s of %s not given", where, p.Name, f.Path)
		}
	}
	for name := range given {
		if !declared[name] {
			t.Errorf("%s: %s declares no parameter %s", where, f.Path, name)
		}
	}
}

// settingsSample reads the app settings the code reads, from
// local.settings.sample.json (VCC_INGEST_SETTINGS_SAMPLE overrides the path).
func settingsSample(t *testing.T) map[string]string {
	t.Helper()
	p := os.Getenv("VCC_INGEST_SETTINGS_SAMPLE")
	if p == "" {
		p = filepath.Join(repoRoot(t), "local.settings.sample.json")
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("the settings list comes from local.settings.sample.json: %v", err)
	}
	var doc struct {
		Values map[string]string `json:"Values"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	if len(doc.Values) == 0 {
		t.Fatalf("%s: no Values", p)
	}
	return doc.Values
}

// Settings of local.settings.sample.json that must never be set in Azure.
var neverInAzure = map[string]string{
	"VCC_CLIENT_SECRET":            "the secret comes from Key Vault in Azure",
	"VCC_WEBHOOK_SECRET":           "the webhook secret comes from Key Vault in Azure",
	"RECORDINGS_CONNECTION_STRING": "local Azurite only; Azure uses RECORDINGS_ACCOUNT_URL and the identity",
	"AzureWebJobsStorage":          "a connection string; Azure uses AzureWebJobsStorage__accountName and the identity",
	"FUNCTIONS_CUSTOMHANDLER_PORT": "set by the Functions host",
	"VCC_TENANTS_FILE":             "local runs and operator commands; in Azure the tenants document lives in the state container",
}

// Settings the code reads that Azure may leave unset (they derive from others).
var optionalInAzure = map[string]bool{"VCC_TOKEN_URL": true, "VCC_API_URL": true,
	"VCC_MAX_RECORDING_BYTES": true, "VCC_READ_STALL": true, "VCC_EXTRA_HOSTS": true}

// Settings for the Functions host or platform, not the code.
var hostSettingNames = map[string]bool{
	"AzureWebJobsStorage__accountName":          true,
	"AzureWebJobsStorage__credential":           true,
	"AzureWebJobsStorage__clientId":             true,
	"ServiceBusConnection__credential":          true,
	"ServiceBusConnection__clientId":            true,
	"APPLICATIONINSIGHTS_CONNECTION_STRING":     true,
	"APPLICATIONINSIGHTS_AUTHENTICATION_STRING": true,
}

var premiumSettingNames = map[string]bool{
	"FUNCTIONS_EXTENSION_VERSION":                  true,
	"FUNCTIONS_WORKER_RUNTIME":                     true, // on Flex: functionAppConfig.runtime
	"WEBSITE_RUN_FROM_PACKAGE":                     true,
	"WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID": true,
}

func objectKeys(t *testing.T, f *bicepFile, varName string) map[string]*node {
	t.Helper()
	v := f.decl(t, "variable_declaration", varName)
	if v.Body.Kind != "object" {
		t.Fatalf("%s: var %s must be an object literal", pos(f, v.Node), varName)
	}
	return props(v.Body)
}

func TestAppSettingsAreExactlyWhatTheCodeReads(t *testing.T) {
	sample := settingsSample(t)
	fa := parseBicep(t, "modules/functionapp.bicep")
	product := objectKeys(t, fa, "productSettings")
	host := objectKeys(t, fa, "hostSettings")
	premium := objectKeys(t, fa, "premiumSettings")
	// Set only with a tenants document (tenantsBlobName): product settings
	// all the same.
	for name, n := range objectKeys(t, fa, "tenantsDocumentSettings") {
		if product[name] != nil {
			t.Errorf("%s is in productSettings and tenantsDocumentSettings", name)
		}
		product[name] = n
	}

	codeReads := map[string]bool{}
	for _, s := range config.Settings {
		codeReads[s.Name] = true
	}
	for name := range sample {
		_, never := neverInAzure[name]
		switch {
		case never, optionalInAzure[name], premiumSettingNames[name]:
		default:
			if product[name] == nil {
				t.Errorf("setting %s (local.settings.sample.json) is not set on the Function App (functionapp.bicep productSettings)", name)
			}
		}
	}
	for name := range product {
		if _, ok := sample[name]; !ok {
			t.Errorf("productSettings sets %s, which is not in local.settings.sample.json", name)
		}
		if !codeReads[name] {
			t.Errorf("productSettings sets %s, which shared/config does not read", name)
		}
	}
	for name := range host {
		if !hostSettingNames[name] {
			t.Errorf("hostSettings sets %s, which is not an identity-based host setting this design uses", name)
		}
	}
	for name := range premium {
		if !premiumSettingNames[name] {
			t.Errorf("premiumSettings sets %s, not an Elastic Premium platform setting", name)
		}
	}
	for _, m := range []map[string]*node{product, host, premium} {
		for name := range m {
			if why, bad := neverInAzure[name]; bad {
				t.Errorf("%s must not be set in Azure: %s", name, why)
			}
		}
	}
	if premium["FUNCTIONS_WORKER_RUNTIME"] == nil || unquote(premium["FUNCTIONS_WORKER_RUNTIME"]) != "custom" {
		t.Error("Elastic Premium needs FUNCTIONS_WORKER_RUNTIME=custom")
	}
	for _, name := range []string{"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION"} {
		if product[name] != nil || host[name] != nil {
			t.Errorf("%s is rejected on Flex Consumption; set it only in premiumSettings", name)
		}
	}
	// Identity-based connections use the one user-assigned identity.
	for _, name := range []string{"AzureWebJobsStorage__clientId", "ServiceBusConnection__clientId"} {
		if host[name] == nil || host[name].Text != "identityClientId" {
			t.Errorf("%s must be identityClientId", name)
		}
	}
	if product["AZURE_CLIENT_ID"] == nil || product["AZURE_CLIENT_ID"].Text != "identityClientId" {
		t.Error("AZURE_CLIENT_ID must be identityClientId")
	}
	for _, name := range []string{"AzureWebJobsStorage__credential", "ServiceBusConnection__credential"} {
		if v := unquote(host[name]); v != "managedidentity" {
			t.Errorf("%s = %q, want managedidentity", name, v)
		}
	}
	// The settings resource applies exactly these three variables.
	var found bool
	for _, r := range fa.decls("resource_declaration") {
		if resourceType(r.TypeText) == "Microsoft.Web/sites/config" && unquote(path(r.Body, "name")) == "appsettings" {
			found = true
			ids := identifiers(path(r.Body, "properties"))
			for _, want := range []string{"productSettings", "hostSettings", "premiumSettings"} {
				if !slices.Contains(ids, want) {
					t.Errorf("%s: appsettings properties do not use %s", pos(fa, r.Node), want)
				}
			}
		}
	}
	if !found {
		t.Error("functionapp.bicep has no Microsoft.Web/sites/config 'appsettings' resource")
	}
	for _, r := range fa.decls("resource_declaration") {
		if len(findProp(r.Body, "appSettings")) > 0 {
			t.Errorf("%s: settings must come only from the appsettings resource", pos(fa, r.Node))
		}
	}
}

// functionJSON reads functions/*/function.json.
func functionJSON(t *testing.T) map[string][]map[string]any {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "functions", "*", "function.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no functions/*/function.json (%v)", err)
	}
	out := map[string][]map[string]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Bindings []map[string]any `json:"bindings"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(filepath.Dir(f))] = doc.Bindings
	}
	return out
}

var percentSetting = regexp.MustCompile(`%([A-Za-z0-9_]+)%`)

func TestNamesAgreeWithCodeAndFunctionJSON(t *testing.T) {
	main := parseBicep(t, "main.bicep")
	fa := parseBicep(t, "modules/functionapp.bicep")
	product := objectKeys(t, fa, "productSettings")
	host := objectKeys(t, fa, "hostSettings")
	sample := settingsSample(t)

	for _, c := range []struct{ v, want, setting string }{
		{"queueName", config.DefaultQueue, "INTERACTIONS_QUEUE"},
		{"recordingsContainerName", config.DefaultContainer, "RECORDINGS_CONTAINER"},
		{"stateContainerName", config.DefaultStateContainer, "STATE_CONTAINER"},
		{"secretName", config.DefaultSecretName, "VCC_CLIENT_SECRET_NAME"},
		{"webhookSecretName", config.DefaultWebhookSecretName, "VCC_WEBHOOK_SECRET_NAME"},
	} {
		got := mustLiteral(t, "main.bicep var "+c.v, main.decl(t, "variable_declaration", c.v).Body)
		if got != c.want {
			t.Errorf("main.bicep %s = %q, code default is %q", c.v, got, c.want)
		}
		if s, ok := sample[c.setting]; ok && s != "" && s != c.want {
			t.Errorf("local.settings.sample.json %s = %q, templates use %q", c.setting, s, c.want)
		}
		if product[c.setting] == nil {
			t.Errorf("%s is not set on the Function App", c.setting)
		}
	}
	// The storage and servicebus modules create what main names.
	st := parseBicep(t, "modules/storage.bicep")
	var containers []string
	for _, r := range st.decls("resource_declaration") {
		if resourceType(r.TypeText) == "Microsoft.Storage/storageAccounts/blobServices/containers" {
			containers = append(containers, path(r.Body, "name").Text)
		}
	}
	sort.Strings(containers)
	if want := []string{"deploymentContainerName", "recordingsContainerName", "stateContainerName"}; !slices.Equal(containers, want) {
		t.Errorf("storage.bicep containers named from %v, want %v", containers, want)
	}

	// Every %SETTING% in function.json and every binding connection is set.
	for fn, bindings := range functionJSON(t) {
		for _, b := range bindings {
			for k, v := range b {
				s, _ := v.(string)
				for _, m := range percentSetting.FindAllStringSubmatch(s, -1) {
					if product[m[1]] == nil {
						t.Errorf("functions/%s/function.json %s uses %%%s%%, not set on the Function App", fn, k, m[1])
					}
				}
			}
			if conn, _ := b["connection"].(string); conn != "" {
				if product[conn+"__fullyQualifiedNamespace"] == nil || host[conn+"__credential"] == nil || host[conn+"__clientId"] == nil {
					t.Errorf("functions/%s/function.json connection %q needs %s__fullyQualifiedNamespace, __credential and __clientId", fn, conn, conn)
				}
			}
			if b["type"] == "serviceBusTrigger" && b["queueName"] != "%INTERACTIONS_QUEUE%" {
				t.Errorf("functions/%s/function.json queueName = %v, want %%INTERACTIONS_QUEUE%%", fn, b["queueName"])
			}
		}
	}
	if got := product["INTERACTIONS_QUEUE"]; got == nil || got.Text != "queueName" {
		t.Error("INTERACTIONS_QUEUE must be the queue the servicebus module creates (param queueName)")
	}
}

func TestQueueSemantics(t *testing.T) {
	sb := parseBicep(t, "modules/servicebus.bicep")
	fa := parseBicep(t, "modules/functionapp.bicep")
	product := objectKeys(t, fa, "productSettings")
	var ns, q *decl
	for _, r := range sb.decls("resource_declaration") {
		switch resourceType(r.TypeText) {
		case "Microsoft.ServiceBus/namespaces":
			ns = &r
		case "Microsoft.ServiceBus/namespaces/queues":
			q = &r
		}
	}
	if ns == nil || q == nil {
		t.Fatal("servicebus.bicep must declare a namespace and a queue")
	}
	// Duplicate detection needs Standard or Premium; private endpoints need
	// Premium, so the SKU follows privateNetworking.
	for private, want := range map[string]string{"false": "Standard", "true": "Premium"} {
		d := deploy(t, "modules/servicebus.bicep", map[string]string{"privateNetworking": private})
		if v := d.scalar(t, ns.Body, "sku", "name"); v != want || d.scalar(t, ns.Body, "sku", "tier") != want {
			t.Errorf("privateNetworking %s: namespace sku %q, want %s", private, v, want)
		}
	}
	if v := mustLiteral(t, "disableLocalAuth", path(ns.Body, "properties", "disableLocalAuth")); v != "true" {
		t.Errorf("disableLocalAuth = %s, want true", v)
	}
	p := path(q.Body, "properties")
	want := map[string]string{
		"lockDuration":                     "PT5M",
		"maxDeliveryCount":                 "10",
		"requiresDuplicateDetection":       "true",
		"deadLetteringOnMessageExpiration": "true",
	}
	for k, w := range want {
		if got := mustLiteral(t, "queue "+k, props(p)[k]); got != w {
			t.Errorf("queue %s = %q, want %q", k, got, w)
		}
	}
	maxDelivery := mustLiteral(t, "queue maxDeliveryCount", props(p)["maxDeliveryCount"])
	if got := mustLiteral(t, "INGEST_MAX_ATTEMPTS", product["INGEST_MAX_ATTEMPTS"]); got != maxDelivery {
		t.Errorf("INGEST_MAX_ATTEMPTS = %s but queue maxDeliveryCount = %s", got, maxDelivery)
	}
	if atoi(t, "maxDeliveryCount", maxDelivery) != config.DefaultMaxAttempts {
		t.Errorf("maxDeliveryCount %s differs from the code's default %d", maxDelivery, config.DefaultMaxAttempts)
	}
	window := isoDuration(t, mustLiteral(t, "duplicateDetectionHistoryTimeWindow", props(p)["duplicateDetectionHistoryTimeWindow"]))
	overlap, err := time.ParseDuration(mustLiteral(t, "DISCOVER_OVERLAP", product["DISCOVER_OVERLAP"]))
	if err != nil {
		t.Fatal(err)
	}
	lookback, err := time.ParseDuration(mustLiteral(t, "DISCOVER_LOOKBACK", product["DISCOVER_LOOKBACK"]))
	if err != nil {
		t.Fatal(err)
	}
	// A re-listed interaction is re-sent at most overlap + one schedule
	// interval (<= 1h) after its first send; the first run lists lookback.
	if window <= overlap+time.Hour || window < lookback {
		t.Errorf("duplicate detection window %v must exceed DISCOVER_OVERLAP %v plus a run interval, and cover DISCOVER_LOOKBACK %v", window, overlap, lookback)
	}
	if window > 7*24*time.Hour {
		t.Errorf("duplicate detection window %v exceeds the Service Bus maximum of 7 days", window)
	}
}

// isoDuration parses the ISO 8601 durations the templates use (PnDTnHnMnS).
func isoDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	m := regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`).FindStringSubmatch(s)
	if m == nil || s == "P" || s == "PT" {
		t.Fatalf("%q is not an ISO 8601 duration", s)
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second} {
		if m[i+1] != "" {
			d += time.Duration(atoi(t, s, m[i+1])) * unit
		}
	}
	return d
}

// Built-in role definition ids (azure-functions.md) and the forbidden ones.
var builtinRoles = map[string]string{
	"69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": "Azure Service Bus Data Sender",
	"4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": "Azure Service Bus Data Receiver",
	"ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
	"b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
	"4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
	"3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
	"e147488a-f6f5-4113-8e2d-b22465e65bf6": "Key Vault Crypto Service Encryption User",
}

var forbiddenRoles = map[string]string{
	"8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
	"b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
	"18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
	"090c5cfd-751d-490a-894a-3ce6f1109419": "Azure Service Bus Data Owner",
	"17d1049b-9a84-46fb-8f53-869881c3d3ab": "Storage Account Contributor",
	"00482a5a-887f-4fb3-b363-3b7fe8e74483": "Key Vault Administrator",
}

const tagWriter = "custom: blobs/tags/write"

// The least-privilege set: role -> resource type of its scope, one line per
// assignment (the two container roles appear twice).
var wantAssignments = []string{
	"Azure Service Bus Data Receiver @ Microsoft.ServiceBus/namespaces/queues",
	"Azure Service Bus Data Sender @ Microsoft.ServiceBus/namespaces/queues",
	"Key Vault Secrets User @ Microsoft.KeyVault/vaults/secrets",
	"Key Vault Secrets User @ Microsoft.KeyVault/vaults/secrets", // the webhook secret
	"Key Vault Secrets User @ Microsoft.KeyVault/vaults/secrets", // each tenant's secret (a loop)
	"Monitoring Metrics Publisher @ Microsoft.Insights/components",
	"Storage Blob Data Contributor @ Microsoft.Storage/storageAccounts/blobServices/containers",
	"Storage Blob Data Contributor @ Microsoft.Storage/storageAccounts/blobServices/containers",
	"Storage Blob Data Owner @ Microsoft.Storage/storageAccounts",
	tagWriter + " @ Microsoft.Storage/storageAccounts/blobServices/containers",
	// The recordings account's customer-managed key, to its own identity (cmk.bicep).
	"Key Vault Crypto Service Encryption User @ Microsoft.KeyVault/vaults/keys",
}

var guidRe = regexp.MustCompile(`(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

func TestRoleAssignmentsAreLeastPrivilege(t *testing.T) {
	var got []string
	scopes := map[string][]string{} // role -> scope symbol names
	for _, rel := range bicepFiles(t) {
		f := parseBicep(t, rel)
		// Any forbidden role id anywhere in the file, assigned or not.
		f.Root.walk(func(n *node) {
			if n.Kind == "string" {
				for _, id := range guidRe.FindAllString(n.Text, -1) {
					if name, bad := forbiddenRoles[strings.ToLower(id)]; bad {
						t.Errorf("%s: role %s (%s) must not appear", pos(f, n), name, id)
					}
				}
			}
		})
		vars := map[string]string{}
		for _, v := range f.decls("variable_declaration") {
			if s, ok := literal(v.Body); ok {
				vars[v.Name] = s
			}
		}
		resources := map[string]decl{}
		for _, r := range f.decls("resource_declaration") {
			resources[r.Name] = r
		}
		for _, r := range f.decls("resource_declaration") {
			switch resourceType(r.TypeText) {
			case "Microsoft.Authorization/roleDefinitions":
				checkCustomRole(t, f, r)
				continue
			case "Microsoft.Authorization/roleAssignments":
			default:
				continue
			}
			where := pos(f, r.Node) + " " + r.Name
			p := path(r.Body, "properties")
			// The one assignment to another identity than the app's:
			// the downstream notice's Event Grid topic, sending to its
			// own queue, checked by TestDownstreamNotice.
			if pid := props(p)["principalId"]; rel == "modules/eventgrid.bicep" && pid != nil && pid.Text == "topic.identity.principalId" {
				continue
			}
			// cmk.bicep's one assignment must exist before the recordings
			// account, which roles.bicep follows.
			if rel != "modules/roles.bicep" && (rel != "modules/cmk.bicep" || r.Name != "keyUser") {
				t.Errorf("%s: role assignments belong in modules/roles.bicep", where)
			}
			// The one assignment not to the app: the Elastic Premium
			// deployer's, checked by TestDeployerCanUploadPackage.
			if pid := props(p)["principalId"]; pid != nil && pid.Text == "deployerPrincipalId" {
				continue
			}
			if v, _ := literal(props(p)["principalType"]); v != "ServicePrincipal" {
				t.Errorf("%s: principalType must be ServicePrincipal (the app's identity only)", where)
			}
			if n := path(r.Body, "name"); n == nil || !strings.HasPrefix(n.Text, "guid(") {
				t.Errorf("%s: name must be a deterministic guid(...)", where)
			}
			// Role.
			role := ""
			def := props(p)["roleDefinitionId"]
			if def == nil {
				t.Errorf("%s: no roleDefinitionId", where)
				continue
			}
			for _, id := range identifiers(def) {
				if v, ok := vars[id]; ok {
					if name, ok := builtinRoles[strings.ToLower(v)]; ok {
						role = name
					} else if name, bad := forbiddenRoles[strings.ToLower(v)]; bad {
						role = "FORBIDDEN " + name
					} else if guidRe.MatchString(v) {
						role = "unknown role " + v
					}
				}
				if d, ok := resources[id]; ok && resourceType(d.TypeText) == "Microsoft.Authorization/roleDefinitions" {
					role = tagWriter
				}
			}
			for _, id := range guidRe.FindAllString(def.Text, -1) { // inline ids
				if name, ok := builtinRoles[strings.ToLower(id)]; ok {
					role = name
				} else {
					role = "unknown role " + id
				}
			}
			if role == "" {
				t.Errorf("%s: cannot resolve roleDefinitionId %s", where, def.Text)
				continue
			}
			// Scope: must be a resource symbol, never the deployment's resource group.
			sc := path(r.Body, "scope")
			if sc == nil {
				t.Errorf("%s: no scope: the assignment would apply to the whole resource group", where)
				continue
			}
			target, ok := resources[sc.Text]
			if base, _, indexed := strings.Cut(sc.Text, "["); indexed && r.Loop {
				// A loop's assignment scoped to the same item of a looped
				// resource (tenantSecrets[i]).
				if t, isLoop := resources[base]; isLoop && t.Loop && strings.HasSuffix(sc.Text, "]") {
					target, ok = t, true
				}
			} else if sc.Kind != "identifier" {
				ok = false
			}
			if !ok {
				t.Errorf("%s: scope %s is not a resource of this file (resource group or subscription scope is not allowed)", where, sc.Text)
				continue
			}
			typ := resourceType(target.TypeText)
			got = append(got, role+" @ "+typ)
			scopes[role] = append(scopes[role], sc.Text)
			if (r.Name == "secretReader" || r.Name == "webhookSecretReader") && r.Cond == nil {
				t.Errorf("%s: the secret assignment must be conditional on the secret existing", where)
			}
		}
	}
	sort.Strings(got)
	want := slices.Clone(wantAssignments)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("role assignments:\n got  %q\n want %q", got, want)
	}
	// Contributor goes to two different containers, one each.
	c := scopes["Storage Blob Data Contributor"]
	sort.Strings(c)
	if !slices.Equal(c, []string{"recordingsContainer", "stateContainer"}) {
		t.Errorf("Storage Blob Data Contributor scopes %v, want recordingsContainer and stateContainer", c)
	}
	if s := scopes[tagWriter]; !slices.Equal(s, []string{"recordingsContainer"}) {
		t.Errorf("tag writer scopes %v, want recordingsContainer", s)
	}
	if s := scopes["Storage Blob Data Owner"]; !slices.Equal(s, []string{"hostAccount"}) {
		t.Errorf("Storage Blob Data Owner scopes %v, want only the host account", s)
	}
	// The scoped symbols point at the right accounts.
	roles := parseBicep(t, "modules/roles.bicep")
	for sym, param := range map[string]string{"hostAccount": "hostStorageAccountName", "recordingsAccount": "recordingsStorageAccountName"} {
		if n := path(roles.decl(t, "resource_declaration", sym).Body, "name"); n == nil || n.Text != param {
			t.Errorf("roles.bicep %s must be named by %s", sym, param)
		}
	}
	for sym, parent := range map[string]string{"recordingsContainer": "recordingsBlob", "stateContainer": "recordingsBlob", "recordingsBlob": "recordingsAccount", "secret": "vault", "queue": "namespace"} {
		if n := path(roles.decl(t, "resource_declaration", sym).Body, "parent"); n == nil || n.Text != parent {
			t.Errorf("roles.bicep %s must have parent %s", sym, parent)
		}
	}
}

// Finding: on Elastic Premium with shared keys off, deploy.sh uploads the
// package with --auth-mode login, which needs a data-plane role that nothing
// granted. The deployer gets Storage Blob Data Contributor on the package
// container only, and only on Elastic Premium.
func TestDeployerCanUploadPackage(t *testing.T) {
	roles := parseBicep(t, "modules/roles.bicep")
	var found []decl
	for _, r := range roles.decls("resource_declaration") {
		if resourceType(r.TypeText) != "Microsoft.Authorization/roleAssignments" {
			continue
		}
		if pid := path(r.Body, "properties", "principalId"); pid != nil && pid.Text == "deployerPrincipalId" {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("roles.bicep: want exactly one role assignment to deployerPrincipalId, got %d", len(found))
	}
	r := found[0]
	where := pos(roles, r.Node) + " " + r.Name
	if r.Cond == nil || !strings.Contains(r.Cond.Text, "deployerPrincipalId") {
		t.Errorf("%s: must be conditional on a deployer being given", where)
	}
	if sc := path(r.Body, "scope"); sc == nil || sc.Text != "deploymentContainer" {
		t.Errorf("%s: scope must be deploymentContainer (the package container), got %s", where, textOf(sc))
	}
	def := path(r.Body, "properties", "roleDefinitionId")
	if def == nil || !slices.Contains(identifiers(def), "storageBlobDataContributor") {
		t.Errorf("%s: role must be Storage Blob Data Contributor", where)
	}
	if pt := path(r.Body, "properties", "principalType"); pt == nil || pt.Text != "deployerPrincipalType" {
		t.Errorf("%s: principalType must be deployerPrincipalType", where)
	}
	c := roles.decl(t, "resource_declaration", "deploymentContainer")
	if n := path(c.Body, "parent"); n == nil || n.Text != "hostBlob" {
		t.Error("roles.bicep deploymentContainer must be in the host account's blob service")
	}
	if n := path(roles.decl(t, "resource_declaration", "hostBlob").Body, "parent"); n == nil || n.Text != "hostAccount" {
		t.Error("roles.bicep hostBlob must be the host account's")
	}
	main := parseBicep(t, "main.bicep")
	pass := props(path(main.decl(t, "module_declaration", "roles").Body, "params"))["deployerPrincipalId"]
	if pass == nil || pass.Kind != "ternary_expression" || !strings.Contains(pass.named()[0].Text, "'ElasticPremium'") || pass.named()[1].Text != "deployerPrincipalId" || unquote(pass.named()[2]) != "" {
		t.Errorf("main.bicep must pass deployerPrincipalId to roles only on Elastic Premium, got %s", textOf(pass))
	}
}

// checkCustomRole: the only custom role grants exactly blob tag writes.
func checkCustomRole(t *testing.T, f *bicepFile, r decl) {
	t.Helper()
	where := pos(f, r.Node) + " " + r.Name
	perms := path(r.Body, "properties", "permissions")
	if perms == nil || perms.Kind != "array" || len(perms.named()) != 1 {
		t.Errorf("%s: want exactly one permissions entry", where)
		return
	}
	p := props(perms.named()[0])
	for _, k := range []string{"actions", "notActions", "notDataActions"} {
		if v := p[k]; v == nil || len(v.named()) != 0 {
			t.Errorf("%s: %s must be empty", where, k)
		}
	}
	da := p["dataActions"]
	if da == nil || len(da.named()) != 1 || unquote(da.named()[0]) != "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/tags/write" {
		t.Errorf("%s: dataActions must be exactly blobs/tags/write", where)
	}
	scopes := path(r.Body, "properties", "assignableScopes")
	// Compared as text: inside an array the grammar splits a call from its
	// member access (elements are whitespace-separated).
	if scopes == nil || strings.Join(strings.Fields(scopes.Text), "") != "[resourceGroup().id]" {
		t.Errorf("%s: assignableScopes must be [resourceGroup().id]", where)
	}
}

func TestSecurityProperties(t *testing.T) {
	type check struct {
		path []string
		want string
	}
	byType := map[string][]check{
		"Microsoft.Storage/storageAccounts": {
			{[]string{"properties", "allowSharedKeyAccess"}, "false"},
			{[]string{"properties", "minimumTlsVersion"}, "TLS1_2"},
			{[]string{"properties", "supportsHttpsTrafficOnly"}, "true"},
			{[]string{"properties", "allowBlobPublicAccess"}, "false"},
		},
		"Microsoft.Storage/storageAccounts/blobServices/containers": {
			{[]string{"properties", "publicAccess"}, "None"},
		},
		"Microsoft.ServiceBus/namespaces": {
			{[]string{"properties", "disableLocalAuth"}, "true"},
		},
		"Microsoft.KeyVault/vaults": {
			{[]string{"properties", "enableRbacAuthorization"}, "true"},
			{[]string{"properties", "enableSoftDelete"}, "true"},
			{[]string{"properties", "enablePurgeProtection"}, "true"},
		},
		"Microsoft.Web/sites": {
			{[]string{"properties", "httpsOnly"}, "true"},
		},
		"Microsoft.Web/sites/basicPublishingCredentialsPolicies": {
			{[]string{"properties", "allow"}, "false"},
		},
		"Microsoft.Insights/components": {
			{[]string{"properties", "DisableLocalAuth"}, "true"},
		},
	}
	seen := map[string]int{}
	for _, rel := range bicepFiles(t) {
		if strings.HasSuffix(rel, ".bicepparam") {
			continue
		}
		f := parseBicep(t, rel)
		for _, r := range f.decls("resource_declaration") {
			typ := resourceType(r.TypeText)
			if r.Existing {
				continue
			}
			if typ == "Microsoft.KeyVault/vaults/secrets" {
				t.Errorf("%s: the VCC secret is set by the operator, never by a template", pos(f, r.Node))
			}
			for _, c := range byType[typ] {
				seen[typ]++
				n := path(r.Body, c.path...)
				if got, ok := literal(n); !ok || got != c.want {
					t.Errorf("%s %s: %s = %v, want %s", pos(f, r.Node), r.Name, strings.Join(c.path, "."), textOf(n), c.want)
				}
			}
		}
		for _, p := range f.decls("parameter_declaration") {
			if lower := strings.ToLower(p.Name); strings.Contains(lower, "secret") && !strings.HasSuffix(lower, "name") && !strings.HasSuffix(lower, "names") && p.TypeText != "bool" {
				t.Errorf("%s: parameter %s: the VCC secret must not be a template parameter", pos(f, p.Node), p.Name)
			}
		}
	}
	for typ := range byType {
		if seen[typ] == 0 {
			t.Errorf("no %s resource found to check", typ)
		}
	}
	fa := parseBicep(t, "modules/functionapp.bicep")
	for key, want := range map[string]string{"ftpsState": "Disabled", "minTlsVersion": "1.2", "scmMinTlsVersion": "1.2", "remoteDebuggingEnabled": "false"} {
		vals := findProp(fa.Root, key)
		if len(vals) == 0 {
			t.Errorf("functionapp.bicep sets no %s", key)
		}
		for _, v := range vals {
			if got, _ := literal(v); got != want {
				t.Errorf("%s: %s = %s, want %s", pos(fa, v), key, v.Text, want)
			}
		}
	}
	app := fa.decl(t, "resource_declaration", "app")
	if v := unquote(path(app.Body, "identity", "type")); v != "UserAssigned" {
		t.Errorf("app identity type %q, want UserAssigned", v)
	}
	if v := unquote(path(app.Body, "kind")); !strings.Contains(v, "linux") {
		t.Errorf("app kind %q, want a Linux function app", v)
	}
	// Flex deployment storage is read with the user-assigned identity.
	auth := findProp(fa.Root, "authentication")
	if len(auth) != 1 || unquote(path(auth[0], "type")) != "UserAssignedIdentity" {
		t.Error("Flex deployment storage must authenticate with the user-assigned identity")
	}
}

func textOf(n *node) string {
	if n == nil {
		return "<unset>"
	}
	return n.Text
}

// No account keys, SAS keys or connection strings with secrets anywhere.
func TestNoKeysAnywhere(t *testing.T) {
	forbidden := regexp.MustCompile(`(?i)listKeys\(|listConnectionStrings\(|listAccountSas\(|listServiceSas\(|AccountKey=|SharedAccessKey|WEBSITE_CONTENTAZUREFILECONNECTIONSTRING|authorizationRules`)
	dir := infraDir(t)
	var checked int
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "local" || d.Name() == "testdata") {
			return filepath.SkipDir // local/: Azurite's npm packages; testdata/: Azure's type definitions
		}
		ext := filepath.Ext(p)
		if d.IsDir() || (ext != ".bicep" && ext != ".bicepparam" && ext != ".sh" && ext != ".json") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		checked++
		for i, line := range strings.Split(string(data), "\n") {
			if m := forbidden.FindString(line); m != "" {
				rel, _ := filepath.Rel(dir, p)
				t.Errorf("%s:%d: %q: identity-based access only", rel, i+1, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < len(wantModules)+2 {
		t.Errorf("only %d files checked", checked)
	}
}

// TestRateBudgetIsTheAccountsWhole: every process books its VCC calls in
// the account's one shared budget (shared/budget), so the app is given the
// whole budget; nothing divides it among instances, whose number the
// platform changes at will.
func TestRateBudgetIsTheAccountsWhole(t *testing.T) {
	main := parseBicep(t, "main.bicep")
	fa := parseBicep(t, "modules/functionapp.bicep")

	fnApp := main.decl(t, "module_declaration", "functionApp")
	params := props(path(fnApp.Body, "params"))
	if params["vccRatePerMinute"] == nil || params["vccRatePerMinute"].Text != "vccRateBudgetPerMinute" {
		t.Error("main.bicep must pass vccRateBudgetPerMinute, the whole budget, as the functionApp module's vccRatePerMinute")
	}
	product := objectKeys(t, fa, "productSettings")
	if v := product["VCC_RATE_PER_MINUTE"]; v == nil || !slices.Contains(identifiers(v), "vccRatePerMinute") {
		t.Error("VCC_RATE_PER_MINUTE must come from the vccRatePerMinute parameter")
	}
	divided := []string{"vccProcesses", "vccRatePerInstance", "vccRateShares"}
	for _, kind := range []string{"variable_declaration", "output_declaration", "parameter_declaration"} {
		for _, d := range append(main.decls(kind), fa.decls(kind)...) {
			if slices.Contains(divided, d.Name) {
				t.Errorf("%s %s: the budget is not divided among processes", kind, d.Name)
			}
		}
	}
	for _, settings := range []string{"productSettings", "tenantsDocumentSettings"} {
		if objectKeys(t, fa, settings)["VCC_RATE_SHARES"] != nil {
			t.Errorf("%s: VCC_RATE_SHARES is read by nothing", settings)
		}
	}
	if params["maxInstances"] == nil || params["maxInstances"].Text != "maxInstances" {
		t.Error("main.bicep must pass maxInstances to the functionApp module")
	}
	for _, key := range []string{"maximumInstanceCount", "maximumElasticWorkerCount", "functionAppScaleLimit"} {
		vals := findProp(fa.Root, key)
		if len(vals) != 1 || vals[0].Text != "maxInstances" {
			t.Errorf("functionapp.bicep %s must be maxInstances", key)
		}
	}
}
