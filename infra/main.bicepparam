// Example parameters: copy, fill in vccClientId, deploy with
//   infra/deploy.sh <resource-group> infra/main.bicepparam
using './main.bicep'

param namePrefix = 'vccingest'
param vccRegion = 'emea'
param vccClientId = '<VCC API client id>'
param discoverSchedule = '0 */15 * * * *'
param hostingPlan = 'FlexConsumption'
param maxInstances = 40
param vccRateBudgetPerMinute = 160
// Who is told when an alert fires (infra/README.md, Alerts). Without it the
// rules still fire in Azure Monitor, but nobody is told: set it for
// production.
// param alertEmail = 'operations@example.com'
