"""``Microsoft.DocumentDB/databaseAccounts``: Cosmos DB account keys listed and regenerated.

The operations ``azure-mgmt-cosmosdb`` 10.x calls: ``database_accounts.get`` (GET),
``list_keys`` (POST ``.../listKeys``: the four keys), ``list_read_only_keys`` (POST
``.../readonlykeys``) and ``begin_regenerate_key`` (POST ``.../regenerateKey`` with
``{"keyKind": "primary" | "secondary" | "primaryReadonly" | "secondaryReadonly"}``), which,
as in Azure, is a long-running operation: 202 with ``Azure-AsyncOperation`` and ``Location``
under ``/subscriptions/{s}/providers/Microsoft.DocumentDB/locations/{location}/``
(``operationsStatus``, ``operationResults``); the key changes when the operation completes.

The account's data plane (``https://<name>.documents.azure.com``, master-key signatures) is
:mod:`emulators.arm.cosmos_data`, which reads the keys from here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

from emulators.arm.keys import KeyedAccount, KeyedAccounts
from emulators.arm.lro import Operations, OperationStatus, StatusRoutes
from emulators.arm.routing import RESOURCE_GROUP, SUBSCRIPTION, Call, Route
from emulators.wire import Response

NAMESPACE = "Microsoft.DocumentDB"
RESOURCE_TYPE = "Microsoft.DocumentDB/databaseAccounts"
API_VERSIONS = frozenset({"2026-03-15", "2025-04-15", "2024-11-15", "2024-08-15", "2023-04-15"})
ACCOUNT_PATH = RESOURCE_GROUP + r"/providers/Microsoft\.DocumentDB/databaseAccounts/(?P<name>[^/]+)"
LOCATION_PATH = SUBSCRIPTION + r"/providers/Microsoft\.DocumentDB/locations/(?P<location>[^/]+)"
#: ARM key kind -> the ``listKeys`` field that holds it.
KEY_FIELDS = {
    "primary": "primaryMasterKey",
    "secondary": "secondaryMasterKey",
    "primaryReadonly": "primaryReadonlyMasterKey",
    "secondaryReadonly": "secondaryReadonlyMasterKey",
}
READ_WRITE = ("primary", "secondary")
ACTIONS = "Microsoft.DocumentDB/databaseAccounts"
HOST = "{name}.documents.azure.com"


class CosmosAccount(KeyedAccount):
    """One Cosmos DB account and its four keys."""

    resource_type: ClassVar[str] = RESOURCE_TYPE

    @property
    def endpoint(self) -> str:
        """The document endpoint."""
        return f"https://{HOST.format(name=self.name)}:443/"

    def to_json(self) -> dict[str, Any]:
        """The resource as ``GET`` returns it (no keys)."""
        return self.resource_json(
            kind="GlobalDocumentDB",
            properties={
                "provisioningState": "Succeeded",
                "documentEndpoint": self.endpoint,
                "databaseAccountOfferType": "Standard",
                "disableLocalAuth": False,
            },
        )

    def keys_json(self, kinds: tuple[str, ...] = tuple(KEY_FIELDS)) -> dict[str, str]:
        """The ``listKeys`` (all kinds) or ``readonlykeys`` answer."""
        return {KEY_FIELDS[k]: self.keys.value(k) for k in kinds}


class CosmosAccounts(KeyedAccounts[CosmosAccount]):
    """The emulated ``Microsoft.DocumentDB`` provider: accounts, keys, operations, routes."""

    def __init__(self, now: Callable[[], datetime], polls: int = 1, retry_after_ms: int = 20):
        super().__init__(now, CosmosAccount, tuple(KEY_FIELDS))
        self.operations = Operations(polls)
        self.status = StatusRoutes(
            self.operations, NAMESPACE, ("operationsStatus", "operationResults"), retry_after_ms
        )

    def named(self, name: str) -> CosmosAccount | None:
        """The account called ``name`` (its data plane host's first label), or ``None``."""
        return next((a for a in self.accounts.values() if a.name == name.lower()), None)

    def routes(self) -> list[Route]:
        """The ARM routes this provider serves."""
        versions, path = API_VERSIONS, ACCOUNT_PATH
        status, names = (
            (self._async_status, self._operation_result),
            ("database_accounts_operation_status", "database_accounts_operation_result"),
        )
        return [
            Route("GET", path, "database_accounts_get", self.accounts.get_response,
                  f"{ACTIONS}/read", versions),
            Route("POST", path + "/listKeys", "database_accounts_list_keys", self._list_keys,
                  f"{ACTIONS}/listKeys/action", versions),
            Route("POST", path + "/readonlykeys", "database_accounts_list_read_only_keys",
                  self._read_only_keys, f"{ACTIONS}/readonlykeys/action", versions),
            Route("POST", path + "/regenerateKey", "database_accounts_regenerate_key",
                  self._regenerate_key, f"{ACTIONS}/regenerateKey/action", versions),
            *self.status.routes(LOCATION_PATH, versions, status, names),
        ]  # fmt: skip

    def _list_keys(self, call: Call) -> Response:
        return Response.json(200, self.accounts.named(call).keys_json())

    def _read_only_keys(self, call: Call) -> Response:
        kinds = ("primaryReadonly", "secondaryReadonly")
        return Response.json(200, self.accounts.named(call).keys_json(kinds))

    def _regenerate_key(self, call: Call) -> Response:
        account = self.accounts.named(call)
        kind = self.requested_key(call, "keyKind")
        op = self.operations.start(
            account.id,
            call.principal_id,
            self._now(),
            lambda: account.keys.regenerate(kind),
        )
        headers = self.status.started_headers(
            call.request.host, call.params["subscription"], account.location, call.api_version, op
        )
        return Response(202, b"", headers)

    def _async_status(self, call: Call) -> Response:
        op = self.status.poll(
            call.params["subscription"], call.params["operation_id"], call.principal_id
        )
        body, headers = self.status.status_body(op)
        return Response.json(200, body, headers)

    def _operation_result(self, call: Call) -> Response:
        op = self.status.poll(
            call.params["subscription"], call.params["operation_id"], call.principal_id
        )
        if op.status is OperationStatus.IN_PROGRESS:
            location = f"https://{call.request.host}{call.request.target}"
            return Response(202, b"", {"Location": location, **self.status.retry_header()})
        if op.error is not None:
            raise op.error
        return Response(204)
