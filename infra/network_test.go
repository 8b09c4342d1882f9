package infra

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The data services: every resource that holds recordings, state, the
// secret or the queue. Each must close with privateNetworking and get a
// private endpoint; a new one must be added here (and there).
var dataServices = map[string]string{
	"modules/storage.bicep hostAccount":       "Microsoft.Storage/storageAccounts",
	"modules/storage.bicep recordingsAccount": "Microsoft.Storage/storageAccounts",
	"modules/keyvault.bicep vault":            "Microsoft.KeyVault/vaults",
	"modules/servicebus.bicep namespace":      "Microsoft.ServiceBus/namespaces",
}

// Each data service's private endpoint: the module output main.bicep
// passes as its target, the sub-resource, and the zone it registers in.
var wantEndpoints = map[string]struct{ target, group, zone string }{
	"modules/storage.bicep hostAccount":       {"storage.outputs.hostAccountId", "blob", "privatelink.blob.${environment().suffixes.storage}"},
	"modules/storage.bicep recordingsAccount": {"storage.outputs.recordingsAccountId", "blob", "privatelink.blob.${environment().suffixes.storage}"},
	"modules/keyvault.bicep vault":            {"keyVault.outputs.id", "vault", "privatelink.vaultcore.azure.net"},
	"modules/servicebus.bicep namespace":      {"serviceBus.outputs.namespaceId", "namespace", "privatelink.servicebus.windows.net"},
}

// TestDataServicesAreListed: no data service escapes the checks below.
func TestDataServicesAreListed(t *testing.T) {
	kinds := map[string]bool{}
	for _, typ := range dataServices {
		kinds[typ] = true
	}
	var found []string
	for _, rel := range templates(t) {
		if strings.HasPrefix(rel, "testdata/") {
			continue
		}
		f := parseBicep(t, rel)
		for _, r := range f.decls("resource_declaration") {
			if !r.Existing && kinds[resourceType(r.TypeText)] {
				found = append(found, rel+" "+r.Name)
			}
		}
	}
	sort.Strings(found)
	want := slices.Sorted(func(yield func(string) bool) {
		for k := range dataServices {
			if !yield(k) {
				return
			}
		}
	})
	if !slices.Equal(found, want) {
		t.Errorf("data services declared: %v, checked: %v", found, want)
	}
}

func dataService(t *testing.T, key string, private bool) (deployment, decl) {
	t.Helper()
	rel, name, _ := strings.Cut(key, " ")
	d := deploy(t, rel, map[string]string{"privateNetworking": map[bool]string{true: "true", false: "false"}[private]})
	return d, d.f.decl(t, "resource_declaration", name)
}

// Finding: both storage accounts, Key Vault and Service Bus accepted traffic
// from the internet. With privateNetworking each one refuses it.
func TestPrivateNetworkingClosesEveryDataService(t *testing.T) {
	for key, typ := range dataServices {
		d, r := dataService(t, key, true)
		if v := d.scalar(t, r.Body, "properties", "publicNetworkAccess"); v != "Disabled" {
			t.Errorf("%s: publicNetworkAccess %s, want Disabled", key, v)
		}
		switch typ {
		case "Microsoft.Storage/storageAccounts", "Microsoft.KeyVault/vaults":
			if v := d.scalar(t, r.Body, "properties", "networkAcls", "defaultAction"); v != "Deny" {
				t.Errorf("%s: networkAcls.defaultAction %s, want Deny", key, v)
			}
		case "Microsoft.ServiceBus/namespaces":
			if v := d.scalar(t, r.Body, "sku", "name"); v != "Premium" {
				t.Errorf("%s: sku %s, want Premium (private endpoints are Premium only)", key, v)
			}
			rules := d.f.decl(t, "resource_declaration", "networkRules")
			if resourceType(rules.TypeText) != "Microsoft.ServiceBus/namespaces/networkRuleSets" || !d.deployed(t, rules) || textOf(path(rules.Body, "parent")) != "namespace" {
				t.Fatalf("%s: no network rule set of the namespace deployed", key)
			}
			for k, want := range map[string]string{"defaultAction": "Deny", "publicNetworkAccess": "Disabled"} {
				if v := d.scalar(t, rules.Body, "properties", k); v != want {
					t.Errorf("%s network rules: %s %s, want %s", key, k, v, want)
				}
			}
		}
	}
	// Storage lets no service through the firewall either.
	d, r := dataService(t, "modules/storage.bicep hostAccount", true)
	if v := d.scalar(t, r.Body, "properties", "networkAcls", "bypass"); v != "None" {
		t.Errorf("storage networkAcls.bypass %s, want None", v)
	}
}

