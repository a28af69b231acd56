// Key Vault rotation functions app: everything `azd up` deploys.
//
// Least privilege by construction:
// * one user-assigned identity runs the app; every role it holds is scoped to one resource
//   (a vault, a SQL server, a storage or Cosmos DB account whose keys it rotates, a consumer app, the app's own storage account, the telemetry
//   component, the outcome topic), never to a resource group or the subscription;
// * no keys, SAS tokens or passwords anywhere: storage has shared-key access disabled,
//   Application Insights and the outcome topic have local auth disabled.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; seeds every resource name.')
param environmentName string

@minLength(1)
@description('Region of the app resources; it must offer Flex Consumption.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group of the app; default rg-<environmentName>.')
param resourceGroupName string = ''

// vaults, sqlServers, keyStorageAccounts, keyCosmosAccounts and consumerWebApps list existing resources in this subscription as
// objects { name: string, resourceGroup: string? }; resourceGroup defaults to the app's.
// (Plain arrays rather than a user-defined type, which checkov's Bicep parser cannot read.)

@description('Key Vaults (RBAC permission model) whose secrets the app rotates: [{ name, resourceGroup? }]. Each gets "Key Vault Secrets Officer" for the app identity and an Event Grid system topic.')
param vaults array = []

@description('Azure SQL logical servers whose administrator password the app rotates: [{ name, resourceGroup? }] ("SQL Server Contributor" on each).')
param sqlServers array = []

@description('Storage accounts whose access keys the app rotates (storage-account-key): [{ name, resourceGroup? }] ("Storage Account Key Operator Service Role" on each).')
param keyStorageAccounts array = []

@description('Cosmos DB accounts whose keys the app rotates (cosmos-db-key): [{ name, resourceGroup? }] ("DocumentDB Account Contributor" on each, the narrowest built-in role that may regenerate keys).')
param keyCosmosAccounts array = []

@description('App Service / Functions apps that consume rotated secrets through Key Vault references: [{ name, resourceGroup? }] ("Website Contributor" on each, to read reference status and restart).')
param consumerWebApps array = []

@description('Create the Event Grid subscriptions to the app. False until the function code is deployed; the azd postdeploy hook turns it on.')
param deployEventSubscriptions bool = false

@description('NCRONTAB schedule of the sweep (six fields, seconds first).')
param sweepSchedule string = '0 0 * * * *'

@description('Consumer definitions (JSON, see docs/consumers.md) for the app setting ROTATION_CONSUMERS; empty for none. Holds names and URLs only, never a secret.')
param consumers string = ''

@description('Hours consumers get to move to a new version before a rotation is overdue.')
@minValue(1)
param consumerDeadlineHours int = 24

@description('Deploy the Event Grid topic the app publishes rotation outcomes to.')
param deployEventsTopic bool = true

@description('Most instances the Flex Consumption plan may scale out to (40-1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Queue messages one instance takes at once (host.json batchSize, overridden by an app setting).')
@minValue(1)
@maxValue(32)
param queueBatchSize int = 4

@description('Most rotations in flight per target host (ROTATION_MAX_PER_TARGET; 0 = no limit; tag rotation-max-per-target overrides per secret).')
@minValue(0)
@maxValue(100)
param maxRotationsPerTarget int = 4

@description('Replication of the app storage account.')
param storageSkuName string = 'Standard_LRS'

@description('Object id of the deploying developer (azd passes AZURE_PRINCIPAL_ID): granted Key Vault Secrets Officer on each vault and the app storage data roles, to run the app locally with ROTATION_CREDENTIAL=developer. Empty for none (CI, production).')
param principalId string = ''

@description('Deploy the alert rules, action group and workbook (infra/modules/alerts.bicep).')
param deployAlerts bool = true

@description('Email address that receives rotation alerts; empty for an action group without receivers.')
param alertEmail string = ''

@description('Minutes between two sweeps: the period of sweepSchedule (the sweep alert fires after two).')
@minValue(5)
param sweepPeriodMinutes int = 60

@description('Alert when a managed secret is this many days or fewer from expiry without having rotated.')
@minValue(1)
@maxValue(29)
param expiryAlertDays int = 7

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = 'func-rotation-${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'
var vaultUris = [for vault in vaults: 'https://${vault.name}${environment().suffixes.keyvaultDns}']

resource rg 'Microsoft.Resources/resourceGroups@2025-04-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    appIdentityName: 'id-rotation-${resourceToken}'
    deadLetterIdentityName: 'id-rotation-deadletter-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-rotation-${resourceToken}'
    appInsightsName: 'appi-rotation-${resourceToken}'
    location: location
    tags: tags
    publisherPrincipalId: identity.outputs.appIdentityPrincipalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'strot${resourceToken}'
    location: location
    tags: tags
    skuName: storageSkuName
    deploymentContainerName: deploymentContainerName
    appPrincipalId: identity.outputs.appIdentityPrincipalId
    deadLetterPrincipalId: identity.outputs.deadLetterIdentityPrincipalId
    developerPrincipalId: principalId
  }
}

