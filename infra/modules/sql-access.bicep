// Lets the app identity reset the administrator password of ONE Azure SQL logical server:
// "SQL Server Contributor" scoped to that server. Deploy into the server's resource group.

@description('Name of an existing Azure SQL logical server in this resource group.')
param serverName string

@description('Principal id of the app identity.')
param principalId string

// SQL Server Contributor (built-in role).
var sqlServerContributorRoleId = '6d8ee4ec-f05a-4a1d-8b00-a9b17e38b437'

resource server 'Microsoft.Sql/servers@2023-08-01' existing = {
  // checkov:skip=CKV_AZURE_23: An existing server owned by the operator; this template only references it to scope a role and configures none of its settings.
  // checkov:skip=CKV_AZURE_24: As CKV_AZURE_23: auditing of the operator's server is not managed here.
  // checkov:skip=CKV_AZURE_25: As CKV_AZURE_23: threat detection of the operator's server is not managed here.
  name: serverName
}

resource serverContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(server.id, principalId, sqlServerContributorRoleId)
  scope: server
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', sqlServerContributorRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