// With privateNetworking off the deployment is what it was: public
// endpoints, no firewall, Service Bus Standard, no VNet, no endpoint.
func TestPrivateNetworkingOffIsUnchanged(t *testing.T) {
	for key, typ := range dataServices {
		d, r := dataService(t, key, false)
		if v := d.scalar(t, r.Body, "properties", "publicNetworkAccess"); v != "Enabled" {
			t.Errorf("%s: publicNetworkAccess %s, want Enabled", key, v)
		}
		if v := d.scalar(t, r.Body, "properties", "networkAcls"); v != "<unset>" && v != "null" {
			t.Errorf("%s: networkAcls %s, want none", key, v)
		}
		if typ == "Microsoft.ServiceBus/namespaces" {
			if v := d.scalar(t, r.Body, "sku", "name"); v != "Standard" {
				t.Errorf("%s: sku %s, want Standard", key, v)
			}
			for _, x := range d.f.decls("resource_declaration") {
				if x.Name != "namespace" && x.Name != "queue" && d.deployed(t, x) {
					t.Errorf("%s: %s is deployed without private networking", key, x.Name)
				}
			}
		}
	}
	main := deploy(t, "main.bicep", nil)
	if v := main.params["privateNetworking"]; v != "false" || main.f.decl(t, "parameter_declaration", "privateNetworking").TypeText != "bool" {
		t.Fatalf("main.bicep: privateNetworking must be a bool defaulting to false, got %q", v)
	}
	for _, m := range []string{"network", "privateEndpoints"} {
		if main.deployed(t, main.f.decl(t, "module_declaration", m)) {
			t.Errorf("main.bicep: module %s deployed without private networking", m)
		}
	}
	fn := main.f.decl(t, "module_declaration", "functionApp")
	if v := main.scalar(t, fn.Body, "params", "appSubnetId"); v != "" {
		t.Errorf("main.bicep: functionApp appSubnetId %q without private networking, want ''", v)
	}
	for _, plan := range []string{"FlexConsumption", "ElasticPremium"} {
		fa := deploy(t, "modules/functionapp.bicep", map[string]string{"hostingPlan": plan})
		app := fa.f.decl(t, "resource_declaration", "app")
		if v := fa.scalar(t, app.Body, "properties", "virtualNetworkSubnetId"); v != "null" {
			t.Errorf("%s: virtualNetworkSubnetId %s without a subnet, want null", plan, v)
		}
		for _, arg := range fa.get(app.Body, "properties", "siteConfig").named()[1].named() {
			if o := fa.pick(arg); o != nil && o.Kind == "object" && props(o)["vnetRouteAllEnabled"] != nil {
				t.Errorf("%s: VNet routing set without a subnet", plan)
			}
		}
	}
}

