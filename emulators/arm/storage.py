"""``Microsoft.Storage/storageAccounts``: account access keys listed and regenerated via ARM.

The operations ``azure-mgmt-storage`` 25.x calls: ``storage_accounts.get_properties`` (GET),
``storage_accounts.list_keys`` (POST ``.../listKeys``, ``$expand=kerb`` accepted and
ignored: no Kerberos keys here) and ``storage_accounts.regenerate_key`` (POST
``.../regenerateKey`` with ``{"keyName": "key1" | "key2"}``). As in Azure, regenerating is
synchronous: the answer is 200 with the new key list.

Every key change is reported to the listeners registered with
:meth:`StorageAccounts.on_keys_changed` (the blob data plane, ``emulators/arm/blob_data.py``,
which serves the accounts with exactly these keys).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

from emulators.arm.keys import KeyedAccount, KeyedAccounts
from emulators.arm.routing import RESOURCE_GROUP, Call, Route
from emulators.wire import Response

RESOURCE_TYPE = "Microsoft.Storage/storageAccounts"
API_VERSIONS = frozenset({"2026-09-01", "2025-06-01", "2025-01-01", "2024-01-01", "2023-05-01"})
ACCOUNT_PATH = RESOURCE_GROUP + r"/providers/Microsoft\.Storage/storageAccounts/(?P<name>[^/]+)"
KEY_NAMES = ("key1", "key2")
#: The ARM actions of the three operations.
READ, LIST_KEYS, REGENERATE_KEY = (
    f"{RESOURCE_TYPE}/{verb}" for verb in ("read", "listkeys/action", "regeneratekey/action")
)


class StorageAccount(KeyedAccount):
    """One storage account and its two access keys."""

    resource_type: ClassVar[str] = RESOURCE_TYPE

    def to_json(self) -> dict[str, Any]:
        """The resource as ``GET`` returns it (no keys)."""
        return self.resource_json(
            kind="StorageV2",
            sku={"name": "Standard_LRS", "tier": "Standard"},
            properties={
                "provisioningState": "Succeeded",
                "allowSharedKeyAccess": True,
                "primaryEndpoints": {"blob": f"https://{self.name}.blob.core.windows.net/"},
            },
        )

    def keys_json(self) -> dict[str, Any]:
        """The ``listKeys`` / ``regenerateKey`` answer."""
        listed = []
        for name in KEY_NAMES:
            created = self.keys.created(name).isoformat().replace("+00:00", "Z")
            value = self.keys.value(name)
            listed.append(
                {"keyName": name, "value": value, "permissions": "FULL", "creationTime": created}
            )
        return {"keys": listed}


#: Called with an account whenever its keys were created or changed.
KeyListener = Callable[[StorageAccount], None]


class StorageAccounts(KeyedAccounts[StorageAccount]):
    """The emulated ``Microsoft.Storage`` provider: accounts, their keys, their routes."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._listeners: list[KeyListener] = []
        super().__init__(now, StorageAccount, KEY_NAMES)

    def on_keys_changed(self, listener: KeyListener) -> None:
        """Call ``listener(account)`` after every key change (and for existing accounts now)."""
        self._listeners.append(listener)
        for account in self.accounts.values():
            listener(account)

    def keys_changed(self, account: StorageAccount) -> None:
        """Tell every listener."""
        for listener in list(self._listeners):
            listener(account)

    def routes(self) -> list[Route]:
        """The ARM routes this provider serves."""
        versions = API_VERSIONS
        return [
            Route("GET", ACCOUNT_PATH, "storage_accounts_get_properties",
                  self.accounts.get_response, READ, versions),
            Route("POST", ACCOUNT_PATH + "/listKeys", "storage_accounts_list_keys",
                  self._list_keys, LIST_KEYS, versions),
            Route("POST", ACCOUNT_PATH + "/regenerateKey", "storage_accounts_regenerate_key",
                  self._regenerate_key, REGENERATE_KEY, versions),
        ]  # fmt: skip

    def _list_keys(self, call: Call) -> Response:
        return Response.json(200, self.accounts.named(call).keys_json())

    def _regenerate_key(self, call: Call) -> Response:
        account = self.accounts.named(call)
        account.keys.regenerate(self.requested_key(call, "keyName"))
        self.keys_changed(account)
        return Response.json(200, account.keys_json())
