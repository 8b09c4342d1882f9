// Production: up to 40 ingest instances (the lowest cap every Flex region
// accepts) booking 140 of the account's 160 requests a minute in one budget
// (20 left for other integrations of the account).
using '../main.bicep'

param namePrefix = 'vccingest'
param vccRegion = 'emea'
param vccClientId = '<VCC API client id>'
param discoverSchedule = '0 */15 * * * *'
param hostingPlan = 'FlexConsumption'
param maxInstances = 40
param vccRateBudgetPerMinute = 140
param recordingsSkuName = 'Standard_ZRS'
param tags = {
  application: 'vcc-ingest'
  environment: 'prod'
}
// Who is told when an alert fires (infra/README.md, Alerts). Without it the
// rules still fire in Azure Monitor, but nobody is told: set it for
// production.
// param alertEmail = 'operations@example.com'
// Storage, Key Vault and Service Bus reachable only through private
// endpoints, the app's outbound traffic through a VNet; Service Bus becomes
// Premium (about $670 a month more). Read infra/README.md, "Private
// networking", before switching an existing deployment.
// param privateNetworking = true
// The recordings encrypted under a key of the deployment's Key Vault
// (infra/README.md, "Customer-managed key for the recordings").
// param recordingsKeyName = 'recordings-key'
