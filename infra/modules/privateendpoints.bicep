// Private endpoints of the data services (main.bicep privateNetworking), in
// the VNet's endpoints subnet, each registering its A record in the
// service's private DNS zone (network.bicep).
//
// | endpoint   | target                   | group     | zone |
// |------------|--------------------------|-----------|------|
// | host-blob  | host storage account     | blob      | privatelink.blob |
// | rec-blob   | recordings account       | blob      | privatelink.blob |
// | vault      | Key Vault                | vault     | privatelink.vaultcore.azure.net |
// | servicebus | Service Bus (Premium)    | namespace | privatelink.servicebus.windows.net |
//
// The two accounts share the blob zone: two resources, two names, two A
// records. The Function App gets no endpoint: the webhook stays public,
// guarded by its signature, and VNet integration carries its outbound calls.

@description('Azure region.')
param location string

@description('Prefix of the endpoint names.')
param namePrefix string

@description('Resource id of the subnet that holds the endpoints.')
param subnetId string

@description('Resource id of the host storage account.')
param hostAccountId string

@description('Resource id of the recordings storage account.')
param recordingsAccountId string

@description('Resource id of the Key Vault.')
param keyVaultId string

@description('Resource id of the Service Bus namespace (Premium).')
param serviceBusNamespaceId string

@description('Resource id of the privatelink.blob zone.')
param blobZoneId string

@description('Resource id of the privatelink.vaultcore.azure.net zone.')
param vaultZoneId string

@description('Resource id of the privatelink.servicebus.windows.net zone.')
param serviceBusZoneId string

@description('Tags applied to every resource.')
param tags object = {}

var endpoints = [
  {
    name: 'host-blob'
    target: hostAccountId
    group: 'blob'
    zone: blobZoneId
  }
  {
    name: 'rec-blob'
    target: recordingsAccountId
    group: 'blob'
    zone: blobZoneId
  }
  {
    name: 'vault'
    target: keyVaultId
    group: 'vault'
    zone: vaultZoneId
  }
  {
    name: 'servicebus'
    target: serviceBusNamespaceId
    group: 'namespace'
    zone: serviceBusZoneId
  }
]

resource endpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = [
  for e in endpoints: {
    name: '${namePrefix}-pe-${e.name}'
    location: location
    tags: tags
    properties: {
      subnet: {
        id: subnetId
      }
      privateLinkServiceConnections: [
        {
          name: e.name
          properties: {
            privateLinkServiceId: e.target
            groupIds: [
              e.group
            ]
          }
        }
      ]
    }
  }
]

resource dnsGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [
  for (e, i) in endpoints: {
    parent: endpoint[i]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: e.group
          properties: {
            privateDnsZoneId: e.zone
          }
        }
      ]
    }
  }
]

// What the tests and an operator check: one endpoint per data service.
output endpointNames array = [for (e, i) in endpoints: endpoint[i].name]
