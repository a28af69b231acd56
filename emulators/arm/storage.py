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

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emulators.arm.errors import ArmError
from emulators.arm.keys import KeyRing
from emulators.arm.routing import RESOURCE_GROUP, Call, ResourceIndex, Route, resource_id
from emulators.wire import Response

RESOURCE_TYPE = "Microsoft.Storage/storageAccounts"
API_VERSIONS = frozenset({"2026-09-01", "2025-06-01", "2025-01-01", "2024-01-01", "2023-05-01"})
ACCOUNT_PATH = RESOURCE_GROUP + r"/providers/Microsoft\.Storage/storageAccounts/(?P<name>[^/]+)"
KEY_NAMES = ("key1", "key2")
READ = "Microsoft.Storage/storageAccounts/read"
LIST_KEYS = "Microsoft.Storage/storageAccounts/listkeys/action"
REGENERATE_KEY = "Microsoft.Storage/storageAccounts/regeneratekey/action"
#: The public cloud's blob endpoint of an account.
BLOB_HOST = "{name}.blob.core.windows.net"

#: The ARM resource id of a storage account: ``account_id(subscription, group, name)``.
account_id = functools.partial(resource_id, RESOURCE_TYPE)


@dataclass
class StorageAccount:
    """One storage account and its two access keys."""

    subscription: str
    resource_group: str
    name: str
    location: str
    keys: KeyRing = field(repr=False)

    @property
    def id(self) -> str:
        """The ARM resource id."""
        return account_id(self.subscription, self.resource_group, self.name)

    def to_json(self) -> dict[str, Any]:
        """The resource as ``GET`` returns it (no keys)."""
        endpoint = f"https://{BLOB_HOST.format(name=self.name)}/"
        return {
            "id": self.id,
            "name": self.name,
            "type": RESOURCE_TYPE,
            "location": self.location,
            "kind": "StorageV2",
            "sku": {"name": "Standard_LRS", "tier": "Standard"},
            "properties": {
                "provisioningState": "Succeeded",
                "allowSharedKeyAccess": True,
                "primaryEndpoints": {"blob": endpoint},
            },
        }

    def keys_json(self) -> dict[str, Any]:
        """The ``listKeys`` / ``regenerateKey`` answer."""
        return {
            "keys": [
                {
                    "keyName": name,
                    "value": self.keys.value(name),
                    "permissions": "FULL",
                    "creationTime": self.keys.created(name).isoformat().replace("+00:00", "Z"),
                }
                for name in KEY_NAMES
            ]
        }


#: Called with an account whenever its keys were created or changed.
KeyListener = Callable[[StorageAccount], None]


class StorageAccounts:
    """The emulated ``Microsoft.Storage`` provider: accounts, their keys, their routes."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self._lock = threading.RLock()
        self._accounts = ResourceIndex[StorageAccount](self._lock, RESOURCE_TYPE, account_id)
        self._listeners: list[KeyListener] = []

    # -- state, for the emulator's test helpers -------------------------------------------

    def create(
        self, subscription: str, resource_group: str, name: str, *, location: str = "westeurope"
    ) -> StorageAccount:
        """Create (or replace) an account with two fresh keys, outside ARM."""
        account = StorageAccount(
            subscription, resource_group, name, location, KeyRing(KEY_NAMES, self._now)
        )
        self._accounts.put(account)
        self._changed(account)
        return account

    def find(self, resource_id: str) -> StorageAccount | None:
        """The account with this resource id (case-insensitive), or ``None``."""
        return self._accounts.get(resource_id)

    def resource_groups(self) -> set[tuple[str, str]]:
        """(subscription, resource group) pairs that hold an account, lower-cased."""
        return self._accounts.resource_groups()

    def on_keys_changed(self, listener: KeyListener) -> None:
        """Call ``listener(account)`` after every key change (and for existing accounts now)."""
        with self._lock:
            self._listeners.append(listener)
            existing = self._accounts.values()
        for account in existing:
            listener(account)

    # -- routes ---------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """The ARM routes this provider serves."""
        versions = API_VERSIONS
        return [
            Route("GET", ACCOUNT_PATH, "storage_accounts_get_properties",
                  self._accounts.get_response, READ, versions),
            Route("POST", ACCOUNT_PATH + "/listKeys", "storage_accounts_list_keys",
                  self._list_keys, LIST_KEYS, versions),
            Route("POST", ACCOUNT_PATH + "/regenerateKey", "storage_accounts_regenerate_key",
                  self._regenerate_key, REGENERATE_KEY, versions),
        ]  # fmt: skip

    def _list_keys(self, call: Call) -> Response:
        return Response.json(200, self._accounts.named(call).keys_json())

    def _regenerate_key(self, call: Call) -> Response:
        account = self._accounts.named(call)
        try:
            body = call.request.json()
        except ValueError:
            body = None
        name = body.get("keyName") if isinstance(body, dict) else None
        if name not in KEY_NAMES:
            raise ArmError(
                400,
                "InvalidValuesForRequestParameters",
                "Values for request parameters are invalid: keyName.",
            )
        account.keys.regenerate(str(name))
        self._changed(account)
        return Response.json(200, account.keys_json())

    def _changed(self, account: StorageAccount) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(account)
