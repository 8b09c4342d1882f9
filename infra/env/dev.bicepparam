// Development: one ingest instance, a small share of the VCC budget so a
// production deployment on the same VCC account keeps most of it.
using '../main.bicep'

param namePrefix = 'vccidev'
param vccRegion = 'emea'
param vccClientId = '<VCC API client id for dev>'
param discoverSchedule = '0 */15 * * * *'
param hostingPlan = 'FlexConsumption'
param maxInstances = 1
param vccRateBudgetPerMinute = 20
param instanceMemoryMB = 2048
param tags = {
  application: 'vcc-ingest'
  environment: 'dev'
}
