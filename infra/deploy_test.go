package infra

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dryRun runs deploy.sh --dry-run with Azure's answers in env and returns
// the commands it printed (stdout), its messages (stderr) and whether it
// went through.
func dryRun(t *testing.T, params string, env ...string) (cmds []string, msgs string, ok bool) {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	cmd := exec.Command("bash", filepath.Join(infraDir(t), "deploy.sh"), "--dry-run", "rg-vcc", params)
	// No az and no go on PATH: a dry run must not need them.
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, isExit := err.(*exec.ExitError); err != nil && !isExit {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if l != "" {
			cmds = append(cmds, l)
		}
	}
	return cmds, stderr.String(), err == nil
}

// premiumParams writes a parameter file for Elastic Premium.
func premiumParams(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "premium.bicepparam")
	src := "using '" + filepath.Join(infraDir(t), "main.bicep") + "'\n\nparam vccClientId = 'x'\nparam hostingPlan = 'ElasticPremium'\nparam maxInstances = 2\n"
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func index(cmds []string, re string) int {
	r := regexp.MustCompile(re)
	return slices.IndexFunc(cmds, r.MatchString)
}

const deployCreate = `^az deployment group create `

// flexParams writes a Flex Consumption parameter file capped at maxInstances.
func flexParams(t *testing.T, maxInstances string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "flex.bicepparam")
	src := "using '" + filepath.Join(infraDir(t), "main.bicep") + "'\n\nparam vccClientId = 'x'\nparam hostingPlan = 'FlexConsumption'\nparam maxInstances = " + maxInstances + "\n"
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Finding: Flex accepts a maximumInstanceCount below 40 only in some
// regions. deploy.sh asks Azure first and stops, with the alternatives,
// where a cap below the region's lowest would be refused.
func TestDeployPreflightFlexInstanceCap(t *testing.T) {
	for _, params := range []string{flexParams(t, "1"), flexParams(t, "4")} {
		t.Run(filepath.Base(params), func(t *testing.T) {
			cmds, msgs, ok := dryRun(t, params, "DRY_RUN_FLEX_RUNTIMES=1.0 40 1000")
			if ok || index(cmds, deployCreate) >= 0 {
				t.Fatalf("region allowing 40+ only: deploy.sh went on to deploy\n%s", strings.Join(cmds, "\n"))
			}
			for _, want := range []string{"accepts maximumInstanceCount from 40", "maxInstances >= 40", "another region", "ElasticPremium"} {
				if !strings.Contains(msgs, want) {
					t.Errorf("message lacks %q:\n%s", want, msgs)
				}
			}
			q := index(cmds, `^az functionapp list-flexconsumption-runtimes -l westeurope --runtime custom `)
			if q < 0 {
				t.Errorf("Azure was not asked what the region allows:\n%s", strings.Join(cmds, "\n"))
			}

			cmds, msgs, ok = dryRun(t, params, "DRY_RUN_FLEX_RUNTIMES=1.0 1 1000")
			if !ok {
				t.Fatalf("region allowing 1+: deploy.sh stopped: %s", msgs)
			}
			q, d := index(cmds, `^az functionapp list-flexconsumption-runtimes `), index(cmds, deployCreate)
			if q < 0 || d < 0 || q > d {
				t.Errorf("the region check must come before the deployment:\n%s", strings.Join(cmds, "\n"))
			}
			if index(cmds, `^az functionapp deployment source config-zip `) < d {
				t.Errorf("Flex publishes with config-zip after the deployment:\n%s", strings.Join(cmds, "\n"))
			}
		})
	}
	if _, msgs, ok := dryRun(t, "infra/main.bicepparam", "DRY_RUN_FLEX_RUNTIMES="); ok || !strings.Contains(msgs, "offers no custom handler runtime") {
		t.Errorf("a region without the custom runtime must stop the deployment: %s", msgs)
	}
	if _, msgs, ok := dryRun(t, "infra/main.bicepparam", "DRY_RUN_FLEX_RUNTIMES=2.0 1 1000"); ok || !strings.Contains(msgs, "no custom runtime version 1.0") {
		t.Errorf("a missing runtime version must stop the deployment: %s", msgs)
	}
	// The template's bound lets 40 through, so the "maxInstances >= 40"
	// alternative can be taken.
	for _, rel := range []string{"main.bicep", "modules/functionapp.bicep"} {
		f := parseBicep(t, rel)
		if max := decorator(f, f.decl(t, "parameter_declaration", "maxInstances"), "maxValue"); max == "" || atoi(t, rel, max) < 40 {
			t.Errorf("%s: maxInstances @maxValue(%s) makes 40, the lowest cap most Flex regions accept, impossible", rel, max)
		}
	}
}

