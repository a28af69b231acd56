// Key Vault -> Event Grid -> the app's `secret_near_expiry` function, for ONE vault.
//
// The system topic is created on every provision. The event subscription is created only when
// `deployEventSubscription` is true, because Event Grid validates an AzureFunction endpoint
// when the subscription is created and fails if the function code is not deployed yet. azd
// sets it after the first `azd deploy` (see infra/hooks/postdeploy.sh and infra/README.md).
//
// Deploy this module into the vault's resource group: a system topic lives beside its source.

@description('Name of an existing Key Vault in the resource group this module is deployed to.')
param vaultName string

@description('Name of the Event Grid system topic for the vault.')
param systemTopicName string

@description('Tags applied to every resource.')
param tags object

@description('Create the event subscription (only once the function code is deployed).')
param deployEventSubscription bool

@description('Resource id of the Function App.')
param functionAppId string

@description('Resource id of the user-assigned identity Event Grid dead-letters with.')
param deadLetterIdentityId string

@description('Resource id of the storage account holding the dead-letter container.')
param deadLetterStorageAccountId string

@description('Blob container for undeliverable events.')
param deadLetterContainerName string

@description('Delivery attempts before an event is dead-lettered.')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes Event Grid keeps retrying an event (at most 1440, one day).')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

// Must name the Event Grid-triggered function in function_app.py (tests/infra checks it).
var functionName = 'secret_near_expiry'

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: vaultName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: systemTopicName
  location: vault.location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${deadLetterIdentityId}': {}
    }
  }
  properties: {
    source: vault.id
    topicType: 'Microsoft.KeyVault.vaults'
  }
}

resource nearExpiry 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (deployEventSubscription) {
  parent: systemTopic
  name: 'secret-near-expiry'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.KeyVault.SecretNearExpiry'
        'Microsoft.KeyVault.SecretExpired'
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: deadLetterIdentityId
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output systemTopicId string = systemTopic.id
