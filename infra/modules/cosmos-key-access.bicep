// Lets the app identity list and regenerate the keys of ONE Cosmos DB account (the
// cosmos-db-key rotator): "DocumentDB Account Contributor" scoped to that account, the
// narrowest built-in role with listKeys/action and regenerateKey/action ("Cosmos DB Operator"
// excludes both). Deploy into the account's resource group.

@description('Name of an existing Cosmos DB account in this resource group whose keys the app rotates.')
param accountName string

@description('Principal id of the app identity.')
param principalId string

// DocumentDB Account Contributor (built-in).
var accountContributorRoleId = '5bd9cd88-fe45-4216-938b-f97437e15450'

resource account 'Microsoft.DocumentDB/databaseAccounts@2026-03-15' existing = {
  name: accountName
}

resource keyOperator 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, principalId, accountContributorRoleId)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', accountContributorRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
