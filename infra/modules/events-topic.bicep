// The Event Grid custom topic the app publishes rotation outcomes to (rotated, failed,
// consumer did not move). Local (access key) auth is disabled: only Entra ID principals with
// "EventGrid Data Sender" on this topic can publish, and only the app identity has it.

@description('Name of the custom topic.')
param name string

@description('Azure region of the topic.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Principal id of the identity that publishes (the app identity).')
param senderPrincipalId string

@description('Schema the app publishes in.')
@allowed([
  'CloudEventSchemaV1_0'
  'EventGridSchema'
])
param inputSchema string = 'CloudEventSchemaV1_0'

// EventGrid Data Sender (built-in role).
var eventGridDataSenderRoleId = 'd5a91429-5739-47e2-a06b-3470a27159e7'

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = {
  // checkov:skip=CKV_AZURE_193: The app reaches the topic over its public endpoint (no VNet in this deployment); publishing needs an Entra token with EventGrid Data Sender on this topic, since local auth is disabled.
  // checkov:skip=CKV_AZURE_191: The topic itself authenticates to nothing (no role is granted to a topic identity); subscribers are the operator's to add.
  name: name
  location: location
  tags: tags
  properties: {
    inputSchema: inputSchema
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource sender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, senderPrincipalId, eventGridDataSenderRoleId)
  scope: topic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventGridDataSenderRoleId)
    principalId: senderPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output endpoint string = topic.properties.endpoint
output id string = topic.id
