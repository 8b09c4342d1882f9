// Customer-managed key of the recordings account (main.bicep
// recordingsKeyName): an RSA key in the deployment's Key Vault, and an
// identity of its own that Storage uses to wrap and unwrap the account's
// encryption key with it. The app's identity gets nothing here: it reads
// and writes blobs, Storage does the encryption.
//
// The role is assigned here, not in roles.bicep: the recordings account is
// created with the key, so the key and the role must exist before it, and
// roles.bicep is deployed after the storage accounts.

@description('Azure region.')
param location string

@description('Key Vault holding the key (soft delete and purge protection on, as Storage requires).')
param keyVaultName string

@description('Name of the RSA key; created if absent, left as it is if it exists.')
param keyName string

@description('Name of the identity Storage reads the key with.')
param identityName string

@description('Tags applied to every resource.')
param tags object = {}

// Key Vault Crypto Service Encryption User: get, wrap and unwrap keys.
var cryptoServiceEncryptionUser = 'e147488a-f6f5-4113-8e2d-b22465e65bf6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: identityName
  location: location
  tags: tags
}

// A management-plane create: it makes the key's first version when the key
// does not exist and leaves an existing key (and its versions) alone.
resource key 'Microsoft.KeyVault/vaults/keys@2023-07-01' = {
  parent: vault
  name: keyName
  tags: tags
  properties: {
    kty: 'RSA'
    keySize: 3072
    keyOps: [
      'wrapKey'
      'unwrapKey'
    ]
    attributes: {
      enabled: true
    }
  }
}

resource keyUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(key.id, identity.id, cryptoServiceEncryptionUser)
  scope: key
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', cryptoServiceEncryptionUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// A module's outputs exist once all of it is deployed: whoever uses them
// (the recordings account) waits for the role too.
output identityId string = identity.id
output keyName string = key.name
output keyVaultUri string = vault.properties.vaultUri
