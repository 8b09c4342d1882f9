#!/usr/bin/env bash
# Deploys vcc-ingest to an existing resource group: checks what Azure allows,
# deploys the Bicep templates, then publishes the code package. Idempotent:
# run it again after any change.
#
#   infra/deploy.sh [--dry-run] <resource-group> [parameter-file]
#
# parameter-file defaults to infra/main.bicepparam (copy it, or use
# infra/env/<env>.bicepparam). Needs: az CLI (logged in, with Bicep), Go.
# --dry-run asks Azure nothing and changes nothing: it prints the az
# commands it would run (see "Dry run" below).
#
# The deploying identity needs, on the resource group, Owner, or Contributor
# plus User Access Administrator: the templates create role assignments and
# one custom role definition (Microsoft.Authorization/roleDefinitions/write),
# which Contributor and Role Based Access Control Administrator lack. The
# script checks this before deploying (SKIP_ROLE_CHECK=1 skips the check, for
# a custom role that grants the same).
#
# Before deploying on Flex Consumption it asks Azure what the region allows
# for a custom handler (az functionapp list-flexconsumption-runtimes): a
# maxInstances below the region's lowest maximumInstanceCount (40 outside
# the regions that enable lower values) would be refused by ARM.
#
# Environment:
#   DEPLOYMENT_NAME        ARM deployment name (default vcc-ingest)
#   SKIP_PACKAGE=1         deploy dist/app.zip as it is, without rebuilding
#   SKIP_ROLE_CHECK=1      do not check the deployer's roles
#   DEPLOYER_PRINCIPAL_ID  Elastic Premium: object id granted upload rights on
#                          the package container (default: the signed-in
#                          user or service principal); DEPLOYER_PRINCIPAL_TYPE
#                          User (default) or ServicePrincipal with it
#
# Dry run: Azure's answers come from the environment instead:
#   DRY_RUN_LOCATION       region of the resource group (default westeurope)
#   DRY_RUN_FLEX_RUNTIMES  what list-flexconsumption-runtimes answers, one
#                          "version lowest highest" line per runtime version
#                          (default "1.0 1 1000"; empty: no custom runtime)
#   DRY_RUN_ROLES          the deployer's roles on the group, comma-separated
#                          (default Owner)
#
# First run: the Key Vault is created empty and the app cannot read the VCC
# secret yet (its read access is scoped to that one secret, which must exist
# first). The script then prints the two commands that set the secret; run
# them and run this script again: it sees the secret and grants the access.
set -euo pipefail

usage() {
	sed -n '2,11p' "$0" >&2
	exit 2
}

dry=false
if [[ "${1:-}" == --dry-run ]]; then
	dry=true
	shift
