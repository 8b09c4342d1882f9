// Development: the cap every Flex region accepts (the budget is shared, so
// the cap costs nothing while idle), a small VCC budget so a
// production deployment on the same VCC account keeps most of it.
using '../main.bicep'

param namePrefix = 'vccidev'
param vccRegion = 'emea'
param vccClientId = '<VCC API client id for dev>'
param discoverSchedule = '0 */15 * * * *'
param hostingPlan = 'FlexConsumption'
param maxInstances = 40
param vccRateBudgetPerMinute = 20
param tags = {
  application: 'vcc-ingest'
  environment: 'dev'
}