// One switch in main.bicep drives every module.
func TestPrivateNetworkingWiring(t *testing.T) {
	on := deploy(t, "main.bicep", map[string]string{"privateNetworking": "true"})
	for _, m := range []string{"storage", "keyVault", "serviceBus"} {
		p := path(on.f.decl(t, "module_declaration", m).Body, "params", "privateNetworking")
		if textOf(p) != "privateNetworking" {
			t.Errorf("main.bicep: module %s privateNetworking = %s, want privateNetworking", m, textOf(p))
		}
	}
	for m, file := range map[string]string{"network": "modules/network.bicep", "privateEndpoints": "modules/privateendpoints.bicep"} {
		x := on.f.decl(t, "module_declaration", m)
		if x.TypeText != file || !on.deployed(t, x) {
			t.Errorf("main.bicep: module %s (%s) not deployed with private networking", m, x.TypeText)
		}
	}
	fn := on.f.decl(t, "module_declaration", "functionApp")
	if v := on.get(fn.Body, "params", "appSubnetId"); textOf(v) != "network.outputs.appSubnetId" {
		t.Errorf("main.bicep: functionApp appSubnetId = %s, want network.outputs.appSubnetId", textOf(v))
	}
	if deps := path(fn.Body, "dependsOn"); deps == nil || !slices.Contains(identifiers(deps), "privateEndpoints") {
		t.Error("main.bicep: the function app must wait for the private endpoints (it reads its package and state through them)")
	}
	pe := path(on.f.decl(t, "module_declaration", "privateEndpoints").Body, "params")
	if v := textOf(path(pe, "subnetId")); v != "network.outputs.endpointsSubnetId" {
		t.Errorf("privateEndpoints subnetId = %s, want the endpoints subnet", v)
	}
	nw := path(on.f.decl(t, "module_declaration", "network").Body, "params")
	if v := textOf(path(nw, "hostingPlan")); v != "hostingPlan" {
		t.Errorf("network hostingPlan = %s, want hostingPlan (it picks the delegation)", v)
	}

	// Every data service has an endpoint, into the right zone.
	peFile := parseBicep(t, "modules/privateendpoints.bicep")
	network := parseBicep(t, "modules/network.bicep")
	zoneNames := network.decl(t, "variable_declaration", "zoneNames").Body.named()
	zoneOf := map[string]string{} // network output -> zone name
	for _, o := range network.decls("output_declaration") {
		var i int
		if _, err := fmt.Sscanf(o.Body.Text, "zones[%d].id", &i); err == nil && i < len(zoneNames) {
			zoneOf["network.outputs."+o.Name] = unquote(zoneNames[i])
		}
	}
	type endpoint struct{ target, group, zone string }
	var got []endpoint
	for _, e := range peFile.decl(t, "variable_declaration", "endpoints").Body.named() {
		target, zone := textOf(path(pe, unquote(path(e, "target")))), textOf(path(pe, unquote(path(e, "zone"))))
		got = append(got, endpoint{target, unquote(path(e, "group")), zoneOf[zone]})
	}
	for key, w := range wantEndpoints {
		if !slices.Contains(got, endpoint(w)) {
			t.Errorf("%s: no private endpoint %+v (endpoints: %+v)", key, w, got)
		}
	}
	if len(got) != len(wantEndpoints) {
		t.Errorf("%d private endpoints, want %d", len(got), len(wantEndpoints))
	}
	// The outputs passed are the data services' own ids.
	for key, w := range wantEndpoints {
		rel, name, _ := strings.Cut(key, " ")
		_, out, _ := strings.Cut(strings.TrimPrefix(w.target, strings.Split(w.target, ".")[0]+"."), "outputs.")
		o := parseBicep(t, rel).decl(t, "output_declaration", out)
		if o.Body.Text != name+".id" {
			t.Errorf("%s output %s = %s, want %s.id", rel, out, o.Body.Text, name)
		}
	}
	// Each endpoint registers in its zone; each zone is linked to the VNet.
	group := peFile.decl(t, "resource_declaration", "dnsGroup")
	if c := path(group.Body, "properties", "privateDnsZoneConfigs"); c == nil || textOf(path(c.named()[0], "properties", "privateDnsZoneId")) != "e.zone" || textOf(path(group.Body, "parent")) != "endpoint[i]" {
		t.Errorf("privateendpoints.bicep: each endpoint's zone group must name its zone, got %s", textOf(group.Body))
	}
	links := network.decl(t, "resource_declaration", "zoneLinks")
	if !links.Loop || textOf(path(links.Body, "properties", "virtualNetwork", "id")) != "vnet.id" || textOf(path(links.Body, "properties", "registrationEnabled")) != "false" || textOf(path(links.Body, "parent")) != "zones[i]" {
		t.Error("network.bicep: every zone must be linked to the VNet, without auto-registration")
	}
}

