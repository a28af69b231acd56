// Lets the app identity list and regenerate the access keys of ONE storage account (the
// storage-account-key rotator): "Storage Account Key Operator Service Role" scoped to that
// account. Deploy into the account's resource group.

@description('Name of an existing storage account in this resource group whose keys the app rotates.')
param accountName string

@description('Principal id of the app identity.')
param principalId string

// Storage Account Key Operator Service Role (built-in): listkeys/action and regeneratekey/action only.
var keyOperatorRoleId = '81a9662b-bebf-436f-a333-f67b29880f12'

resource account 'Microsoft.Storage/storageAccounts@2026-09-01' existing = {
  name: accountName
}

resource keyOperator 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, principalId, keyOperatorRoleId)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyOperatorRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
