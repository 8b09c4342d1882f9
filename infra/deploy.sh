#!/usr/bin/env bash
# Deploys vcc-ingest to an existing resource group: the Bicep templates, then
# the code package. Idempotent: run it again after any change.
#
#   infra/deploy.sh <resource-group> [parameter-file]
#
# parameter-file defaults to infra/main.bicepparam (copy it, or use
# infra/env/<env>.bicepparam). Needs: az CLI (logged in, with Bicep), Go.
# The deploying user needs, on the resource group, rights to create the
# resources and role assignments and one custom role definition (Owner, or
# Contributor + User Access Administrator / Role Based Access Control
# Administrator).
#
# Environment:
#   DEPLOYMENT_NAME   ARM deployment name (default vcc-ingest)
#   SKIP_PACKAGE=1    deploy dist/app.zip as it is, without rebuilding
#
# First run: the Key Vault is created empty and the app cannot read the VCC
# secret yet (its read access is scoped to that one secret, which must exist
# first). The script then prints the two commands that set the secret; run
# them and run this script again: it sees the secret and grants the access.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
	sed -n '2,9p' "$0" >&2
	exit 2
fi
rg=$1
params=${2:-infra/main.bicepparam}
name=${DEPLOYMENT_NAME:-vcc-ingest}
cd "$(dirname "$0")/.."

out() { # out <name>: an output of the last deployment ('' if none)
	az deployment group show -g "$rg" -n "$name" --query "properties.outputs.$1.value" -o tsv 2>/dev/null || true
}

# 1. Does the VCC secret exist already? (Listing shows names, never values.)
provisioned=false
vault=$(out keyVaultName)
secret=$(out secretName)
secret=${secret:-vcc-client-secret}
if [[ -n "$vault" ]] &&
	[[ "$(az keyvault secret list --vault-name "$vault" --query "length([?name=='$secret'])" -o tsv 2>/dev/null || echo 0)" == "1" ]]; then
	provisioned=true
fi

# 2. Templates.
echo "Deploying templates to $rg with $params (secret present: $provisioned)..." >&2
az deployment group create -g "$rg" -n "$name" \
	--parameters "$params" \
	--parameters vccSecretProvisioned="$provisioned" \
	--only-show-errors -o none

app=$(out functionAppName)
plan=$(out hostingPlan)
vault=$(out keyVaultName)

# 3. Code.
if [[ "${SKIP_PACKAGE:-}" != 1 ]]; then
	"${GO:-go}" run ./infra/cmd/package -root . -out dist >&2
fi
if [[ "$plan" == FlexConsumption ]]; then
	# On Flex Consumption the CLI publishes the zip to the deployment
	# container (one deploy) with the signed-in user's Entra token.
	az functionapp deployment source config-zip -g "$rg" -n "$app" --src dist/app.zip --only-show-errors -o none
else
	# Elastic Premium runs the package from its blob URL
	# (WEBSITE_RUN_FROM_PACKAGE, read with the app's identity). Uploading
	# needs Storage Blob Data Contributor for the deploying user on the
	# app-package container.
	az storage blob upload --auth-mode login --overwrite \
		--account-name "$(out hostStorageAccountName)" \
		--container-name "$(out deploymentContainerName)" \
		--name app.zip --file dist/app.zip --only-show-errors -o none
	az functionapp restart -g "$rg" -n "$app" --only-show-errors -o none
fi
echo "Deployed $app ($plan); each instance paces VCC at $(out vccRatePerInstance) requests/minute." >&2

# 4. The secret, on the first run.
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