// The shipped parameter files deploy in every Flex region: the budget is
// shared, so nothing asks for a cap below the 40 that all regions accept.
func TestShippedParametersDeployInEveryFlexRegion(t *testing.T) {
	for _, params := range []string{"infra/env/dev.bicepparam", "infra/env/prod.bicepparam", "infra/main.bicepparam"} {
		t.Run(params, func(t *testing.T) {
			cmds, msgs, ok := dryRun(t, params, "DRY_RUN_FLEX_RUNTIMES=1.0 40 1000")
			if !ok || index(cmds, deployCreate) < 0 {
				t.Fatalf("a region accepting 40 to 1000: deploy.sh stopped: %s", msgs)
			}
		})
	}
}

// decorator returns the first argument of @name(...) on a declaration.
func decorator(f *bicepFile, d decl, name string) string {
	top := f.Root.named()
	i := slices.Index(top, d.Node)
	if i <= 0 || top[i-1].Kind != "decorators" {
		return ""
	}
	for _, dec := range top[i-1].named() {
		if c := dec.named(); len(c) == 1 && c[0].Kind == "call_expression" {
			if parts := c[0].named(); len(parts) == 2 && parts[0].Text == name && len(parts[1].named()) > 0 {
				return parts[1].named()[0].Text
			}
		}
	}
	return ""
}

// Finding: on Elastic Premium the deployer needs a data-plane role to upload
// the package, and the triggers must be synced after each publish.
func TestDeployElasticPremium(t *testing.T) {
	cmds, msgs, ok := dryRun(t, premiumParams(t), "DRY_RUN_FLEX_RUNTIMES=")
	if !ok {
		t.Fatalf("deploy.sh stopped: %s", msgs)
	}
	all := strings.Join(cmds, "\n")
	if index(cmds, `list-flexconsumption-runtimes`) >= 0 {
		t.Errorf("the Flex region check does not apply to Elastic Premium:\n%s", all)
	}
	d := index(cmds, deployCreate+`.*--parameters deployerPrincipalId=\S+ deployerPrincipalType=User`)
	u := index(cmds, `^az storage blob upload --auth-mode login .*--name app\.zip`)
	r := index(cmds, `^az functionapp restart `)
	s := index(cmds, `^az rest --method post --url \S*/syncfunctiontriggers\S*api-version=`)
	if d < 0 || u < d || r < u || s < r {
		t.Errorf("want: deploy granting the deployer upload rights, upload, restart, then sync triggers; got\n%s", all)
	}
	if index(cmds, `config-zip`) >= 0 {
		t.Errorf("config-zip is the Flex path:\n%s", all)
	}
	cmds, _, _ = dryRun(t, premiumParams(t), "DEPLOYER_PRINCIPAL_ID=11111111-2222-3333-4444-555555555555", "DEPLOYER_PRINCIPAL_TYPE=ServicePrincipal")
	if index(cmds, deployCreate+`.*deployerPrincipalId=11111111-2222-3333-4444-555555555555 deployerPrincipalType=ServicePrincipal`) < 0 {
		t.Errorf("DEPLOYER_PRINCIPAL_ID is not passed:\n%s", strings.Join(cmds, "\n"))
	}
	// Flex: no deployer grant (the platform uploads).
	cmds, _, _ = dryRun(t, "infra/main.bicepparam")
	if index(cmds, `deployerPrincipalId`) >= 0 || index(cmds, `syncfunctiontriggers`) >= 0 {
		t.Errorf("Flex needs neither the deployer grant nor a trigger sync:\n%s", strings.Join(cmds, "\n"))
	}
}

