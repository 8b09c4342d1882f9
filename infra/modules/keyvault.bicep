// Key Vault that holds the VCC client secret.
//
// The secret itself is deliberately NOT created here and is not a template
// parameter: a parameter would pass through deployment history and a
// template-created secret would be overwritten on every deployment. The
// operator sets it once with the Azure CLI (infra/README.md); the app reads
// it with its managed identity (Key Vault Secrets User on that one secret,
// roles.bicep).

@description('Azure region.')
param location string

@description('Vault name (3-24 letters, digits and hyphens).')
@minLength(3)
@maxLength(24)
param name string

@description('Private networking (main.bicep): the vault answers only through its private endpoint.')
param privateNetworking bool = false

@description('Tags applied to every resource.')
param tags object = {}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    // Azure RBAC, not access policies: access is granted per secret.
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // Purge protection cannot be switched off again once on: a deleted
    // secret stays recoverable for the retention period.
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForTemplateDeployment: false
    enabledForDiskEncryption: false
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
    // Trusted services pass (Storage reading a customer-managed key): Key
    // Vault honours no other rule once public access is disabled.
    networkAcls: privateNetworking ? { defaultAction: 'Deny', bypass: 'AzureServices' } : null
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri
