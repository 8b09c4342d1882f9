// Service Bus namespace and the interactions queue.
//
// Standard tier: duplicate detection needs Standard or Premium, and one queue
// does not justify Premium, unless the namespace must be private: private
// endpoints and network rules are Premium only, so privateNetworking picks
// Premium (one messaging unit). Local (SAS key) authentication is switched
// off: only Microsoft Entra identities holding a data role can send or
// receive.

@description('Azure region.')
param location string

@description('Namespace name (6-50 characters).')
@minLength(6)
@maxLength(50)
param namespaceName string

@description('Queue of interactions to ingest (INTERACTIONS_QUEUE).')
param queueName string

@description('Private networking (main.bicep): Premium, reachable only through its private endpoint.')
param privateNetworking bool = false

@description('Tags applied to every resource.')
param tags object = {}

var standardSku = {
  name: 'Standard'
  tier: 'Standard'
}

var premiumSku = {
  name: 'Premium'
  tier: 'Premium'
  capacity: 1
}

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: namespaceName
  location: location
  tags: tags
  sku: privateNetworking ? premiumSku : standardSku
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
  }
}

// The namespace firewall: nothing public gets in; trusted services (Azure
// Monitor's diagnostic settings) still do.
resource networkRules 'Microsoft.ServiceBus/namespaces/networkRuleSets@2024-01-01' = if (privateNetworking) {
  parent: namespace
  name: 'default'
  properties: {
    publicNetworkAccess: 'Disabled'
    defaultAction: 'Deny'
    trustedServiceAccessEnabled: true
    ipRules: []
    virtualNetworkRules: []
  }
}

resource queue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: queueName
  properties: {
    // The longest lock Service Bus allows; the Functions host renews it while
    // a long recording copy runs (host.json maxAutoLockRenewalDuration).
    lockDuration: 'PT5M'
    // Must equal INGEST_MAX_ATTEMPTS in functionapp.bicep: after this many
    // deliveries Service Bus dead-letters with MaxDeliveryCountExceeded.
    maxDeliveryCount: 10
    // discover sends MessageId = interaction guid and re-lists an overlap
    // (DISCOVER_OVERLAP, 6h) before its checkpoint on every run, so the same
    // interaction is offered several times; one day of history drops every
    // such repeat. Replay of a dead letter must use a new MessageId.
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'P1D'
    // A message that waits this long without being ingested goes to the
    // dead-letter queue (and so is visible to replay) instead of vanishing.
    defaultMessageTimeToLive: 'P14D'
    deadLetteringOnMessageExpiration: true
    requiresSession: false
    enableBatchedOperations: true
    enablePartitioning: false
    maxSizeInMegabytes: 1024
  }
}

output namespaceName string = namespace.name
output namespaceId string = namespace.id
// Host name only (<ns>.servicebus.windows.net), the form the Functions
// Service Bus extension and azservicebus expect.
output fullyQualifiedNamespace string = split(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':')[0]
output queueName string = queue.name
