// Lets the app identity manage the secrets of ONE Key Vault: "Key Vault Secrets Officer"
// scoped to that vault (not to its resource group or subscription). Deploy this module into
// the vault's resource group. The vault must use the Azure RBAC permission model
// (enableRbacAuthorization: true); access policies are not used.

@description('Name of an existing Key Vault in the resource group this module is deployed to.')
param vaultName string

@description('Principal id of the app identity (or of the deploying developer).')
param principalId string

@description('ServicePrincipal for the app identity; User for the deploying developer (principalId in main.bicep).')
@allowed([
  'ServicePrincipal'
  'User'
])
param principalType string = 'ServicePrincipal'

// Key Vault Secrets Officer (built-in role).
var keyVaultSecretsOfficerRoleId = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: vaultName
}

resource secretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, keyVaultSecretsOfficerRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficerRoleId)
    principalId: principalId
    principalType: principalType
  }
}

output vaultUri string = vault.properties.vaultUri
