// Alerts on the app's own telemetry: an action group that mails the operator, four scheduled
// query rules over Application Insights, and a workbook with the rotation history per vault.
//
// The KQL lives in infra/alerts/*.kql, loaded here with loadTextContent and quoted verbatim in
// docs/operations.md (tests/infra/test_alerts.py holds both to the same files). Each query
// reads the records rotation/telemetry.py writes (customDimensions "rotation.*").

@description('Name of the Application Insights component the app sends telemetry to.')
param appInsightsName string

@description('Azure region of the rules and the workbook.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Name prefix of the alert resources.')
param namePrefix string

@description('Email address that receives the alerts; empty for an action group without receivers.')
param alertEmail string = ''

@description('Minutes between two sweeps (the period of ROTATION_SWEEP_SCHEDULE).')
@minValue(5)
param sweepPeriodMinutes int = 60

@description('Alert when a managed secret is this many days or fewer from expiry (rotations start 30 days ahead).')
@minValue(1)
@maxValue(29)
param expiryAlertDays int = 7

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-${namePrefix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'rotation'
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

resource rotationFailed 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${namePrefix}-rotation-failed'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Rotation failed'
    description: 'A rotation run ended in an error. See docs/operations.md, "Rotation failed".'
    severity: 1
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: loadTextContent('../alerts/rotation-failed.kql')
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'secret'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource consumersOverdue 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${namePrefix}-consumers-overdue'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Consumers overdue'
    description: 'Consumers of a rotated secret did not move to the new version by the deadline. See docs/operations.md, "Consumers overdue".'
    severity: 2
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT${2 * sweepPeriodMinutes}M'
    criteria: {
      allOf: [
        {
          query: loadTextContent('../alerts/consumers-overdue.kql')
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'secret'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource expiryNotRotated 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${namePrefix}-expiry-not-rotated'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Secret near expiry, not rotated'
    description: 'A managed secret is within ${expiryAlertDays} days of expiry and has not been rotated. See docs/operations.md, "Secret near expiry, not rotated".'
    severity: 1
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT${2 * sweepPeriodMinutes}M'
    criteria: {
      allOf: [
        {
          query: replace(loadTextContent('../alerts/expiry-not-rotated.kql'), '{{expiryDays}}', string(expiryAlertDays))
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'secret'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource sweepMissing 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${namePrefix}-sweep-missing'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Sweep not running'
    description: 'The sweep has not finished for two schedule periods. See docs/operations.md, "Sweep not running".'
    severity: 1
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT${3 * sweepPeriodMinutes}M'
    criteria: {
      allOf: [
        {
          query: replace(loadTextContent('../alerts/sweep-missing.kql'), '{{sweepPeriodMinutes}}', string(sweepPeriodMinutes))
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
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, namePrefix, 'rotation-history')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'Key Vault rotation history'
    category: 'workbook'
    sourceId: appInsights.id
    serializedData: string({
      version: 'Notebook/1.0'
      items: [
        {
          type: 1
          content: {
            json: '## Rotation history per vault\nEvery rotation run that did something, newest first (see docs/operations.md).'
          }
        }
        {
          type: 3
          content: {
            version: 'KqlItem/1.0'
            query: loadTextContent('../alerts/rotation-history.kql')
            size: 0
            timeContext: {
              durationMs: 2592000000
            }
            queryType: 0
            resourceType: 'microsoft.insights/components'
            gridSettings: {
              rowLimit: 500
            }
          }
        }
        {
          type: 3
          content: {
            version: 'KqlItem/1.0'
            query: loadTextContent('../alerts/nearest-expiry.kql')
            size: 0
            timeContext: {
              durationMs: 2592000000
            }
            queryType: 0
            resourceType: 'microsoft.insights/components'
            visualization: 'timechart'
          }
        }
      ]
    })
  }
}

output actionGroupId string = actionGroup.id
output workbookId string = workbook.id
