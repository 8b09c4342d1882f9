// vcc-ingest: copies Vonage Contact Center call recordings into Blob Storage.
//
// One resource group holds everything: monitoring, the app's user-assigned
// identity, host + recordings storage, Service Bus, Key Vault, the Function
// App, and the app's role assignments (each on the narrowest scope, see
// modules/roles.bicep). The VCC client secret is not a parameter: the
// operator sets it in Key Vault (infra/README.md).

targetScope = 'resourceGroup'

@description('Short lowercase prefix for resource names (letters and digits).')
@minLength(3)
@maxLength(11)
param namePrefix string = 'vccingest'

@description('Azure region for every resource.')
param location string = resourceGroup().location

@description('VCC region of the contact center account: picks the VCC token and API hosts.')
@allowed([
  'emea'
  'nam'
  'apac'
])
param vccRegion string = 'emea'

@description('OAuth client id of the VCC API credential (not secret). The secret goes to Key Vault.')
@minLength(1)
param vccClientId string

@description('Six-field NCRONTAB schedule of discover (default every 15 minutes).')
param discoverSchedule string = '0 */15 * * * *'

@description('Six-field NCRONTAB schedule of audit (default daily at 06:30 UTC).')
param auditSchedule string = '0 30 6 * * *'

@description('User Admin user id (GUID) of the user who owns the VCC API credential; empty leaves its line permissions and groups unchecked by audit.')
param vccOwnerUserId string = ''

@description('FlexConsumption (default) or ElasticPremium. See infra/README.md.')
@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param hostingPlan string = 'FlexConsumption'

// Flex accepts 40 to 1000, and values from 1 only in the regions that enable
// them (deploy.sh asks Azure before deploying), so 40 is the default that
// deploys in every region. The VCC budget is one for the whole deployment,
// booked in the state container, not divided per instance: the cap bounds
// cost, not the copy rate (one instance alone copies at the full budget,
// bench budget-one). Elastic Premium keeps 4: its cap is also the most
// always-billed workers it may add.
@description('Most instances the app may scale out to (per function group on Flex). The VCC budget is shared, not divided by it. Flex: 40-1000, below 40 only where the region allows it.')
@minValue(1)
@maxValue(1000)
param maxInstances int = hostingPlan == 'FlexConsumption' ? 40 : 4

@description('VCC requests per minute for the whole deployment, however many instances run: every process and the operator commands book their calls in one shared budget in the state container (budget/default.json). The account\'s fair-usage limit minus what other integrations need.')
@minValue(1)
param vccRateBudgetPerMinute int = 160