// Flex VNet integration: a subnet of its own, delegated as Flex requires,
// and the site's outbound traffic through it.
func TestAppSubnet(t *testing.T) {
	for plan, want := range map[string]string{"FlexConsumption": "Microsoft.App/environments", "ElasticPremium": "Microsoft.Web/serverFarms"} {
		d := deploy(t, "modules/network.bicep", map[string]string{"hostingPlan": plan})
		vnet := d.f.decl(t, "resource_declaration", "vnet")
		subnets := path(vnet.Body, "properties", "subnets").named()
		byName := map[string]*node{}
		for _, s := range subnets {
			name, _ := d.value(path(s, "name"))
			if strings.Contains(name, "_") {
				t.Errorf("subnet %q: Flex refuses '_' in subnet names", name)
			}
			byName[name] = s
		}
		app, endpoints := byName["app"], byName["endpoints"]
		if app == nil || endpoints == nil || len(subnets) != 2 {
			t.Fatalf("network.bicep: want subnets app and endpoints, got %d", len(subnets))
		}
		dl := path(app, "properties", "delegations")
		if dl == nil || len(dl.named()) != 1 {
			t.Fatalf("app subnet: want one delegation")
		}
		if v, _ := d.value(path(dl.named()[0], "properties", "serviceName")); v != want {
			t.Errorf("%s: app subnet delegated to %s, want %s", plan, v, want)
		}
		if path(endpoints, "properties", "delegations") != nil {
			t.Error("endpoints subnet: private endpoints need an undelegated subnet")
		}
		for _, o := range []string{"appSubnetId", "endpointsSubnetId"} {
			sub := strings.TrimSuffix(o, "SubnetId")
			if body := d.f.decl(t, "output_declaration", o).Body.Text; !strings.Contains(body, sub+"SubnetName") {
				t.Errorf("output %s = %s, want the %s subnet", o, body, sub)
			}
		}
	}
	fa := deploy(t, "modules/functionapp.bicep", map[string]string{"hostingPlan": "FlexConsumption", "appSubnetId": "/x/subnets/app"})
	if v := fa.scalar(t, fa.f.decl(t, "resource_declaration", "app").Body, "properties", "virtualNetworkSubnetId"); v != "/x/subnets/app" {
		t.Errorf("Flex: virtualNetworkSubnetId %s, want the app subnet", v)
	}
	ep := deploy(t, "modules/functionapp.bicep", map[string]string{"hostingPlan": "ElasticPremium", "appSubnetId": "/x/subnets/app"})
	var routed bool
	for _, arg := range ep.get(ep.f.decl(t, "resource_declaration", "app").Body, "properties", "siteConfig").named()[1].named() {
		if o := ep.pick(arg); o != nil && o.Kind == "object" && textOf(props(o)["vnetRouteAllEnabled"]) == "true" && textOf(props(o)["functionsRuntimeScaleMonitoringEnabled"]) == "true" {
			routed = true
		}
	}
	if !routed {
		t.Error("Elastic Premium in a VNet: want vnetRouteAllEnabled and runtime scale monitoring (the queue is private)")
	}
}

// The webhook (the HTTP trigger VCC posts to) stays reachable from the
// internet in both modes, guarded by its signature; no endpoint, rule or
// setting closes the app's inbound side.
func TestWebhookStaysPublic(t *testing.T) {
	for _, private := range []string{"false", "true"} {
		fa := deploy(t, "modules/functionapp.bicep", map[string]string{"appSubnetId": map[string]string{"true": "/x/subnets/app", "false": ""}[private]})
		app := fa.f.decl(t, "resource_declaration", "app")
		if v := fa.scalar(t, app.Body, "properties", "publicNetworkAccess"); v != "<unset>" && v != "Enabled" {
			t.Errorf("privateNetworking %s: the app's publicNetworkAccess is %s: VCC could not deliver webhooks", private, v)
		}
	}
	fa := parseBicep(t, "modules/functionapp.bicep")
	for _, k := range []string{"ipSecurityRestrictions", "ipSecurityRestrictionsDefaultAction", "publicNetworkAccess"} {
		if len(findProp(fa.Root, k)) > 0 {
			t.Errorf("functionapp.bicep sets %s: the webhook must stay reachable", k)
		}
	}
	main := parseBicep(t, "main.bicep")
	pe := path(main.decl(t, "module_declaration", "privateEndpoints").Body, "params")
	for _, v := range props(pe) {
		if strings.Contains(v.Text, "functionApp") {
			t.Errorf("main.bicep: a private endpoint for the app (%s): inbound must stay public", v.Text)
		}
	}
	readme, err := os.ReadFile(filepath.Join(infraDir(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Private networking", "`privateNetworking`", "webhook stays public", "signature", "Premium", "private endpoint", "privatelink.blob.core.windows.net", "privatelink.vaultcore.azure.net", "privatelink.servicebus.windows.net"} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("infra/README.md does not say %q", want)
		}
	}
}
