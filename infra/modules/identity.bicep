// User-assigned managed identities.
//
// * The app identity is the ONLY identity the Function App runs as: it reads and writes the
//   managed secrets, holds the blob-lease locks and queue messages, and sends telemetry.
// * The dead-letter identity is lent to the Key Vault Event Grid system topics so that they can
//   write undeliverable events to one blob container. It holds no other role, so Event Grid is
//   never handed an identity that can read or write secrets.

@description('Name of the identity the Function App runs as.')
param appIdentityName string

@description('Name of the identity Event Grid uses to dead-letter undeliverable events.')
param deadLetterIdentityName string

@description('Azure region of the identities.')
param location string

@description('Tags applied to every resource.')
param tags object

resource appIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: appIdentityName
  location: location
  tags: tags
}

resource deadLetterIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: deadLetterIdentityName
  location: location
  tags: tags
}

output appIdentityId string = appIdentity.id
output appIdentityClientId string = appIdentity.properties.clientId
output appIdentityPrincipalId string = appIdentity.properties.principalId
output deadLetterIdentityId string = deadLetterIdentity.id
output deadLetterIdentityPrincipalId string = deadLetterIdentity.properties.principalId
