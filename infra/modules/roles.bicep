// Every role the Function App's identity holds, each on the narrowest scope
// Azure allows for what the code does. Nothing is granted on a resource group
// or subscription, and no Owner, Contributor or key-listing role appears.
//
// | role                              | scope                         | why |
// |-----------------------------------|-------------------------------|-----|
// | Azure Service Bus Data Sender     | interactions queue            | discover sends one message per interaction (azservicebus) |
// | Azure Service Bus Data Receiver   | interactions queue            | the ingest trigger receives/completes/abandons |
// | Storage Blob Data Contributor     | recordings container          | ingest writes recordings + sidecars, reads them back (stat) |
// | Blob index tag writer (custom)    | recordings container          | recordings are written with blob index tags (tags/write is not in Contributor) |
// | Storage Blob Data Contributor     | vcc-ingest-state container    | checkpoint, run records, failure records |
// | Storage Blob Data Owner           | host storage account          | AzureWebJobsStorage: the host creates its own containers (locks, timer status, keys) |
// | Key Vault Secrets User            | the vcc-client-secret secret  | read the VCC client secret, nothing else in the vault |
// | Key Vault Secrets User            | the vcc-webhook-secret secret | verify VCC webhook signatures (events function)       |
// | Monitoring Metrics Publisher      | Application Insights          | telemetry with local auth switched off |

@description('Principal (object) id of the Function App\'s user-assigned identity.')
param principalId string

@description('Functions host storage account.')
param hostStorageAccountName string

@description('Recordings storage account.')
param recordingsStorageAccountName string

@description('Recordings container.')
param recordingsContainerName string

@description('State container.')
param stateContainerName string

@description('Service Bus namespace name.')
param serviceBusNamespaceName string

@description('Interactions queue.')
param queueName string

@description('Key Vault name.')
param keyVaultName string

@description('Name of the VCC client secret.')
param secretName string

@description('True once the operator has created the secret: a role can only be scoped to a secret that exists.')
param grantSecretAccess bool

@description('Key Vault secret names of the tenants of a tenants document (each tenant\'s secretName and, when it sends webhooks, its webhookSecretName) that the operator has created: the app reads each one, and nothing else of the vault.')
param tenantSecretNames array = []

@description('Name of the VCC webhook secret (the events function verifies signatures with it).')
param webhookSecretName string

@description('True once the operator has created the webhook secret.')
param grantWebhookSecretAccess bool

@description('Application Insights component name.')
param appInsightsName string

@description('Container in the host account holding the deployment package.')
param deploymentContainerName string

@description('Object id of the deploying user or pipeline on Elastic Premium (uploads app.zip); empty = no grant.')
param deployerPrincipalId string = ''

@description('User, ServicePrincipal or Group: the kind of deployerPrincipalId.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param deployerPrincipalType string = 'User'

// Built-in role definition ids (identical in every Azure tenant).
var serviceBusDataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
var serviceBusDataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource hostAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageAccountName
}

resource hostBlob 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: hostAccount
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: hostBlob
  name: deploymentContainerName
}

resource recordingsAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: recordingsStorageAccountName
}

resource recordingsBlob 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: recordingsAccount
  name: 'default'
}

resource recordingsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: recordingsBlob
  name: recordingsContainerName
}

resource stateContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: recordingsBlob
  name: stateContainerName
}

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}

resource queue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = {
  parent: namespace
  name: queueName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = {
  parent: vault
  name: secretName
}

resource tenantSecrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = [for name in tenantSecretNames: {
  parent: vault
  name: name
}]

resource webhookSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = {
  parent: vault
  name: webhookSecretName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// Storage Blob Data Contributor has no blobs/tags/write, and the ingest step
// writes each recording with blob index tags (Put Block List with
// x-ms-tags). Storage Blob Data Owner would add it but also everything else
// on the container; this role adds that one data action only.
resource tagWriterRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'vcc-ingest-blob-index-tag-writer')
  properties: {
    roleName: 'vcc-ingest blob index tag writer ${uniqueString(resourceGroup().id)}'
    description: 'Write blob index tags only. Assigned on the vcc-ingest recordings container.'
    type: 'CustomRole'
    permissions: [
      {
        actions: []
        notActions: []
        dataActions: [
          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/tags/write'
        ]
        notDataActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

resource queueSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(queue.id, principalId, serviceBusDataSender)
  scope: queue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSender)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'discover sends interactions to this queue'
  }
}

resource queueReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(queue.id, principalId, serviceBusDataReceiver)
  scope: queue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiver)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'the ingest trigger receives from this queue'
  }
}

resource recordingsWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(recordingsContainer.id, principalId, storageBlobDataContributor)
  scope: recordingsContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'ingest writes recordings and sidecars'
  }
}

resource recordingsTagWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(recordingsContainer.id, principalId, tagWriterRole.name)
  scope: recordingsContainer
  properties: {
    // Role definitions are addressed at subscription level even when, like
    // this one, they are only assignable within the resource group.
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', tagWriterRole.name)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'ingest sets blob index tags on recordings'
  }
}

resource stateWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(stateContainer.id, principalId, storageBlobDataContributor)
  scope: stateContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'checkpoint, run records and failure records'
  }
}

// Microsoft documents Storage Blob Data Owner on the host account for an
// identity-based AzureWebJobsStorage: the host creates and manages its own
// containers (azure-webjobs-hosts, azure-webjobs-secrets), which needs
// account scope. The account holds nothing but host state and the deployment
// package (which this role also lets the platform read on Flex and Premium),
// so account scope here reaches no product data. No queue or table role:
// the app has no blob trigger and no Durable Functions.
resource hostStorageOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostAccount.id, principalId, storageBlobDataOwner)
  scope: hostAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Functions host storage (AzureWebJobsStorage) and deployment package'
  }
}

resource secretReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantSecretAccess) {
  name: guid(vault.id, secretName, principalId, keyVaultSecretsUser)
  scope: secret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'read the VCC client secret'
  }
}

resource webhookSecretReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantWebhookSecretAccess) {
  name: guid(vault.id, webhookSecretName, principalId, keyVaultSecretsUser)
  scope: webhookSecret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'read the VCC webhook secret'
  }
}

resource tenantSecretReaders 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in tenantSecretNames: {
  name: guid(vault.id, name, principalId, keyVaultSecretsUser)
  scope: tenantSecrets[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'read a tenant\'s VCC secret (its client secret or its webhook secret)'
  }
}]

resource telemetryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, principalId, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'send telemetry to Application Insights (local auth is off)'
  }
}

// Elastic Premium runs the package from a blob the deployer uploads with
// their own Entra identity (shared keys are off): Contributor on that one
// container, nothing in the recordings account. On Flex the platform
// uploads it, so main.bicep passes no principal there.
resource deployerPackageUpload 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(deploymentContainer.id, deployerPrincipalId, storageBlobDataContributor)
  scope: deploymentContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
    description: 'deploy.sh uploads app.zip (Elastic Premium)'
  }
}
