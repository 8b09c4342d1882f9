// Downstream notice (optional): tells a downstream system when an
// interaction is complete in Blob Storage. Ingest writes the
// interaction.json sidecar last, after every recording of the interaction
// is committed, so its BlobCreated event means "this interaction's
// recordings are all there" (infra/README.md, "Downstream notice").
//
// An Event Grid system topic on the recordings account (one per account:
// Azure allows no second), and one subscription to it filtered to
// BlobCreated of .../interaction.json in the recordings container, that
// delivers either
//   - to a queue of this deployment's Service Bus namespace, created here,
//     with the topic's own identity holding Azure Service Bus Data Sender
//     on that queue only (Service Bus refuses SAS here: local auth is off);
//   - or to a webhook the customer names (its URL is a secure parameter:
//     it may carry the endpoint's key). Event Grid validates the endpoint
//     when the subscription is created, so it must answer then.

@description('Azure region (the recordings account\'s: a system topic lives with its source).')
param location string

@description('Recordings storage account name: the source of the events.')
param recordingsAccountName string

@description('Container whose interaction.json sidecars are announced.')
param recordingsContainerName string

@description('Where the notice goes: ServiceBusQueue (a queue of this deployment\'s namespace) or WebHook.')
@allowed([
  'ServiceBusQueue'
  'WebHook'
])
param destination string

@description('Service Bus namespace of the app (ServiceBusQueue).')
param serviceBusNamespaceName string = ''

@description('Queue the notices are sent to (ServiceBusQueue); created here, not the app\'s interactions queue.')
param queueName string = ''

@description('HTTPS endpoint the notices are posted to (WebHook); it must answer Event Grid\'s validation handshake when deployed.')
@secure()
param webhookUrl string = ''

@description('Tags applied to every resource.')
param tags object = {}

var toQueue = destination == 'ServiceBusQueue'
var serviceBusDataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'

// What the subscription lets through: only the sidecar, only when written
// (created or replaced), only in the recordings container. Subjects are
// /blobServices/default/containers/<container>/blobs/<blob name>.
var filter = {
  includedEventTypes: [
    'Microsoft.Storage.BlobCreated'
  ]
  subjectBeginsWith: '/blobServices/default/containers/${recordingsContainerName}/blobs/'
  subjectEndsWith: '/interaction.json'
  isSubjectCaseSensitive: true
}

// A day of retries, as VCC gives its own webhooks; what is still
// undelivered then is dropped (the recordings stay; the consumer can list
// the sidecars of the day).
var retryPolicy = {
  maxDeliveryAttempts: 30
  eventTimeToLiveInMinutes: 1440
}

resource recordingsAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: recordingsAccountName
}

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: '${recordingsAccountName}-events'
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: recordingsAccount.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = if (toQueue) {
  name: serviceBusNamespaceName
}

// The consumer's queue: Event Grid's MessageId is the event's id, the same
// on every redelivery, so a day of duplicate detection (the events' time to
// live) keeps one message per event.
resource queue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = if (toQueue) {
  parent: namespace
  name: queueName
  properties: {
    lockDuration: 'PT1M'
    maxDeliveryCount: 10
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'P1D'
    defaultMessageTimeToLive: 'P14D'
    deadLetteringOnMessageExpiration: true
    requiresSession: false
    enablePartitioning: false
    maxSizeInMegabytes: 1024
  }
}

resource topicSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (toQueue) {
  name: guid(queue.id, topic.id, serviceBusDataSender)
  scope: queue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSender)
    principalId: topic.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource toServiceBus 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (toQueue) {
  parent: topic
  name: 'interaction-complete-to-queue'
  // Event Grid checks its right to send when the subscription is created.
  dependsOn: [
    topicSender
  ]
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    filter: filter
    retryPolicy: retryPolicy
    deliveryWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      destination: {
        endpointType: 'ServiceBusQueue'
        properties: {
          resourceId: queue.id
        }
      }
    }
  }
}

resource toWebhook 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (!toQueue) {
  parent: topic
  name: 'interaction-complete-to-webhook'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    filter: filter
    retryPolicy: retryPolicy
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: webhookUrl
        maxEventsPerBatch: 1
      }
    }
  }
}

output systemTopicName string = topic.name
output queueName string = toQueue ? queue.name : ''
