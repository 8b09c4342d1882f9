// Two storage accounts, kept apart on purpose:
// - host: the Functions host's own state (AzureWebJobsStorage: timer
//   schedule monitor, singleton locks, host keys) and the deployment package
//   container. The host needs broad rights on its account (roles.bicep), so
//   nothing else lives in it.
// - recordings: the product's data (recordings + sidecars) and its small
//   state container (checkpoint, run records, failure records). The app only
//   gets container-scoped rights here.
// Both accept Microsoft Entra (OAuth) requests only: shared keys, and so
// account-key connection strings and SAS signed with them, are refused.

@description('Azure region.')
param location string

@description('Name of the Functions host storage account (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param hostAccountName string

@description('Name of the recordings storage account (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param recordingsAccountName string

@description('Container for recordings and their interaction.json sidecars.')
param recordingsContainerName string

@description('Container for the pipeline state: checkpoint, run records, failure records.')
param stateContainerName string

@description('Container in the host account that holds the deployment package.')
param deploymentContainerName string

@description('Replication of the recordings account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param recordingsSkuName string = 'Standard_LRS'

// Retention of the recordings container. Call recordings are personal data:
// each step is a parameter, 0 (or false) switches it off. infra/README.md
// ("Retention") gives what each costs and what it forbids.

@description('Days a deleted or overwritten recording (and a deleted container) can still be restored; 0 = soft delete off.')
@minValue(0)
@maxValue(365)
param softDeleteDays int = 30

@description('Keep every previous version of a blob (a rewritten sidecar keeps its old version).')
param versioning bool = false

@description('Lifecycle: move recordings and sidecars to Cool this many days after they were written; 0 = never.')
@minValue(0)
param coolAfterDays int = 0

@description('Lifecycle: move them to coldTier this many days after they were written; 0 = never.')
@minValue(0)
param coldAfterDays int = 0

@description('Tier of the coldAfterDays step. Archive is offline: a blob there must be rehydrated (hours) before it can be read.')
@allowed([
  'Cold'
  'Archive'
])
param coldTier string = 'Cold'

@description('Lifecycle: delete recordings and sidecars (and their old versions) this many days after they were written; 0 = never.')
@minValue(0)
param deleteAfterDays int = 0

@description('Time-based immutability of the recordings container: blobs cannot be overwritten or deleted for this many days after they were written; 0 = no policy. Created unlocked (infra/README.md).')
@minValue(0)
@maxValue(146000)
param immutabilityDays int = 0

@description('Private networking (main.bicep): both accounts refuse every request from outside their private endpoints.')
param privateNetworking bool = false

@description('Customer-managed key of the recordings account: its Key Vault URI; empty with cmkKeyName empty.')
param cmkKeyVaultUri string = ''

@description('Customer-managed key of the recordings account: the key\'s name in that vault; empty: Microsoft-managed keys.')
param cmkKeyName string = ''

@description('Customer-managed key: resource id of the user-assigned identity holding Key Vault Crypto Service Encryption User on the key.')
param cmkIdentityId string = ''

@description('Tags applied to every resource.')
param tags object = {}

// With private networking: no public endpoint at all, and the firewall,
// should public access ever be re-enabled by hand, denies everything and
// lets no service through (no trusted service needs these accounts).
var publicNetworkAccess = privateNetworking ? 'Disabled' : 'Enabled'
var denyAll = {
  defaultAction: 'Deny'
  bypass: 'None'
}

resource hostAccount 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: hostAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: publicNetworkAccess
    networkAcls: privateNetworking ? denyAll : null
  }
}

resource hostBlob 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: hostAccount
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: hostBlob
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

// With a customer-managed key: blobs (and files) encrypted under the key,
// read with the identity; no key version, so Storage follows the key's
// rotations by itself (it checks daily).
var useCmk = !empty(cmkKeyName)
var cmkEncryption = {
  keySource: 'Microsoft.Keyvault'
  keyvaultproperties: {
    keyvaulturi: cmkKeyVaultUri
    keyname: cmkKeyName
  }
  identity: {
    userAssignedIdentity: cmkIdentityId
  }
  services: {
    blob: {
      enabled: true
      keyType: 'Account'
    }
    file: {
      enabled: true
      keyType: 'Account'
    }
  }
}
var cmkIdentity = {
  type: 'UserAssigned'
  userAssignedIdentities: {
    '${cmkIdentityId}': {}
  }
}

resource recordingsAccount 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: recordingsAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: recordingsSkuName
  }
  identity: useCmk ? cmkIdentity : null
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: publicNetworkAccess
    networkAcls: privateNetworking ? denyAll : null
    encryption: useCmk ? cmkEncryption : null
  }
}

