// The audit trail: diagnostic settings that send each resource's logs to the
// Log Analytics workspace. Without them Azure keeps no record of who read the
// VCC secret or who read, wrote or deleted a recording.
//
// | resource                      | categories                               | what it records |
// |-------------------------------|------------------------------------------|-----------------|
// | Key Vault                     | AuditEvent                               | every secret read and every change, with the caller |
// | recordings account, blob      | StorageRead, StorageWrite, StorageDelete | every blob request on recordings, sidecars and state |
// | Service Bus namespace         | OperationalLogs                          | namespace and queue management operations |
//
// The Function App's own logs (FunctionAppLogs) are not sent: the
// workspace-based Application Insights component already stores every
// host and handler line in this workspace (host.json keeps traces and
// requests out of sampling), and the alerts and the workbook read it
// there; a diagnostic setting would ingest each line a second time.
//
// The host storage account is left out on purpose: it holds only host
// state and the package, and the host's lock renewals would make most of
// the volume (and the cost).
//
// Microsoft.Insights/diagnosticSettings has no GA API version for this shape:
// 2016-09-01 is the legacy form (name 'service', a location), so the current
// form is 2021-05-01-preview, the version Microsoft's own samples use.

@description('Resource id of the Log Analytics workspace.')
param workspaceId string

@description('Key Vault name.')
param keyVaultName string

@description('Recordings storage account name (recordings and state containers).')
param recordingsAccountName string

@description('Service Bus namespace name.')
param serviceBusNamespaceName string


resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource recordingsAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: recordingsAccountName
}

resource recordingsBlob 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: recordingsAccount
  name: 'default'
}

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}

resource vaultAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'AuditEvent'
        enabled: true
      }
    ]
  }
}

resource recordingsAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: recordingsBlob
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'StorageRead'
        enabled: true
      }
      {
        category: 'StorageWrite'
        enabled: true
      }
      {
        category: 'StorageDelete'
        enabled: true
      }
    ]
  }
}

resource serviceBusAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: namespace
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'OperationalLogs'
        enabled: true
      }
    ]
  }
}