// 512 MB: the handler's peak RSS is 34.5 MiB whatever the recording's size
// (bench memory: it streams), and host.json's 4 concurrent copies add at most
// two 4 MiB upload blocks each, under 80 MiB in all. Copying costs about
// 4.2 CPU-seconds per GB (bench copy); at the budget of 160 calls a minute a
// deployment copies about 155 recordings a minute, a few MB/s, which the
// smallest instance's CPU share carries many times over. Larger instances
// only cost more GB-seconds per recording (infra/README.md).
@description('Flex Consumption instance memory in MB: 512 holds the handler (measured peak RSS 34.5 MiB) and copies at the full VCC budget.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 512

@description('Flex Consumption runtime version for the custom handler runtime.')
param flexRuntimeVersion string = '1.0'

@description('Set to true once the operator has created the secret in Key Vault (deploy.sh detects it): the app\'s read access is scoped to that one secret, which must exist first.')
param vccSecretProvisioned bool = false

@description('With a tenants document: the Key Vault secret names the operator has created, each tenant\'s secretName and, for a tenant that sends webhooks, its webhookSecretName (one list: both are read the same way, with the same role on the one secret). Each gets the app\'s read access, scoped to that one secret; nothing else grows with the number of tenants.')
param tenantSecretNames array = []

@description('With a tenants document: its name in the state container (vcc-ingest-state), e.g. tenants.json, uploaded with "handler tenants push". The app serves every tenant it lists and re-reads it when it changes (no redeploy to add a tenant). Empty: the one VCC account of vccClientId, app settings unchanged.')
param tenantsBlobName string = ''

@description('Set to true once the operator has stored the VCC webhook subscription\'s secret in Key Vault (deploy.sh detects it): the events function reads it to verify each webhook; until then every webhook is refused.')
param webhookSecretProvisioned bool = false

@description('Replication of the recordings account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param recordingsSkuName string = 'Standard_LRS'

@description('Object id of whoever runs deploy.sh on Elastic Premium: granted Storage Blob Data Contributor on the package container only, to upload app.zip with shared keys off. Empty: no grant. Ignored on Flex (the platform uploads there).')
param deployerPrincipalId string = ''

@description('Kind of deployerPrincipalId: User, or ServicePrincipal for a pipeline.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param deployerPrincipalType string = 'User'

@description('Recordings: days a deleted or overwritten blob can be restored (soft delete); 0 = off.')
@minValue(0)
@maxValue(365)
param recordingsSoftDeleteDays int = 30

@description('Recordings: keep previous versions of every blob.')
param recordingsVersioning bool = false

@description('Recordings: days after writing before moving to Cool; 0 = never.')
@minValue(0)
param recordingsCoolAfterDays int = 0

@description('Recordings: days after writing before moving to recordingsColdTier; 0 = never.')
@minValue(0)
param recordingsColdAfterDays int = 0

@description('Recordings: the tier of the second lifecycle step (Archive is offline).')
@allowed([
  'Cold'
  'Archive'
])
param recordingsColdTier string = 'Cold'

@description('Recordings: days after writing before deletion; 0 = never. Must not be shorter than recordingsImmutabilityDays.')
@minValue(0)
param recordingsDeleteAfterDays int = 0

@description('Recordings: time-based immutability (WORM) in days; 0 = none. See infra/README.md before setting it.')
@minValue(0)
@maxValue(146000)
param recordingsImmutabilityDays int = 0

@description('Days the Log Analytics workspace keeps logs, the audit trail included.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 90

@description('E-mail address every alert goes to (infra/README.md, Alerts). Empty: no action group; the alert rules are still created and fire in Azure Monitor, notifying no one.')
param alertEmail string = ''

// Private networking (infra/README.md, "Private networking": what it costs
// and what changes). Off: every service keeps its public endpoint, guarded
// by Entra ID alone, exactly as without these parameters.
@description('Put both storage accounts, Key Vault and Service Bus (then Premium) behind private endpoints in a VNet, with public network access disabled, and route the app\'s outbound traffic through the VNet. The webhook stays public. See infra/README.md.')
param privateNetworking bool = false

@description('With privateNetworking: the VNet\'s address space, a /25 or larger (the app subnet takes its first /26, the endpoints subnet the next /27). Must not overlap networks it will be peered with.')
param vnetAddressPrefix string = '10.42.0.0/24'

@description('Recordings: name of an RSA key in the deployment\'s Key Vault to encrypt the recordings account with (customer-managed key; created if absent, with an identity of its own). Empty: Microsoft-managed keys. See infra/README.md before setting it.')
param recordingsKeyName string = ''

@description('Deploy the operations workbook (per tenant and day: stored, latency, VCC budget, deferrals, audit, failures) attached to Application Insights.')
param deployWorkbook bool = true

@description('Downstream notice when an interaction is complete (its interaction.json written): \'\' (off), ServiceBusQueue (a queue of this deployment\'s namespace, downstreamQueueName) or WebHook (downstreamWebhookUrl). See infra/README.md, Downstream notice.')
@allowed([
  ''
  'ServiceBusQueue'
  'WebHook'
])
param downstreamNotice string = ''

@description('With downstreamNotice ServiceBusQueue: the queue created for the notices (not the interactions queue).')
param downstreamQueueName string = 'interactions-complete'

@description('With downstreamNotice WebHook: the HTTPS endpoint notified (it may carry its key, hence secure); it must answer Event Grid\'s validation when deployed.')
@secure()
param downstreamWebhookUrl string = ''

@description('Tags applied to every resource.')
param tags object = {
  application: 'vcc-ingest'
}

// Names the code and function.json use as defaults (shared/config).
var queueName = 'interactions'
var recordingsContainerName = 'recordings'
var stateContainerName = 'vcc-ingest-state'
var secretName = 'vcc-client-secret'
// The VCC webhook subscription's secret (base64, as VCC shows it when the
// customer's admin creates the subscription); set like the client secret.
var webhookSecretName = 'vcc-webhook-secret'
var deploymentContainerName = 'app-package'

var suffix = take(uniqueString(resourceGroup().id), 6)

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    workspaceName: '${namePrefix}-log-${suffix}'
    appInsightsName: '${namePrefix}-appi-${suffix}'
    retentionInDays: logRetentionDays
    tags: tags
  }
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    location: location
    name: '${namePrefix}-id-${suffix}'
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    hostAccountName: '${namePrefix}host${suffix}'
    recordingsAccountName: '${namePrefix}rec${suffix}'
    recordingsContainerName: recordingsContainerName
    stateContainerName: stateContainerName
    deploymentContainerName: deploymentContainerName
    recordingsSkuName: recordingsSkuName
    softDeleteDays: recordingsSoftDeleteDays
    versioning: recordingsVersioning
    coolAfterDays: recordingsCoolAfterDays
    coldAfterDays: recordingsColdAfterDays
    coldTier: recordingsColdTier
    deleteAfterDays: recordingsDeleteAfterDays
    immutabilityDays: recordingsImmutabilityDays
    privateNetworking: privateNetworking
    cmkKeyVaultUri: !empty(recordingsKeyName) ? cmk.outputs.keyVaultUri : ''
    cmkKeyName: !empty(recordingsKeyName) ? cmk.outputs.keyName : ''
    cmkIdentityId: !empty(recordingsKeyName) ? cmk.outputs.identityId : ''
    tags: tags
  }
}

// Customer-managed key of the recordings account, with recordingsKeyName
// only: the key, and the identity Storage reads it with.
module cmk 'modules/cmk.bicep' = if (!empty(recordingsKeyName)) {
  name: 'cmk'
  params: {
    location: location
    keyVaultName: keyVault.outputs.name
    keyName: recordingsKeyName
    identityName: '${namePrefix}-cmk-${suffix}'
    tags: tags
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  params: {
    location: location
    namespaceName: '${namePrefix}-sb-${suffix}'
    queueName: queueName
    privateNetworking: privateNetworking
    tags: tags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    location: location
    name: '${namePrefix}-kv-${suffix}'
    privateNetworking: privateNetworking
    tags: tags
  }
}

// Private networking only: the VNet, its DNS zones, and one private endpoint
// per data service.
module network 'modules/network.bicep' = if (privateNetworking) {
  name: 'network'
  params: {
    location: location
    vnetName: '${namePrefix}-vnet-${suffix}'
    addressPrefix: vnetAddressPrefix
    hostingPlan: hostingPlan
    tags: tags
  }
}

module privateEndpoints 'modules/privateendpoints.bicep' = if (privateNetworking) {
  name: 'privateendpoints'
  params: {
    location: location
    namePrefix: '${namePrefix}-${suffix}'
    subnetId: network.outputs.endpointsSubnetId
    hostAccountId: storage.outputs.hostAccountId
    recordingsAccountId: storage.outputs.recordingsAccountId
    keyVaultId: keyVault.outputs.id
    serviceBusNamespaceId: serviceBus.outputs.namespaceId
    blobZoneId: network.outputs.blobZoneId
    vaultZoneId: network.outputs.vaultZoneId
    serviceBusZoneId: network.outputs.serviceBusZoneId
    tags: tags
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  params: {
    principalId: identity.outputs.principalId
    hostStorageAccountName: storage.outputs.hostAccountName
    recordingsStorageAccountName: storage.outputs.recordingsAccountName
    recordingsContainerName: storage.outputs.recordingsContainerName
    stateContainerName: storage.outputs.stateContainerName
    serviceBusNamespaceName: serviceBus.outputs.namespaceName
    queueName: serviceBus.outputs.queueName
    keyVaultName: keyVault.outputs.name
    secretName: secretName
    grantSecretAccess: vccSecretProvisioned
    webhookSecretName: webhookSecretName
    grantWebhookSecretAccess: webhookSecretProvisioned
    tenantSecretNames: tenantSecretNames
    appInsightsName: monitoring.outputs.appInsightsName
    deploymentContainerName: storage.outputs.deploymentContainerName
    // Only Elastic Premium has the deployer upload the package itself.
    deployerPrincipalId: hostingPlan == 'ElasticPremium' ? deployerPrincipalId : ''
    deployerPrincipalType: deployerPrincipalType
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  // The app starts with its roles already assigned, and with private
  // networking, with its services reachable.
  dependsOn: [
    roles
    privateEndpoints
  ]
  params: {
    location: location
    planName: '${namePrefix}-plan-${suffix}'
    appName: '${namePrefix}-func-${suffix}'
    hostingPlan: hostingPlan
    maxInstances: maxInstances
    instanceMemoryMB: instanceMemoryMB
    flexRuntimeVersion: flexRuntimeVersion
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    hostStorageAccountName: storage.outputs.hostAccountName
    hostBlobEndpoint: storage.outputs.hostBlobEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    vccRegion: vccRegion
    vccClientId: vccClientId
    vccRatePerMinute: vccRateBudgetPerMinute
    keyVaultUri: keyVault.outputs.uri
    secretName: secretName
    webhookSecretName: webhookSecretName
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    queueName: serviceBus.outputs.queueName
    recordingsAccountUrl: storage.outputs.recordingsAccountUrl
    recordingsContainerName: storage.outputs.recordingsContainerName
    stateContainerName: storage.outputs.stateContainerName
    discoverSchedule: discoverSchedule
    auditSchedule: auditSchedule
    vccOwnerUserId: vccOwnerUserId
    tenantsBlobName: tenantsBlobName
    appSubnetId: privateNetworking ? network.outputs.appSubnetId : ''
    tags: tags
  }
}

// The audit trail: who read the secret, who read, wrote or deleted a
// recording, what Service Bus did (the app's own logs reach the workspace
// through Application Insights).
module diagnostics 'modules/diagnostics.bicep' = {
  name: 'diagnostics'
  params: {
    workspaceId: monitoring.outputs.workspaceId
    keyVaultName: keyVault.outputs.name
    recordingsAccountName: storage.outputs.recordingsAccountName
    serviceBusNamespaceName: serviceBus.outputs.namespaceName
  }
}

// What reaches an operator without anyone running a command: dead letters,
// audit findings, discover or audit failures (modules/alerts.bicep).
module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    location: location
    namePrefix: '${namePrefix}-${suffix}'
    alertEmail: alertEmail
    serviceBusNamespaceName: serviceBus.outputs.namespaceName
    queueName: serviceBus.outputs.queueName
    appInsightsName: monitoring.outputs.appInsightsName
    tags: tags
  }
}

// With a tenants document: every change of it reaches the operator (whoever
// can write it can redirect a tenant's secret; modules/tenantsalerts.bicep).
module tenantsAlerts 'modules/tenantsalerts.bicep' = if (!empty(tenantsBlobName)) {
  name: 'tenantsalerts'
  params: {
    location: location
    namePrefix: '${namePrefix}-${suffix}'
    workspaceId: monitoring.outputs.workspaceId
    appInsightsName: monitoring.outputs.appInsightsName
    recordingsAccountName: storage.outputs.recordingsAccountName
    stateContainerName: storage.outputs.stateContainerName
    tenantsBlobName: tenantsBlobName
    actionGroupId: alerts.outputs.actionGroupId
    tags: tags
  }
}

// The operations workbook over the same telemetry (modules/workbook.bicep).
module workbook 'modules/workbook.bicep' = if (deployWorkbook) {
  name: 'workbook'
  params: {
    location: location
    appInsightsName: monitoring.outputs.appInsightsName
    tags: tags
  }
}

// Optional: an Event Grid notice for each interaction.json written
// (modules/eventgrid.bicep).
module downstream 'modules/eventgrid.bicep' = if (!empty(downstreamNotice)) {
  name: 'downstream'
  params: {
    location: location
    recordingsAccountName: storage.outputs.recordingsAccountName
    recordingsContainerName: storage.outputs.recordingsContainerName
    destination: empty(downstreamNotice) ? 'ServiceBusQueue' : downstreamNotice
    serviceBusNamespaceName: serviceBus.outputs.namespaceName
    queueName: downstreamQueueName
    webhookUrl: downstreamWebhookUrl
    tags: tags
  }
}

output functionAppName string = functionApp.outputs.name
output functionAppId string = functionApp.outputs.id
output hostingPlan string = hostingPlan
output keyVaultName string = keyVault.outputs.name
output keyVaultUri string = keyVault.outputs.uri
output secretName string = secretName
output secretAccessGranted bool = vccSecretProvisioned
output webhookSecretName string = webhookSecretName
output webhookSecretAccessGranted bool = webhookSecretProvisioned
// Where the customer's VCC admin points the webhook subscription.
output eventsUrl string = functionApp.outputs.eventsUrl
output serviceBusNamespace string = serviceBus.outputs.fullyQualifiedNamespace
output queueName string = serviceBus.outputs.queueName
output hostStorageAccountName string = storage.outputs.hostAccountName
output deploymentContainerName string = storage.outputs.deploymentContainerName
output recordingsAccountUrl string = storage.outputs.recordingsAccountUrl
output privateNetworking bool = privateNetworking
output alertActionGroupId string = alerts.outputs.actionGroupId
// Where the downstream notices go ('' when off or sent to a webhook).
output downstreamQueueName string = downstreamNotice == 'ServiceBusQueue' ? downstream.outputs.queueName : ''
