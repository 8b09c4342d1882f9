// The private network (main.bicep privateNetworking): one VNet, two subnets,
// and the private DNS zones the app resolves the data services through.
//
// | subnet    | holds                                  | why apart |
// |-----------|----------------------------------------|-----------|
// | app       | the Function App's outbound traffic    | Flex needs it delegated to Microsoft.App/environments (Elastic Premium: Microsoft.Web/serverFarms) and reserved to the app: no private endpoint may sit in it |
// | endpoints | the private endpoints of the data services | (privateendpoints.bicep) |
//
// Each zone is linked to the VNet without auto-registration: the private
// endpoints' DNS zone groups write the A records, and the app (which uses
// the VNet's Azure-provided DNS) resolves <account>.blob.core.windows.net,
// <vault>.vault.azure.net and <ns>.servicebus.windows.net to them.
// Inbound traffic to the app is untouched: VNet integration is outbound only.

@description('Azure region (the app and its VNet must share it).')
param location string

@description('VNet name.')
param vnetName string

@description('Address space of the VNet, at least a /25: the app subnet takes its first /26, the endpoints subnet the next /27.')
param addressPrefix string

@description('FlexConsumption or ElasticPremium: picks the app subnet\'s delegation.')
@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param hostingPlan string

@description('Tags applied to every resource.')
param tags object = {}

// Subnet names must not contain '_' on Flex.
var appSubnetName = 'app'
var endpointsSubnetName = 'endpoints'

// Flex integrates through Container Apps' infrastructure; Elastic Premium
// through the App Service plan.
var appDelegation = hostingPlan == 'FlexConsumption' ? 'Microsoft.App/environments' : 'Microsoft.Web/serverFarms'

// The zones of the data services, public cloud names (privatelink.<the
// service's DNS suffix>). The host account needs blob only: no queue or
// Durable trigger, and its Table diagnostic events are not granted anyway
// (infra/README.md, Private networking).
// Order matters: the outputs below index it.
var zoneNames = [
  'privatelink.blob.${environment().suffixes.storage}'
  'privatelink.vaultcore.azure.net'
  'privatelink.servicebus.windows.net'
]

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: vnetName
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    // Declared inline: a redeployment that omitted them would delete them.
    subnets: [
      {
        // A /26: Flex uses up to 27 outbound addresses of it, Linux
        // Elastic Premium wants a /26.
        name: appSubnetName
        properties: {
          addressPrefix: cidrSubnet(addressPrefix, 26, 0)
          delegations: [
            {
              name: 'app'
              properties: {
                serviceName: appDelegation
              }
            }
          ]
        }
      }
      {
        name: endpointsSubnetName
        properties: {
          addressPrefix: cidrSubnet(addressPrefix, 27, 2)
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' = [
  for z in zoneNames: {
    name: z
    location: 'global'
    tags: tags
  }
]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [
  for (z, i) in zoneNames: {
    parent: zones[i]
    name: vnetName
    location: 'global'
    tags: tags
    properties: {
      virtualNetwork: {
        id: vnet.id
      }
      registrationEnabled: false
    }
  }
]

output vnetId string = vnet.id
output appSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, appSubnetName)
output endpointsSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, endpointsSubnetName)
output blobZoneId string = zones[0].id
output vaultZoneId string = zones[1].id
output serviceBusZoneId string = zones[2].id
