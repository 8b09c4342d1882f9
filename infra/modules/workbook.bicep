// The operations workbook: per tenant and per day, what was stored and by
// which path, how long invocations and webhook answers take, the VCC
// budget, deferrals and dead letters, the audit's findings and the
// failures with their reasons. Its queries read the handler's JSON log
// lines and the host's invocations in the Application Insights component
// (workbook.json; infra/README.md, "Workbook"); infra/workbook_test.go runs
// them over the handler's real lines.
//
// A workbook's name must be a GUID; a fixed one per resource group makes a
// redeployment update it in place instead of failing on its display name.

@description('Azure region of the workbook.')
param location string

@description('Application Insights component the workbook reads and is attached to.')
param appInsightsName string

@description('Display name of the workbook.')
param displayName string = 'vcc-ingest operations'

@description('Tags applied to every resource.')
param tags object = {}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, 'vcc-ingest-operations')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: appInsights.id
    version: 'Notebook/1.0'
    // The queries run on the component it is attached to.
    serializedData: replace(loadTextContent('workbook.json'), '__APP_INSIGHTS_ID__', appInsights.id)
  }
}

output workbookId string = workbook.id
