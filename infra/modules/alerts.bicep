// Alerts: what reaches an operator without anyone running a command.
//
// | rule                  | signal                                                        | scope |
// |-----------------------|---------------------------------------------------------------|-------|
// | dead letters          | Service Bus metric DeadletteredMessages, EntityName = queue   | the Service Bus namespace |
// | audit findings        | the audit's structured event with gaps or a permission problem | the Application Insights component |
// | discover/audit failed | the handler's error lines of those functions, failed invocations | the Application Insights component |
// | webhooks not accepted | the events function's "webhook not accepted" error lines (5xx), and events requests the host failed | the Application Insights component |
//
// What fires each rule and what to do then: infra/README.md, "Alerts".
//
// The rules are always created; the action group only when alertEmail is
// set. Without it the rules still fire and show in Azure Monitor > Alerts
// (and in the Function App's Alerts blade), so detection never depends on an
// optional parameter; only the notification does.
//
// The log rules query Application Insights (workspace-based, so the data
// lives in the workspace; queried through the component with the classic
// table names: traces, requests). The custom handler's stdout and stderr
// lines reach traces.message as the host read them: one JSON object per line
// (shared/logging), whatever the host's severity for it. The queries parse
// the JSON from its first '{', so a prefix the host might add does not
// matter.

@description('Azure region of the log alert rules (the Application Insights component\'s).')
param location string

@description('Short name prefix of the rules and the action group.')
param namePrefix string

@description('E-mail address that receives every alert; empty: no action group, the rules fire without notifying anyone.')
param alertEmail string = ''

@description('Service Bus namespace name.')
param serviceBusNamespaceName string

@description('The interactions queue (the metric alert\'s EntityName dimension).')
param queueName string

@description('Application Insights component name (the log alerts\' scope).')
param appInsightsName string

@description('Tags applied to every resource.')
param tags object = {}

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: '${namePrefix}-alerts'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: take(namePrefix, 12)
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var metricActions = empty(alertEmail)
  ? []
  : [
      {
        actionGroupId: actionGroup.id
      }
    ]

var logActions = empty(alertEmail)
  ? {}
  : {
      actionGroups: [
        actionGroup.id
      ]
    }

// A message on the dead-letter queue is a recording ingest gave up on (or one
// that waited 14 days). DeadletteredMessages counts what is there now, so the
// alert stays fired until the operator replays or removes them.
resource deadLetters 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-dead-letters'
  location: 'global'
  tags: tags
  properties: {
    description: 'Messages on the dead-letter queue of ${queueName}: recordings not copied. See infra/README.md, Alerts.'
    severity: 1
    enabled: true
    scopes: [
      namespace.id
    ]
    targetResourceType: 'Microsoft.ServiceBus/namespaces'
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'deadLetteredMessages'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                queueName
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    actions: metricActions
  }
}

// One audit run a day (AUDIT_SCHEDULE); each writes one event per tenant
// whose msg is records.AuditEvent (shared/records; infra tests hold the two
// equal) and whose fields are those audit.go logs. A two-hour window
// evaluated hourly sees every event at least once despite ingestion delay;
// the rule is stateful and split by tenant (a tenants document: one alert
// per tenant with findings, each resolved on its own; without one, the
// tenant is "(single)"), so one event notifies once.
var auditQuery = '''
traces
| where message contains "vcc-ingest audit"
| extend e = parse_json(substring(message, indexof(message, "{")))
| where tostring(e.msg) == "vcc-ingest audit"
| extend gaps = toint(e.gaps), permissionProblem = tobool(e.permissionProblem), tenant = iff(isempty(tostring(e.tenant)), "(single)", tostring(e.tenant))
| where gaps > 0 or permissionProblem
| project timestamp, tenant, gaps, lineGaps = toint(e.lineGaps), missing = toint(e.missing), deadLetters = toint(e.deadLetters), hiddenLines = toint(e.hiddenLines), hiddenAgents = toint(e.hiddenAgents), hiddenDirections = toint(e.hiddenDirections), permissionProblem, unchecked = toint(e.unchecked), result = tostring(e.result)
'''

