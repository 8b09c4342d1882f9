// The Function App: a Linux custom handler (the Go binary `handler`) with the
// user-assigned identity, identity-based connections only, and exactly the
// application settings the code reads (see local.settings.sample.json and
// shared/config). No connection string or key appears here.

@description('Azure region.')
param location string

@description('Hosting plan name.')
param planName string

@description('Function App name.')
param appName string

@description('FlexConsumption (default) or ElasticPremium; infra/README.md explains the choice.')
@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param hostingPlan string

@description('Scale-out cap: Flex maximumInstanceCount (per function group) or EP maximumElasticWorkerCount.')
@minValue(1)
@maxValue(1000)
param maxInstances int

@description('Flex Consumption instance memory in MB; main.bicep says why 512.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 512

@description('Flex Consumption runtime version for name "custom" (check: az functionapp list-flexconsumption-runtimes -l <region> --runtime custom).')
param flexRuntimeVersion string = '1.0'

@description('Resource id of the user-assigned identity.')
param identityId string

@description('Client id of the user-assigned identity.')
param identityClientId string

@description('Functions host storage account name.')
param hostStorageAccountName string

@description('Blob endpoint of the host storage account (ends with /).')
param hostBlobEndpoint string

@description('Container in the host account holding the deployment package.')
param deploymentContainerName string

@description('Application Insights connection string (identifies the component; grants nothing with local auth off).')
param appInsightsConnectionString string

@description('VCC region: emea, nam or apac.')
param vccRegion string

@description('OAuth client id of the VCC API credential.')
param vccClientId string

@description('The VCC account\'s whole budget of requests per minute: every process books its calls in the one budget in the state container, so none is divided per instance.')
@minValue(1)
param vccRatePerMinute int

@description('Key Vault URI holding the VCC client secret.')
param keyVaultUri string

@description('Name of the VCC client secret in Key Vault.')
param secretName string

@description('Name of the VCC webhook secret in Key Vault.')
param webhookSecretName string

@description('Fully qualified Service Bus namespace (<ns>.servicebus.windows.net).')
param serviceBusFullyQualifiedNamespace string

@description('Queue of interactions.')
param queueName string

@description('https://<account>.blob.core.windows.net of the recordings account.')
param recordingsAccountUrl string

@description('Container for recordings.')
param recordingsContainerName string

@description('Container for checkpoint, run records and failure records.')
param stateContainerName string

@description('Six-field NCRONTAB schedule of discover.')
param discoverSchedule string

@description('Six-field NCRONTAB schedule of audit.')
param auditSchedule string

@description('User Admin user id of the VCC credential owner (may be empty).')
param vccOwnerUserId string

@description('Name of the tenants document in the state container (e.g. tenants.json): the app serves every tenant it lists and re-reads it when it changes. Empty: the one VCC account of the VCC_* settings, and no tenants setting at all.')
param tenantsBlobName string = ''

@description('Private networking (main.bicep): resource id of the delegated subnet the app sends its outbound traffic through; empty: no VNet integration.')
param appSubnetId string = ''

@description('Tags applied to every resource.')
param tags object = {}

var isFlex = hostingPlan == 'FlexConsumption'

// Settings the product code reads (shared/config). Names are identical to
// local.settings.sample.json. Not set here, on purpose:
// VCC_CLIENT_SECRET and VCC_WEBHOOK_SECRET (local only: in Azure both come
// from Key Vault),
// RECORDINGS_CONNECTION_STRING (local Azurite only), VCC_TOKEN_URL and
// VCC_API_URL (derived from VCC_REGION), FUNCTIONS_CUSTOMHANDLER_PORT (set by
// the Functions host).
var productSettings = {
  VCC_REGION: vccRegion
  VCC_CLIENT_ID: vccClientId
  KEY_VAULT_URI: keyVaultUri
  VCC_CLIENT_SECRET_NAME: secretName
  VCC_RATE_PER_MINUTE: string(vccRatePerMinute)
  VCC_PAGE_SIZE: '1000'
  VCC_AUDIO_TYPES: 'callRecording,voicemail,ivrAudioRecording'
  AZURE_CLIENT_ID: identityClientId
  ServiceBusConnection__fullyQualifiedNamespace: serviceBusFullyQualifiedNamespace
  INTERACTIONS_QUEUE: queueName
  RECORDINGS_ACCOUNT_URL: recordingsAccountUrl
  RECORDINGS_CONTAINER: recordingsContainerName
  STATE_CONTAINER: stateContainerName
  DISCOVER_SCHEDULE: discoverSchedule
  DISCOVER_LOOKBACK: '24h'
  DISCOVER_OVERLAP: '6h'
  DISCOVER_SETTLE: '10m'
  // Must equal the queue's maxDeliveryCount (servicebus.bicep).
  INGEST_MAX_ATTEMPTS: '10'
  INGEST_DEFERRAL_HORIZON: '24h'
  AUDIT_SCHEDULE: auditSchedule
  AUDIT_DAYS: '2'
  VCC_OWNER_USER_ID: vccOwnerUserId
  VCC_WEBHOOK_SECRET_NAME: webhookSecretName
  VCC_WEBHOOK_EVENTS: 'channel.disconnected'
  WEBHOOK_SWEEP: '20s'
  WEBHOOK_SETTLE: '10s'
  WEBHOOK_POLL_HORIZON: '2h'
}

// With a tenants document only (tenantsBlobName): where it is and how often
// the app looks at it again. The tenants themselves are in the document,
// so nothing here grows with their number.
var tenantsDocumentSettings = {
  VCC_TENANTS_BLOB: tenantsBlobName
  VCC_TENANTS_REFRESH: '1m'
}

// Settings the Functions host reads: identity-based connections for its own
// storage and for the Service Bus trigger (same ServiceBusConnection prefix
// the code reads the namespace from), and Entra-authenticated telemetry.
var hostSettings = {
  AzureWebJobsStorage__accountName: hostStorageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

// Elastic Premium only. Flex Consumption rejects these: its runtime and
// deployment source live in functionAppConfig instead. The package is run
// from a blob URL read with the managed identity, which avoids the Azure
// Files content share (Azure Files would need an account key).
var premiumSettings = {
  FUNCTIONS_EXTENSION_VERSION: '~4'
  FUNCTIONS_WORKER_RUNTIME: 'custom'
  WEBSITE_RUN_FROM_PACKAGE: '${hostBlobEndpoint}${deploymentContainerName}/app.zip'
  WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID: identityId
}

// Plan and site shapes per hosting plan. Kept as variables so each property
// below is a one-line choice.
var flexSku = {
  name: 'FC1'
  tier: 'FlexConsumption'
}

var premiumSku = {
  name: 'EP1'
  tier: 'ElasticPremium'
}

var flexPlanProperties = {
  reserved: true
}

var premiumPlanProperties = {
  reserved: true
  // Hard cap on instances for the whole plan: the VCC budget is divided by it.
  maximumElasticWorkerCount: maxInstances
}

var commonSiteConfig = {
  ftpsState: 'Disabled'
  minTlsVersion: '1.2'
  scmMinTlsVersion: '1.2'
  http20Enabled: true
  remoteDebuggingEnabled: false
}

var premiumSiteConfig = {
  linuxFxVersion: ''
  // Per-app cap inside the plan, same value as the plan's cap.
  functionAppScaleLimit: maxInstances
  minimumElasticInstanceCount: 1
}

// Elastic Premium in a VNet: every outbound call through it (Flex routes
// everything already), and the scale controller reads the private Service
// Bus queue through the app's runtime instead of from outside.
var premiumVnetSiteConfig = {
  vnetRouteAllEnabled: true
  functionsRuntimeScaleMonitoringEnabled: true
}

var flexFunctionAppConfig = {
  deployment: {
    storage: {
      type: 'blobContainer'
      value: '${hostBlobEndpoint}${deploymentContainerName}'
      authentication: {
        type: 'UserAssignedIdentity'
        userAssignedIdentityResourceId: identityId
      }
    }
  }
  scaleAndConcurrency: {
    // Applies to each per-function scale group: on Flex, ingest (Service Bus)
    // and discover (timer) scale on separate instances.
    maximumInstanceCount: maxInstances
    instanceMemoryMB: instanceMemoryMB
  }
  runtime: {
    name: 'custom'
    version: flexRuntimeVersion
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: isFlex ? 'functionapp' : 'elastic'
  sku: isFlex ? flexSku : premiumSku
  properties: isFlex ? flexPlanProperties : premiumPlanProperties
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    siteConfig: union(commonSiteConfig, isFlex ? {} : premiumSiteConfig, isFlex || empty(appSubnetId) ? {} : premiumVnetSiteConfig)
    functionAppConfig: isFlex ? flexFunctionAppConfig : null
    // Outbound only: inbound stays public, so VCC reaches the webhook
    // (anonymous, verified by its signature: functions/server.go).
    virtualNetworkSubnetId: empty(appSubnetId) ? null : appSubnetId
  }
}

// Replaces the whole settings collection, so nothing set by hand survives a
// deployment and the list stays exactly what this file declares.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: app
  name: 'appsettings'
  properties: union(productSettings, empty(tenantsBlobName) ? {} : tenantsDocumentSettings, hostSettings, isFlex ? {} : premiumSettings)
}

// No publishing user name/password: deployment authenticates with Microsoft
// Entra (az CLI login) only.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

output name string = app.name
output id string = app.id
output defaultHostName string = app.properties.defaultHostName
// The events function (functions/events/function.json: route vcc/events,
// authLevel anonymous: the VCC signature is the authentication), HTTPS
// only (httpsOnly above).
output eventsUrl string = 'https://${app.properties.defaultHostName}/api/vcc/events'
