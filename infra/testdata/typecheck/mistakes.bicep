// Test input of TestTypeCheckCatchesMistakes: each line marked "want" must
// get an error matching the pattern, and no other line any. Never deployed
// (bicepFiles skips testdata/).

param location string = 'westeurope'

@allowed([
  'Hot'
  'Lukewarm' // want: Lukewarm is not one of 'Hot' \| 'Cool'
])
param tier string = 'Hot'

@minValue(0)
@maxValue(400) // want: parameter retention allows 400, outside int 1..365
param retention int = 7

var containerAccess = 'Private' // want: Private is not one of 'Container' \| 'Blob' \| 'None'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'vccingesttypecheck'
  location: location
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowSharedKeyAcess: false // want: unknown property allowSharedKeyAcess
    primaryEndpoints: {} // want: property primaryEndpoints .* is read-only
    accessTier: tier
    supportsHttpsTrafficOnly: 'yes' // want: a string where bool is expected
  }
}

resource blob 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    // The guard lifts the parameter's lower bound of 0 to 1: no error here.
    deleteRetentionPolicy: retention > 0 ? { enabled: true, days: retention } : { enabled: false }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 0 // want: 0 outside int 1..365
    }
  }
}

resource recordings 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blob
  name: 'recordings'
  properties: {
    publicAccess: containerAccess
  }
}

resource state 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blob
  name: 'state'
  properties: {
    publicAccess: true ? 'None' : 'Public' // want: Public is not one of
  }
}

resource queue 'Microsoft.ServiceBus/namespaces/queues@2024-02-30' = { // want: has no API version 2024-02-30 \(Azure publishes .*2024-01-01
  name: 'sb/interactions'
  properties: {}
}

resource endpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = {
  name: 'pe'
  location: 'westeurope'
  properties: {
    subnet: {
      id: 'subnet'
    }
    privateLinkServiceConnections: [
      {
        name: 'blob'
        properties: {
          privateLinkServiceId: 'account'
          groupId: 'blob' // want: unknown property groupId
        }
      }
    ]
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: 'vnet'
  location: 'westeurope'
  properties: {
    subnets: [
      {
        name: 'endpoints'
        properties: {
          addressPrefix: 24 // want: a number where string
        }
      }
    ]
  }
}
