// Lets the app identity read the Key Vault reference status of ONE consumer App Service or
// Functions app and restart it to pick up a new secret version: "Website Contributor" scoped
// to that app. Deploy into the app's resource group.

@description('Name of an existing App Service or Function App in this resource group.')
param siteName string

@description('Principal id of the app identity.')
param principalId string

// Website Contributor (built-in role).
var websiteContributorRoleId = 'de139f84-1756-47ae-9be6-808fbbe84772'

resource site 'Microsoft.Web/sites@2025-05-01' existing = {
  name: siteName
}

resource siteContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(site.id, principalId, websiteContributorRoleId)
  scope: site
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', websiteContributorRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
