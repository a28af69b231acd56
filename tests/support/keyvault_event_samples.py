"""Microsoft's documented Key Vault events, verbatim, for tests.

Source: "Azure Key Vault as Event Grid source" (learn.microsoft.com/azure/event-grid/
event-schema-key-vault, MicrosoftDocs/azure-docs articles/event-grid/event-schema-key-vault.md),
the "Event examples" section, both schema tabs. The page's example is
Microsoft.KeyVault.SecretNewVersionCreated (the data fields are the same for SecretNearExpiry).
Quirks kept on purpose: the key ``"ObjectName "`` and the value ``" ee05..."`` carry stray
spaces, and NBF/EXP are strings although the page's table says number.
"""

from __future__ import annotations

#: The ``data`` object, the same in both tabs of the page.
_DATA = """"data":{
         "Id":"https://sample-kv.vault.azure.net/secrets/newsecret/ee059b2bb5bc48398a53b168c6cdcb10",
         "VaultName":"sample-kv",
         "ObjectType":"Secret",
         "ObjectName ":"newsecret",
         "Version":" ee059b2bb5bc48398a53b168c6cdcb10",
         "NBF":"1559081980",
         "EXP":"1559082102"
      },"""

MS_SAMPLE_EVENT_GRID = (
    """[
   {
      "id":"00eccf70-95a7-4e7c-8299-2eb17ee9ad64",
      "topic":"/subscriptions/{subscription-id}/resourceGroups/sample-rg/providers/Microsoft.KeyVault/vaults/sample-kv",
      "subject":"newsecret",
      "eventType":"Microsoft.KeyVault.SecretNewVersionCreated",
      "eventTime":"2019-07-25T01:08:33.1036736Z",
      """
    + _DATA
    + """
      "dataVersion":"1",
      "metadataVersion":"1"
   }
]"""
)
MS_SAMPLE_CLOUD_EVENT = (
    """[
   {
      "id":"00eccf70-95a7-4e7c-8299-2eb17ee9ad64",
      "source":"/subscriptions/{subscription-id}/resourceGroups/sample-rg/providers/Microsoft.KeyVault/vaults/sample-kv",
      "subject":"newsecret",
      "type":"Microsoft.KeyVault.SecretNewVersionCreated",
      "time":"2019-07-25T01:08:33.1036736Z",
      """
    + _DATA
    + """
      "specversion":"1.0"
   }
]"""
)
