"""The ``storage-account-key`` rotator: an Azure Storage account's access keys, alternating.

Tags
    ``rotation-target``  the account's ARM resource id,
    ``/subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.Storage/storageAccounts/<name>``
    ``rotation-strategy``  ``alternating`` only (the account's ``key1`` and ``key2``)
    ``rotation-key-format``  ``key`` (default: the value is the key) or ``connection-string``

What it needs
    The app's managed identity with ``Storage Account Key Operator Service Role`` on the
    account (actions ``Microsoft.Storage/storageAccounts/listkeys/action`` and
    ``.../regeneratekey/action``; no read of the account is needed). No admin secret. The
    account must allow shared-key access (``allowSharedKeyAccess``), or the new key cannot
    be verified. Public cloud endpoints (``<name>.blob.core.windows.net``).

How it works
    See :mod:`rotators._account_keys`: each rotation regenerates the key the secret does not
    hold (``storage_accounts.regenerate_key``, synchronous in ARM) and moves the secret to
    it. ``verify`` reads the blob service's properties with a SharedKey-signed request
    (``azure-storage-blob``): 403 -> ``VerificationFailed``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError

from rotation.azure_errors import classify
from rotation.errors import TargetUnavailable, VerificationFailed
from rotation.sanitize import sanitize_error
from rotators._account_keys import AccountKeyRotator, AccountKind

REQUIRED_ROLE = "Storage Account Key Operator Service Role"
CONNECTION_STRING = (
    "DefaultEndpointsProtocol=https;AccountName={name};AccountKey={key};"
    "EndpointSuffix=core.windows.net"
)
#: Seconds one data-plane call may take.
DATA_TIMEOUT_S = 20


class StorageAccountKeyRotator(AccountKeyRotator):
    """Alternates a storage account's ``key1``/``key2`` through ARM; verifies on blob."""

    kind: ClassVar[str] = "storage-account-key"
    account: ClassVar[AccountKind] = AccountKind(
        "Microsoft.Storage/storageAccounts", r"[a-z0-9]{3,24}",
        "3 to 24 lower-case letters and digits", ("key1", "key2"), REQUIRED_ROLE,
        "azure.mgmt.storage:StorageManagementClient", CONNECTION_STRING,
    )  # fmt: skip

    @property
    def blob_url(self) -> str:
        """The account's blob endpoint."""
        return f"https://{self.target.name}.blob.core.windows.net"

    def _keys(self, client: Any, regenerate: str | None = None) -> dict[str, str]:
        group, name = self.target.resource_group, self.target.name
        if regenerate is None:
            result = client.storage_accounts.list_keys(group, name)
        else:  # synchronous in ARM; the answer lists the keys
            from azure.mgmt.storage.models import StorageAccountRegenerateKeyParameters

            parameters = StorageAccountRegenerateKeyParameters(key_name=regenerate)
            result = client.storage_accounts.regenerate_key(group, name, parameters)
        return {k.key_name: k.value for k in result.keys_property or () if k.key_name and k.value}

    def _check_key(self, key: str) -> None:
        from azure.storage.blob import BlobServiceClient

        where = self.blob_url
        if not self.looks_like_key(key):
            raise VerificationFailed(f"the key for {where} is not base64: Azure refuses it")
        credential = {"account_name": self.target.name, "account_key": key}
        try:
            with BlobServiceClient(
                where,
                credential=credential,
                retry_total=2,
                connection_timeout=DATA_TIMEOUT_S,
                read_timeout=DATA_TIMEOUT_S,
            ) as service:
                service.get_service_properties()
        except (ClientAuthenticationError, HttpResponseError) as error:
            if isinstance(error, ClientAuthenticationError) or error.status_code == 403:
                raise VerificationFailed(
                    f"{where} refused the key ({classify(error).short()})"
                ) from None
            raise TargetUnavailable(f"{where}: {sanitize_error(error, [key])}") from None
        except AzureError as error:
            raise TargetUnavailable(
                f"cannot reach {where}: {sanitize_error(error, [key])}"
            ) from None
