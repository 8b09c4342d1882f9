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

@description('Days a deleted recording (or container) can still be restored.')
@minValue(1)
@maxValue(365)
param deleteRetentionDays int = 30

@description('Tags applied to every resource.')
param tags object = {}

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
    publicNetworkAccess: 'Enabled'
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

resource recordingsAccount 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: recordingsAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: recordingsSkuName
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
  }
}

resource recordingsBlob 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: recordingsAccount
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: deleteRetentionDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: deleteRetentionDays
    }
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

output hostAccountName string = hostAccount.name
output hostBlobEndpoint string = hostAccount.properties.primaryEndpoints.blob
output deploymentContainerName string = deploymentContainer.name
output recordingsAccountName string = recordingsAccount.name
// RECORDINGS_ACCOUNT_URL takes the form https://<account>.blob.<suffix>, no
// trailing slash (the form shared/config documents and validates).
output recordingsAccountUrl string = 'https://${recordingsAccount.name}.blob.${environment().suffixes.storage}'
output recordingsContainerName string = recordingsContainer.name
output stateContainerName string = stateContainer.name