resource auditFindings 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-audit-findings'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: '${namePrefix}: audit found a gap or a permission problem'
    description: 'The daily audit found interactions VCC reports but nobody copied, or lines, agents or directions the credential cannot see. See infra/README.md, Alerts.'
    severity: 1
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT2H'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: auditQuery
          timeAggregation: 'Count'
          dimensions: [
            {
              name: 'tenant'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: logActions
  }
}

// discover and audit write their failures as ERROR lines on stderr
// ("discover failed", "audit failed", functions/server.go; over a tenants
// document also one line per failing tenant, naming it) and the host
// records a failed request for the invocation; either counts. Console lines
// carry no operation name or id (the host drains them outside any
// invocation), so each finding names its invocation by the id the handler
// logs (invocationId) or the host's request row carries
// (customDimensions.InvocationId); resultCode of a failed timer invocation
// is always "0" and says nothing.
var failuresQuery = '''
let handlerErrors = traces
    | where message contains "ERROR"
    | extend e = parse_json(substring(message, indexof(message, "{")))
    | where tostring(e.level) == "ERROR" and tostring(e["function"]) in ("discover", "audit")
    | project timestamp, fn = tostring(e["function"]), tenant = tostring(e.tenant), what = tostring(e.msg), detail = tostring(e.error), invocationId = tostring(e.invocationId);
let failedInvocations = requests
    | where success == false and name in ("discover", "audit")
    | project timestamp, fn = name, what = "invocation failed", invocationId = tostring(customDimensions.InvocationId);
union handlerErrors, failedInvocations
'''

resource runFailures 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-discover-audit-failures'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: '${namePrefix}: discover or audit failed'
    description: 'A discover or audit run failed: no new interactions are queued, or the daily check did not happen. See infra/README.md, Alerts.'
    severity: 2
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT30M'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: failuresQuery
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
    actions: logActions
  }
}

// The events function answers 5xx, and logs "webhook not accepted" at
// ERROR (functions/server.go, answerEvent), when the queue refused the
// message or the tenant's webhook secret or the tenants document could not
// be read: VCC delivers the event again and discover still finds the
// interaction, so nothing is lost, but every call then waits for discover.
// A 5xx the host gives itself (the handler process down or restarting)
// writes no handler line: it is a requests row of events with success ==
// false (a 5xx the handler answered is passed through with success ==
// true, so nothing is counted twice), its tenant the last segment of the
// path. A few in a row are a blip; more mean a role or the queue is wrong.
// 401s are not counted: anyone on the internet can cause them.
var webhookFailuresQuery = '''
let handlerAnswers = traces
    | where message contains "webhook not accepted"
    | extend e = parse_json(substring(message, indexof(message, "{")))
    | where tostring(e.level) == "ERROR" and tostring(e["function"]) == "events" and tostring(e.msg) == "webhook not accepted"
    | project timestamp, tenant = iff(isempty(tostring(e.tenant)), "(single)", tostring(e.tenant)), status = toint(e.status), reason = tostring(e.reason), invocationId = tostring(e.invocationId);
let hostFailures = requests
    | where success == false and name == "events"
    | extend t = extract(@"/api/vcc/events/([a-z0-9-]+)", 1, tostring(url))
    | project timestamp, tenant = iff(isempty(t), "(single)", t), status = toint(resultCode), reason = "answered by the Functions host: the handler did not answer", invocationId = tostring(customDimensions.InvocationId);
union handlerAnswers, hostFailures
'''

resource webhookFailures 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-webhook-failures'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: '${namePrefix}: webhooks not accepted'
    description: 'The events function could not accept VCC webhooks (the queue refused them, or a webhook secret or the tenants document could not be read): recordings wait for discover. See infra/README.md, Alerts.'
    severity: 3
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT30M'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: webhookFailuresQuery
          timeAggregation: 'Count'
          dimensions: [
            {
              name: 'tenant'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 2
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: logActions
  }
}

output actionGroupId string = empty(alertEmail) ? '' : actionGroup.id
output deadLetterAlertId string = deadLetters.id
output auditAlertId string = auditFindings.id
output failureAlertId string = runFailures.id
output webhookAlertId string = webhookFailures.id