// Finding: Role Based Access Control Administrator cannot create the custom
// role definition; Owner, or Contributor + User Access Administrator can.
func TestDeployPrerequisites(t *testing.T) {
	for roles, want := range map[string]bool{
		"Owner":                                  true,
		"Contributor, User Access Administrator": true,
		"Contributor, Role Based Access Control Administrator": false,
		"Contributor":               false,
		"User Access Administrator": false,
		"Reader, Role Based Access Control Administrator, Reader": false,
	} {
		cmds, msgs, ok := dryRun(t, "infra/main.bicepparam", "DRY_RUN_ROLES="+roles)
		if ok != want || (index(cmds, deployCreate) >= 0) != want {
			t.Errorf("roles %q: went through %v, want %v\n%s", roles, ok, want, msgs)
		}
		if !want && !strings.Contains(msgs, "Owner, or Contributor + User Access Administrator") {
			t.Errorf("roles %q: message does not say what is needed:\n%s", roles, msgs)
		}
	}
	// No document offers the role that cannot do it.
	for _, rel := range []string{"../README.md", "README.md", "deploy.sh"} {
		data, err := os.ReadFile(filepath.Join(infraDir(t), rel))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(strings.Fields(string(data)), " ")
		for _, m := range regexp.MustCompile(`[^.]*Role Based Access Control Administrator[^.]*`).FindAllString(text, -1) {
			if !regexp.MustCompile(`\b(not|cannot|neither|lacks?)\b`).MatchString(m) {
				t.Errorf("%s offers Role Based Access Control Administrator: %q", rel, strings.TrimSpace(m))
			}
		}
		if !strings.Contains(text, "User Access Administrator") || !strings.Contains(text, "Owner") {
			t.Errorf("%s does not state the prerequisite (Owner, or Contributor + User Access Administrator)", rel)
		}
	}
}

// privateParams writes a parameter file with private networking on.
func privateParams(t *testing.T, plan string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "private.bicepparam")
	src := "using '" + filepath.Join(infraDir(t), "main.bicep") + "'\n\nparam vccClientId = 'x'\nparam hostingPlan = '" + plan + "'\nparam maxInstances = 2\nparam privateNetworking = true\n"
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Private networking: Flex VNet integration needs the Microsoft.App
// provider, checked before deploying; Elastic Premium, whose package this
// script uploads into the then private host account, is refused.
func TestDeployPrivateNetworking(t *testing.T) {
	cmds, msgs, ok := dryRun(t, privateParams(t, "FlexConsumption"))
	if !ok {
		t.Fatalf("deploy.sh stopped: %s", msgs)
	}
	p, d := index(cmds, `^az provider show --namespace Microsoft\.App --query registrationState`), index(cmds, deployCreate)
	if p < 0 || d < p {
		t.Errorf("want the Microsoft.App provider checked before deploying:\n%s", strings.Join(cmds, "\n"))
	}
	cmds, msgs, ok = dryRun(t, privateParams(t, "FlexConsumption"), "DRY_RUN_APP_PROVIDER=NotRegistered")
	if ok || index(cmds, deployCreate) >= 0 || !strings.Contains(msgs, "az provider register --namespace Microsoft.App") {
		t.Errorf("an unregistered Microsoft.App must stop the deployment with the command to run; went through %v:\n%s", ok, msgs)
	}
	cmds, msgs, ok = dryRun(t, privateParams(t, "ElasticPremium"))
	if ok || index(cmds, deployCreate) >= 0 || !strings.Contains(msgs, "privateNetworking with Elastic Premium") {
		t.Errorf("Elastic Premium with private networking must stop before deploying; went through %v:\n%s", ok, msgs)
	}
	// Off (the default): no provider check.
	cmds, _, _ = dryRun(t, "infra/main.bicepparam")
	if index(cmds, `Microsoft\.App`) >= 0 {
		t.Errorf("the provider check applies to private networking only:\n%s", strings.Join(cmds, "\n"))
	}
}

// Finding: deploy.sh asked the vault itself whether the secrets exist; a
// private vault refuses a workstation, the answer became "no", and the
// deployment would have dropped the app's secret roles. It asks Azure
// Resource Manager, which answers either way.
func TestDeploySecretCheckSurvivesAPrivateVault(t *testing.T) {
	cmds, msgs, ok := dryRun(t, privateParams(t, "FlexConsumption"))
	if !ok {
		t.Fatalf("deploy.sh stopped: %s", msgs)
	}
	all := strings.Join(cmds, "\n")
	// The dry run answers each deployment output with <its name>.
	for _, name := range []string{`\\<secretName\\>`, `\\<webhookSecretName\\>`} {
		if index(cmds, `^az resource show -g rg-vcc --namespace Microsoft\.KeyVault --parent vaults/\S+ --resource-type secrets -n `+name+` `) < 0 {
			t.Errorf("%s: not checked through Azure Resource Manager:\n%s", name, all)
		}
	}
	if strings.Contains(all, "keyvault secret list") {
		t.Errorf("a data-plane secret listing fails against a private vault:\n%s", all)
	}
}
