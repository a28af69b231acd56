"""The ``cosmos-db-key`` rotator: a Cosmos DB account's keys, alternating.

Tags
    ``rotation-target``  the account's ARM resource id,
    ``/subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.DocumentDB/databaseAccounts/<name>``
    ``rotation-strategy``  ``alternating`` only
    ``rotation-key-kind``  ``read-write`` (default: ``primary``/``secondary``) or ``read-only``
    (``primaryReadonly``/``secondaryReadonly``)
    ``rotation-key-format``  ``key`` (default) or ``connection-string``
    (``AccountEndpoint=https://<name>.documents.azure.com:443/;AccountKey=...;``)

What it needs
    The app's managed identity with a role that has
    ``Microsoft.DocumentDB/databaseAccounts/listKeys/action`` and ``.../regenerateKey/action``
    on the account: ``DocumentDB Account Contributor`` is the narrowest built-in role with
    both (``Cosmos DB Operator`` excludes them); a custom role with just these two actions is
    tighter. No admin secret. Key-based auth must be enabled (``disableLocalAuth: false``).

How it works
    See :mod:`rotators._account_keys`. Regeneration is a long-running operation
    (``database_accounts.begin_regenerate_key``): ``apply`` waits for it (up to the LRO
    timeout, then a retryable error). ``verify`` makes the real ``azure-cosmos`` client with
    the key (``CosmosClient`` reads the database account) and lists databases; 401 ->
    ``VerificationFailed``. Read-only keys can do both.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rotation import defaults as D
from rotation import tags as T
from rotation.errors import ConfigurationError, TargetUnavailable, VerificationFailed
from rotation.rotator import RotatorContext
from rotation.sanitize import sanitize_error
from rotators._account_keys import AccountKeyRotator, AccountKind

REQUIRED_ROLE = "DocumentDB Account Contributor"
KIND_OPTION = T.option(T.KEY_KIND)
#: ``rotation-key-kind`` value -> the pair of ARM key kinds that alternate.
PAIRS: dict[str, tuple[str, str]] = {
    "read-write": ("primary", "secondary"),
    "read-only": ("primaryReadonly", "secondaryReadonly"),
}
#: ARM key kind -> the field of ``listKeys`` that holds it.
FIELDS = {
    "primary": "primary_master_key",
    "secondary": "secondary_master_key",
    "primaryReadonly": "primary_readonly_master_key",
    "secondaryReadonly": "secondary_readonly_master_key",
}
CONNECTION_STRING = "AccountEndpoint=https://{name}.documents.azure.com:443/;AccountKey={key};"
#: Seconds one data-plane call may take.
DATA_TIMEOUT_S = 20


class CosmosDbKeyRotator(AccountKeyRotator):
    """Alternates a Cosmos DB account's primary/secondary (or read-only) keys through ARM."""

    kind: ClassVar[str] = "cosmos-db-key"
    account: ClassVar[AccountKind] = AccountKind(
        "Microsoft.DocumentDB/databaseAccounts", r"[a-z0-9](?:[a-z0-9-]{1,42}[a-z0-9])",
        "3 to 44 lower-case letters, digits and inner hyphens", PAIRS["read-write"],
        REQUIRED_ROLE, "azure.mgmt.cosmosdb:CosmosDBManagementClient", CONNECTION_STRING,
    )  # fmt: skip

    @classmethod
    def key_pair(cls, context: RotatorContext) -> tuple[str, str]:
        """``rotation-key-kind``: ``read-write`` (default) or ``read-only``."""
        kind = context.options.get(KIND_OPTION, D.COSMOS_KEY_KIND)
        if kind not in PAIRS:
            raise ConfigurationError(
                f"unknown key kind (known: {', '.join(PAIRS)})",
                secret=context.secret_name,
                tag=T.KEY_KIND,
            )
        return PAIRS[kind]

    @property
    def endpoint(self) -> str:
        """The account's document endpoint."""
        return f"https://{self.target.name}.documents.azure.com:443/"

    def _keys(self, client: Any, regenerate: str | None = None) -> dict[str, str]:
        accounts, group, name = (
            client.database_accounts,
            self.target.resource_group,
            self.target.name,
        )
        if regenerate is not None:
            from azure.mgmt.cosmosdb.models import DatabaseAccountRegenerateKeyParameters

            parameters = DatabaseAccountRegenerateKeyParameters(key_kind=regenerate)
            poller = accounts.begin_regenerate_key(group, name, parameters)
            poller.result(timeout=self.lro_timeout)
            if poller.status().lower() != "succeeded":
                raise TargetUnavailable(
                    f"regenerating key {regenerate} of {self.target.resource_id} ended in "
                    f"state '{poller.status()}'; the next attempt regenerates it again"
                )
        result = accounts.list_keys(group, name)
        values = {kind: getattr(result, field, None) for kind, field in FIELDS.items()}
        return {kind: value for kind, value in values.items() if value}

    def _check_key(self, key: str) -> None:
        from azure.core.exceptions import AzureError
        from azure.cosmos import CosmosClient
        from azure.cosmos.exceptions import CosmosHttpResponseError

        where = self.endpoint
        if not self.looks_like_key(key):
            raise VerificationFailed(f"the key for {where} is not base64: Cosmos DB refuses it")
        try:
            with CosmosClient(
                where,
                credential=key,
                retry_total=1,
                connection_timeout=DATA_TIMEOUT_S,
                read_timeout=DATA_TIMEOUT_S,
            ) as client:
                list(client.list_databases(max_item_count=1))
        except CosmosHttpResponseError as error:
            if error.status_code in (401, 403):
                raise VerificationFailed(
                    f"{where} refused the key (HTTP {error.status_code})"
                ) from None
            raise TargetUnavailable(f"{where}: {sanitize_error(error, [key])}") from None
        except (AzureError, OSError, ValueError) as error:
            raise TargetUnavailable(
                f"cannot reach {where}: {sanitize_error(error, [key])}"
            ) from None
