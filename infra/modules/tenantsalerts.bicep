// Alerts on the tenants document (main.bicep tenantsBlobName): whoever can
// write it decides where each tenant's client secret is sent (its
// tokenUrl) and which VCC account is copied, so the operator hears of every
// change. Two signals, independent of each other:
//
// | rule                     | signal                                                           | scope |
// |--------------------------|------------------------------------------------------------------|-------|
// | tenants-document-written | a successful write or delete of the blob (StorageBlobLogs)       | the Log Analytics workspace |
// | tenants-document-loaded  | the app serving a version it had not served before (its log line) | the Application Insights component |
//
// The first names the writer (object id, IP, authentication) and fires even
// when the app is stopped; the second shows what the app actually serves.
// Both are stateless: every change notifies. infra/README.md, "Alerts".

@description('Azure region of the rules.')
param location string

@description('Short name prefix of the rules.')
param namePrefix string

@description('Resource id of the Log Analytics workspace holding the recordings account\'s blob logs (diagnostics.bicep).')
param workspaceId string

@description('Application Insights component name.')
param appInsightsName string

@description('Recordings storage account name (it holds the state container).')
param recordingsAccountName string

@description('State container (vcc-ingest-state).')
param stateContainerName string

@description('Name of the tenants document in the state container.')
@minLength(1)
param tenantsBlobName string

@description('Action group to notify (alerts.bicep); empty: the rules fire without notifying anyone.')
param actionGroupId string = ''

@description('Tags applied to every resource.')
param tags object = {}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

var actions = empty(actionGroupId)
  ? {}
  : {
      actionGroups: [
        actionGroupId
      ]
    }

// KQL string literals of the names (a name cannot break out of its quotes).
var blobKey = replace(replace('/${recordingsAccountName}/${stateContainerName}/${tenantsBlobName}', '\\', '\\\\'), '"', '\\"')
var documentName = replace(replace(tenantsBlobName, '\\', '\\\\'), '"', '\\"')

// StorageBlobLogs (categories StorageWrite and StorageDelete of the
// recordings account's blob service, diagnostics.bicep): every request that
// wrote or deleted the document, whatever its operation (PutBlob,
// PutBlockList, CopyBlob, SetBlobMetadata, DeleteBlob, ...). ObjectKey is
// /<account>/<container>/<blob>, URL-encoded.
var writtenQuery = '''
StorageBlobLogs
| where Category in ("StorageWrite", "StorageDelete")
| where url_decode(ObjectKey) == tenantsBlobKey
| where toint(StatusCode) between (200 .. 299)
| project TimeGenerated, OperationName, StatusCode, RequesterObjectId, RequesterUpn, AuthenticationType, CallerIpAddress, UserAgentHeader
'''

// shared/livetenants logs "tenants document loaded" (document, version,
// tenants) each time a process serves a version: at its first read and
// after every change. A version first seen in the last 15 minutes of two
// days' lines is a change (or the first deployment); one that every new
// instance logs again is not.
var loadedQuery = '''
traces
| where message contains "tenants document loaded"
| extend e = parse_json(substring(message, indexof(message, "{")))
| where tostring(e.msg) == "tenants document loaded" and tostring(e.document) == tenantsDocument
| summarize firstServed = min(timestamp), tenants = take_any(toint(e.tenants)) by version = tostring(e.version)
| where firstServed > ago(15m)
'''

resource written 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-tenants-document-written'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: '${namePrefix}: tenants document written'
    description: 'The tenants document ${tenantsBlobName} was written or deleted: check who did it (RequesterObjectId) and what changed. See infra/README.md, Alerts.'
    severity: 1
    enabled: true
    scopes: [
      workspaceId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    autoMitigate: false
    criteria: {
      allOf: [
        {
          query: 'let tenantsBlobKey = "${blobKey}";${writtenQuery}'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: actions
  }
}

resource loaded 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-tenants-document-loaded'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: '${namePrefix}: new tenants document served'
    description: 'The app serves a version of the tenants document ${tenantsBlobName} it had not served before. See infra/README.md, Alerts.'
    severity: 2
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    // Two days of lines, so that a version already served is known.
    overrideQueryTimeRange: 'P2D'
    autoMitigate: false
    criteria: {
      allOf: [
        {
          query: 'let tenantsDocument = "${documentName}";${loadedQuery}'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: actions
  }
}

output writtenAlertId string = written.id
output loadedAlertId string = loaded.id