module eventsTopic 'modules/events-topic.bicep' = if (deployEventsTopic) {
  name: 'events-topic'
  scope: rg
  params: {
    name: 'evgt-rotation-${resourceToken}'
    location: location
    tags: tags
    senderPrincipalId: identity.outputs.appIdentityPrincipalId
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-rotation-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.appIdentityId
    identityClientId: identity.outputs.appIdentityClientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
    appInsightsName: monitoring.outputs.appInsightsName
    rotationVaults: join(vaultUris, ',')
    sweepSchedule: sweepSchedule
    eventsEndpoint: deployEventsTopic ? eventsTopic.outputs.endpoint : ''
    consumers: consumers
    consumerDeadlineHours: consumerDeadlineHours
    maximumInstanceCount: maximumInstanceCount
    queueBatchSize: queueBatchSize
    maxRotationsPerTarget: maxRotationsPerTarget
  }
}

module vaultAccess 'modules/vault-access.bicep' = [for (vault, i) in vaults: {
  name: 'rotation-vault-access-${resourceToken}-${i}'
  scope: resourceGroup(vault.?resourceGroup ?? rg.name)
  params: {
    vaultName: vault.name
    principalId: identity.outputs.appIdentityPrincipalId
  }
}]

module developerVaultAccess 'modules/vault-access.bicep' = [for (vault, i) in (empty(principalId) ? [] : vaults): {
  name: 'rotation-developer-vault-access-${resourceToken}-${i}'
  scope: resourceGroup(vault.?resourceGroup ?? rg.name)
  params: {
    vaultName: vault.name
    principalId: principalId
    principalType: 'User'
  }
}]

module alerts 'modules/alerts.bicep' = if (deployAlerts) {
  name: 'alerts'
  scope: rg
  params: {
    appInsightsName: monitoring.outputs.appInsightsName
    location: location
    tags: tags
    namePrefix: 'rotation-${resourceToken}'
    alertEmail: alertEmail
    sweepPeriodMinutes: sweepPeriodMinutes
    expiryAlertDays: expiryAlertDays
  }
}

module vaultEvents 'modules/vault-events.bicep' = [for (vault, i) in vaults: {
  name: 'rotation-vault-events-${resourceToken}-${i}'
  scope: resourceGroup(vault.?resourceGroup ?? rg.name)
  params: {
    vaultName: vault.name
    systemTopicName: 'evgst-${vault.name}-rotation'
    tags: tags
    deployEventSubscription: deployEventSubscriptions
    functionAppId: functionApp.outputs.id
    deadLetterIdentityId: identity.outputs.deadLetterIdentityId
    deadLetterStorageAccountId: storage.outputs.id
    deadLetterContainerName: storage.outputs.deadLetterContainerName
  }
}]

module sqlAccess 'modules/sql-access.bicep' = [for (server, i) in sqlServers: {
  name: 'rotation-sql-access-${resourceToken}-${i}'
  scope: resourceGroup(server.?resourceGroup ?? rg.name)
  params: {
    serverName: server.name
    principalId: identity.outputs.appIdentityPrincipalId
  }
}]

module storageKeyAccess 'modules/storage-key-access.bicep' = [for (account, i) in keyStorageAccounts: {
  name: 'rotation-storage-key-access-${resourceToken}-${i}'
  scope: resourceGroup(account.?resourceGroup ?? rg.name)
  params: {
    accountName: account.name
    principalId: identity.outputs.appIdentityPrincipalId
  }
}]

module cosmosKeyAccess 'modules/cosmos-key-access.bicep' = [for (account, i) in keyCosmosAccounts: {
  name: 'rotation-cosmos-key-access-${resourceToken}-${i}'
  scope: resourceGroup(account.?resourceGroup ?? rg.name)
  params: {
    accountName: account.name
    principalId: identity.outputs.appIdentityPrincipalId
  }
}]

module webAppAccess 'modules/webapp-access.bicep' = [for (site, i) in consumerWebApps: {
  name: 'rotation-webapp-access-${resourceToken}-${i}'
  scope: resourceGroup(site.?resourceGroup ?? rg.name)
  params: {
    siteName: site.name
    principalId: identity.outputs.appIdentityPrincipalId
  }
}]

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output ROTATION_IDENTITY_CLIENT_ID string = identity.outputs.appIdentityClientId
output ROTATION_VAULTS string = join(vaultUris, ',')
output ROTATION_EVENTS_ENDPOINT string = deployEventsTopic ? eventsTopic.outputs.endpoint : ''