fi
if [[ $# -lt 1 || $# -gt 2 || "$1" == -* ]]; then
	usage
fi
rg=$1
params=${2:-infra/main.bicepparam}
name=${DEPLOYMENT_NAME:-vcc-ingest}
cd "$(dirname "$0")/.."
[[ -f "$params" ]] || {
	echo "deploy.sh: no parameter file $params" >&2
	exit 2
}

# The dry run prints every command on stdout (fd 3, so that commands whose
# output is captured are printed too) instead of running it.
exec 3>&1
show() {
	printf '%q' "$1" >&3
	shift
	printf ' %q' "$@" >&3
	printf '\n' >&3
}
# run <command...>: runs it, or prints it in a dry run.
run() {
	if $dry; then
		show "$@"
	else
		"$@"
	fi
}
# ask <dry-run answer> <command...>: runs a query and prints its answer; in a
# dry run prints the command and answers with the first argument.
ask() {
	local answer=$1
	shift
	if $dry; then
		show "$@"
		printf '%s\n' "$answer"
	else
		"$@"
	fi
}
die() {
	printf '\ndeploy.sh: %s\n' "$1" >&2
	shift
	for line in "$@"; do
		printf '  %s\n' "$line" >&2
	done
	exit 1
}

# param_value <name>: the literal value of a parameter in the parameter file,
# else main.bicep's literal default; empty when computed (e.g. location).
param_value() {
	local v
	v=$(sed -n "s/^param $1 *= *//p" "$params" | tail -n 1)
	if [[ -z "$v" ]]; then
		v=$(sed -n "s/^param $1 [a-z]* *= *//p" infra/main.bicep | tail -n 1)
	fi
	v=${v%%//*}
	v=${v%"${v##*[![:space:]]}"}
	v=${v#\'}
	v=${v%\'}
	[[ "$v" == *[\(\)]* ]] && v=''
	printf '%s' "$v"
}

plan=$(param_value hostingPlan)
plan=${plan:-FlexConsumption}
max=$(param_value maxInstances)
runtime_version=$(param_value flexRuntimeVersion)
region=$(param_value location)
if [[ -z "$region" ]]; then
	region=$(ask "${DRY_RUN_LOCATION:-westeurope}" az group show -n "$rg" --query location -o tsv)
fi
private=$(param_value privateNetworking)
private=${private:-false}
echo "Plan $plan, maxInstances $max, region $region, private networking $private." >&2

# 1. Preflight: the deployer's rights on the resource group.
user_type=$(ask user az account show --query user.type -o tsv)
if [[ "$user_type" == servicePrincipal ]]; then
	me_type=ServicePrincipal
	me=$(ask '<deployer-object-id>' az ad sp show --id "$(ask '<app-id>' az account show --query user.name -o tsv)" --query id -o tsv)
else
	me_type=User
	me=$(ask '<deployer-object-id>' az ad signed-in-user show --query id -o tsv)
fi
if [[ "${SKIP_ROLE_CHECK:-}" != 1 ]]; then
	dry_roles=${DRY_RUN_ROLES:-Owner}
	dry_roles=${dry_roles//, /$'\n'}
	roles=$(ask "${dry_roles//,/$'\n'}" az role assignment list --assignee "$me" \
		--scope "$(ask "/subscriptions/<subscription>/resourceGroups/$rg" az group show -n "$rg" --query id -o tsv)" \
		--include-inherited --include-groups --query '[].roleDefinitionName' -o tsv)
	has() { grep -qxF "$1" <<<"$roles"; }
	if ! has Owner && ! { has 'User Access Administrator' && has Contributor; }; then
		die "the deploying identity lacks the rights the templates need on $rg (has: $(tr '\n' ',' <<<"$roles" | sed 's/,$//; s/,/, /g'))." \
			"Needed: Owner, or Contributor + User Access Administrator. The templates create a custom role" \
			"definition (Microsoft.Authorization/roleDefinitions/write), which Role Based Access Control" \
			"Administrator cannot. SKIP_ROLE_CHECK=1 skips this check (a custom role granting the same)."
	fi
fi

# 2. Preflight: what the region allows for a custom handler on Flex.
if [[ "$plan" == FlexConsumption ]]; then
	runtimes=$(ask "${DRY_RUN_FLEX_RUNTIMES-1.0 1 1000}" az functionapp list-flexconsumption-runtimes -l "$region" --runtime custom \
		--query '[].[version, sku.maximumInstanceCount.lowestMaximumInstanceCount, sku.maximumInstanceCount.highestMaximumInstanceCount]' -o tsv)
	alternatives=(
		"- another region that allows it (az functionapp list-flexconsumption-runtimes -l <region> --runtime custom);"
		"- hostingPlan = 'ElasticPremium' in $params (always one instance running: a fixed monthly cost)."
	)
	if [[ -z "${runtimes//[[:space:]]/}" ]]; then
		die "Flex Consumption in $region offers no custom handler runtime." "${alternatives[@]}"
	fi
	read -r _ lowest highest < <(awk -v v="$runtime_version" '$1 == v' <<<"$runtimes") || true
	if [[ -z "${lowest:-}" ]]; then
		die "Flex Consumption in $region has no custom runtime version $runtime_version (offers: $(awk '{print $1}' <<<"$runtimes" | tr '\n' ' '))." \
			"Set flexRuntimeVersion in $params to one of them."
	fi
	if ((max < lowest)); then
		die "Flex Consumption in $region accepts maximumInstanceCount from $lowest to $highest; maxInstances is $max, and ARM would refuse the site." \
			"- maxInstances >= $lowest in $params (the VCC budget is then shared by $((lowest + 1)) processes or more);" \
			"${alternatives[@]}"
	fi
	if ((max > highest)); then
		die "Flex Consumption in $region accepts maximumInstanceCount up to $highest; maxInstances is $max." \
			"Set maxInstances <= $highest in $params."
	fi
fi

# 2b. Preflight: private networking (infra/README.md, "Private networking").
if [[ "$private" == true ]]; then
	if [[ "$plan" == ElasticPremium ]]; then
		die "privateNetworking with Elastic Premium: this script uploads app.zip from this machine into the host storage account, which is then private." \
			"Use hostingPlan = 'FlexConsumption' (the package goes through the app's SCM endpoint), or deploy from a machine in the VNet."
	fi
	app_provider=$(ask "${DRY_RUN_APP_PROVIDER:-Registered}" az provider show --namespace Microsoft.App --query registrationState -o tsv 2>/dev/null || true)
	if [[ "$app_provider" != Registered ]]; then
		die "Flex VNet integration needs the Microsoft.App resource provider, which is ${app_provider:-not readable} in this subscription." \
			"Register it (needs a role on the subscription): az provider register --namespace Microsoft.App --wait"
	fi
fi

out() { # out <name>: an output of the last deployment ('' if none)
	ask "<$1>" az deployment group show -g "$rg" -n "$name" --query "properties.outputs.$1.value" -o tsv 2>/dev/null || true
}

# 3. Does the VCC secret exist already? Asked of Azure Resource Manager
# (names only, never values), not of the vault: a private vault refuses
# this machine, and a wrong "no" would drop the app's secret roles.
vault=$(out keyVaultName)
secret_exists() { # secret_exists <name>: the answer is <name> or <vault>/<name>
	local found
	[[ -n "$vault" ]] || return 1
	found=$(ask '' az resource show -g "$rg" --namespace Microsoft.KeyVault --parent "vaults/$vault" --resource-type secrets -n "$1" --query name -o tsv 2>/dev/null || true)
	[[ "$found" == "$1" || "$found" == "$vault/$1" ]]
}
provisioned=false
secret=$(out secretName)
secret=${secret:-vcc-client-secret}
if secret_exists "$secret"; then
	provisioned=true
fi
# The VCC webhook secret likewise (the events function verifies with it).
hook_provisioned=false
hook_secret=$(out webhookSecretName)
hook_secret=${hook_secret:-vcc-webhook-secret}
if secret_exists "$hook_secret"; then
	hook_provisioned=true
fi

# 4. Templates. On Elastic Premium the deployer uploads the package, so it
# gets Storage Blob Data Contributor on the package container.
deployer=()
if [[ "$plan" == ElasticPremium ]]; then
	deployer=(--parameters deployerPrincipalId="${DEPLOYER_PRINCIPAL_ID:-$me}" deployerPrincipalType="${DEPLOYER_PRINCIPAL_TYPE:-$me_type}")
fi
echo "Deploying templates to $rg with $params (secret present: $provisioned)..." >&2
run az deployment group create -g "$rg" -n "$name" \
	--parameters "$params" \
	--parameters vccSecretProvisioned="$provisioned" \
	--parameters webhookSecretProvisioned="$hook_provisioned" \
	"${deployer[@]}" \
	--only-show-errors -o none

app=$(out functionAppName)
app_id=$(out functionAppId)
vault=$(out keyVaultName)

# 5. Code.
if [[ "${SKIP_PACKAGE:-}" != 1 ]]; then
	run "${GO:-go}" run ./infra/cmd/package -root . -out dist >&2
fi
if [[ "$plan" == FlexConsumption ]]; then
	# On Flex Consumption the CLI publishes the zip to the deployment
	# container (one deploy) with the signed-in user's Entra token; the
	# platform syncs the triggers itself.
	run az functionapp deployment source config-zip -g "$rg" -n "$app" --src dist/app.zip --only-show-errors -o none
else
	# Elastic Premium runs the package from its blob URL
	# (WEBSITE_RUN_FROM_PACKAGE, read with the app's identity). A new role
	# assignment can take minutes to apply: retry the upload.
	account=$(out hostStorageAccountName)
	container=$(out deploymentContainerName)
	for attempt in 1 2 3 4 5 6; do
		if run az storage blob upload --auth-mode login --overwrite \
			--account-name "$account" --container-name "$container" \
			--name app.zip --file dist/app.zip --only-show-errors -o none; then
			break
		fi
		((attempt < 6)) || die "could not upload dist/app.zip to $account/$container."
		echo "Upload refused (role assignment not applied yet?); retrying in 30 s..." >&2
		sleep 30
	done
	run az functionapp restart -g "$rg" -n "$app" --only-show-errors -o none
	# Run-from-package on an external URL: the scale controller only sees
	# the triggers after a sync, or scale-out misses the queue.
	run az rest --method post --url "$app_id/syncfunctiontriggers?api-version=2024-04-01" --only-show-errors -o none
fi
echo "Deployed $app ($plan); its instances share one VCC budget per account (budget/<tenant>.json in the state container)." >&2

# 6. The secret, on the first run.
if [[ "$provisioned" != true ]]; then
	cat >&2 <<MSG

The VCC client secret is not in Key Vault yet. Set it (the value is read from
the terminal, never from the command line), then run this script again:

  az role assignment create --role "Key Vault Secrets Officer" \\
    --assignee "\$(az ad signed-in-user show --query id -o tsv)" \\
    --scope "\$(az keyvault show -n $vault --query id -o tsv)"
  read -rsp 'VCC client secret: ' s && printf '%s' "\$s" | \\
    az keyvault secret set --vault-name $vault --name $secret --file /dev/stdin -o none; unset s

MSG
fi
if [[ "$hook_provisioned" != true ]]; then
	cat >&2 <<MSG

The VCC webhook secret is not in Key Vault yet: until it is, the events
function refuses every webhook (discover still runs). Once the customer's VCC
admin has created the subscription (infra/README.md, "Webhooks"), set the
secret VCC showed (base64) the same way, then run this script again:

  read -rsp 'VCC webhook secret (base64): ' s && printf '%s' "\$s" | \\
    az keyvault secret set --vault-name $vault --name $hook_secret --file /dev/stdin -o none; unset s

MSG
fi
