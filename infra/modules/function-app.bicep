// The Linux Python Function App on a Flex Consumption (FC1) plan.
//
// It runs as exactly one identity, the user-assigned app identity: the site has no
// system-assigned identity, the deployment package is fetched with the same identity, and every
// connection (host storage, Application Insights, Key Vault through the SDK) is identity-based.
// No app setting holds a key, a SAS token or a password.

@description('Name of the Function App (globally unique host name).')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region; it must offer Flex Consumption.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('The azd service name in azure.yaml; azd finds the app by this tag.')
param azdServiceName string = 'rotation'

@description('Resource id of the user-assigned app identity.')
param identityId string

@description('Client id of the user-assigned app identity.')
param identityClientId string

@description('Name of the app storage account (shared-key access disabled).')
param storageAccountName string

@description('Blob container holding the deployment package.')
param deploymentContainerName string

@description('Name of the Application Insights component (local auth disabled).')
param appInsightsName string

@description('Comma-separated Key Vault URLs the app manages, e.g. https://v1.vault.azure.net.')
param rotationVaults string

@description('NCRONTAB schedule of the sweep (six fields, seconds first).')
param sweepSchedule string = '0 0 * * * *'

@description('Endpoint of the Event Grid topic for rotation outcome events; empty for none.')
param eventsEndpoint string = ''

@description('Consumer definitions (JSON) for ROTATION_CONSUMERS; empty for none.')
param consumers string = ''

@description('Hours consumers get to move before a rotation is overdue.')
param consumerDeadlineHours int = 24

@description('Most instances the plan may scale out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Queue messages one instance takes at once (the host.json batchSize, overridden here). Instances x batch size is the most rotations in flight overall; ROTATION_MAX_PER_TARGET bounds them per target host.')
@minValue(1)
@maxValue(32)
param queueBatchSize int = 4

@description('Most rotations in flight per target host (ROTATION_MAX_PER_TARGET; 0 = no limit).')
@minValue(0)
@maxValue(100)
param maxRotationsPerTarget int = 4

@description('Seconds the sweep spreads its enqueued work over (ROTATION_SWEEP_SPREAD_SECONDS).')
@minValue(0)
@maxValue(86400)
param sweepSpreadSeconds int = 600

@description('Memory per instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

resource storage 'Microsoft.Storage/storageAccounts@2026-09-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2025-05-01' = {
  // checkov:skip=CKV_AZURE_225: Zone redundancy for Flex Consumption is regional and optional; the rotation work is retried by the sweep, so a zonal outage delays rotations but loses nothing.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2025-05-01' = {
  // checkov:skip=CKV_AZURE_222: Event Grid delivers to the function and operators call rotation_api over the public endpoint; both need a function key (authLevel function / Event Grid system key).
  // checkov:skip=CKV_AZURE_17: Event Grid cannot present client certificates; callers are authenticated by function keys instead.
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales from zero by design; timer and queue triggers wake an instance, and the sweep retries what a failed instance left.
  // checkov:skip=CKV_AZURE_213: Flex Consumption does not support the App Service health check; the platform replaces failed instances.
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': azdServiceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [
        {
          name: 'AZURE_CLIENT_ID'
          value: identityClientId
        }
        {
          name: 'ROTATION_VAULTS'
          value: rotationVaults
        }
        {
          name: 'ROTATION_SWEEP_SCHEDULE'
          value: sweepSchedule
        }
        {
          name: 'ROTATION_SWEEP_MODE'
          value: 'queue'
        }
        {
          name: 'ROTATION_EVENTS_ENDPOINT'
          value: eventsEndpoint
        }
        {
          name: 'ROTATION_CONSUMERS'
          value: consumers
        }
        {
          name: 'ROTATION_CONSUMER_DEADLINE_HOURS'
          value: string(consumerDeadlineHours)
        }
        {
          name: 'ROTATION_MAX_PER_TARGET'
          value: string(maxRotationsPerTarget)
        }
        {
          name: 'ROTATION_SWEEP_SPREAD_SECONDS'
          value: string(sweepSpreadSeconds)
        }
        {
          name: 'AzureFunctionsJobHost__extensions__queues__batchSize'
          value: string(queueBatchSize)
        }
        {
          name: 'AzureWebJobsStorage__blobServiceUri'
          value: storage.properties.primaryEndpoints.blob
        }
        {
          name: 'AzureWebJobsStorage__queueServiceUri'
          value: storage.properties.primaryEndpoints.queue
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identityClientId
        }
        {
          // Holds the ingestion endpoint and the component's public instrumentation key, which
          // cannot ingest on its own: local auth is disabled on the component.
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: appInsights.properties.ConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${identityClientId};Authorization=AAD'
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// No FTP and no basic-auth (publishing profile) deployments: azd deploys with an Entra token.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2025-05-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2025-05-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

output id string = app.id
output name string = app.name
output defaultHostName string = app.properties.defaultHostName