resource recordingsBlob 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: recordingsAccount
  name: 'default'
  properties: {
    deleteRetentionPolicy: softDeleteDays > 0 ? { enabled: true, days: softDeleteDays } : { enabled: false }
    containerDeleteRetentionPolicy: softDeleteDays > 0 ? { enabled: true, days: softDeleteDays } : { enabled: false }
    isVersioningEnabled: versioning
  }
}

resource recordingsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: recordingsBlob
  name: recordingsContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource stateContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: recordingsBlob
  name: stateContainerName
  properties: {
    publicAccess: 'None'
  }
}

// One lifecycle rule for the recordings container (recordings and their
// sidecars: both hold personal data). The state container is not touched.
// Days count from the last write; a sidecar rewritten when a late recording
// arrives restarts its own count.
var tierActions = union(
  coolAfterDays > 0 ? { tierToCool: { daysAfterModificationGreaterThan: coolAfterDays } } : {},
  coldAfterDays > 0 && coldTier == 'Cold' ? { tierToCold: { daysAfterModificationGreaterThan: coldAfterDays } } : {},
  coldAfterDays > 0 && coldTier == 'Archive' ? { tierToArchive: { daysAfterModificationGreaterThan: coldAfterDays } } : {},
  deleteAfterDays > 0 ? { delete: { daysAfterModificationGreaterThan: deleteAfterDays } } : {}
)
// Old versions (versioning on) go when the current blob would.
var versionActions = versioning && deleteAfterDays > 0 ? { delete: { daysAfterCreationGreaterThan: deleteAfterDays } } : {}

resource recordingsLifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = if (coolAfterDays > 0 || coldAfterDays > 0 || deleteAfterDays > 0) {
  parent: recordingsAccount
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'recordings-retention'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${recordingsContainerName}/'
              ]
            }
            actions: {
              baseBlob: tierActions
              version: versionActions
            }
          }
        }
      ]
    }
  }
}

// Time-based retention (WORM) on the recordings container. ARM creates it
// unlocked: it can still be shortened or removed until an operator locks it
// (az storage container immutability-policy lock), after which it can only be
// extended. Locking is deliberately not done by a template.
resource recordingsImmutability 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = if (immutabilityDays > 0) {
  parent: recordingsContainer
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: immutabilityDays
    allowProtectedAppendWrites: false
  }
}

output hostAccountName string = hostAccount.name
output hostAccountId string = hostAccount.id
output hostBlobEndpoint string = hostAccount.properties.primaryEndpoints.blob
output deploymentContainerName string = deploymentContainer.name
output recordingsAccountName string = recordingsAccount.name
output recordingsAccountId string = recordingsAccount.id
output recordingsBlobServiceName string = recordingsBlob.name
// RECORDINGS_ACCOUNT_URL takes the form https://<account>.blob.<suffix>, no
// trailing slash (the form shared/config documents and validates).
output recordingsAccountUrl string = 'https://${recordingsAccount.name}.blob.${environment().suffixes.storage}'
output recordingsContainerName string = recordingsContainer.name
output stateContainerName string = stateContainer.name
