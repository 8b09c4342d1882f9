// The one user-assigned managed identity the Function App runs as. It is
// created before the app so its role assignments (roles.bicep) exist, and
// have had time to propagate, by the time the app first starts.

@description('Azure region.')
param location string

@description('Identity name.')
param name string

@description('Tags applied to every resource.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
