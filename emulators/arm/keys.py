"""Account access keys as Storage and Cosmos DB keep them: named, random, regenerated one at
a time. Unlike passwords, ARM hands keys back (``listKeys``), so the values are kept."""

from __future__ import annotations

import base64
import functools
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from emulators.arm.errors import ArmError
from emulators.arm.routing import Call, ResourceIndex, resource_id

#: Bytes of randomness in one key (both services hand out 64-byte keys, base64: 88 chars).
KEY_BYTES = 64


def new_key() -> str:
    """A fresh random account key, base64 as Azure prints it."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


@dataclass
class KeyRing:
    """The keys of one account by name, with when each was last generated. Thread-safe."""

    names: tuple[str, ...]
    now: Callable[[], datetime] = field(repr=False)
    _values: dict[str, str] = field(default_factory=dict, repr=False)
    _created: dict[str, datetime] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: How many times a key was regenerated (all names together).
    regenerations: int = 0

    def __post_init__(self) -> None:
        for name in self.names:
            self._set(name)

    def _set(self, name: str) -> None:
        self._values[name] = new_key()
        self._created[name] = self.now()

    def regenerate(self, name: str) -> None:
        """Replace key ``name`` with a fresh one (``KeyError`` for an unknown name)."""
        with self._lock:
            if name not in self._values:
                raise KeyError(name)
            self._set(name)
            self.regenerations += 1

    def value(self, name: str) -> str:
        """The current value of key ``name``."""
        with self._lock:
            return self._values[name]

    def created(self, name: str) -> datetime:
        """When key ``name`` was last generated."""
        with self._lock:
            return self._created[name]

    def holder(self, key: str, among: Iterable[str] | None = None) -> str | None:
        """The name of the key whose value is ``key`` (only ``among`` those names), or ``None``."""
        with self._lock:
            wanted = self.names if among is None else tuple(among)
            return next((n for n in wanted if self._values.get(n) == key), None)


@dataclass
class KeyedAccount:
    """An account whose keys ARM lists and regenerates (Storage, Cosmos DB)."""

    #: Set by each subclass: ``Microsoft.Storage/storageAccounts``...
    resource_type: ClassVar[str]

    subscription: str
    resource_group: str
    name: str
    location: str
    keys: KeyRing = field(repr=False)

    @property
    def id(self) -> str:
        """The ARM resource id."""
        return resource_id(self.resource_type, self.subscription, self.resource_group, self.name)

    def resource_json(self, **details: Any) -> dict[str, Any]:
        """The ARM resource body: id, name, type and location, then ``details``."""
        placed = {"id": self.id, "name": self.name, "type": self.resource_type}
        return {**placed, "location": self.location, **details}

    def to_json(self) -> dict[str, Any]:
        """The resource as ``GET`` returns it; subclasses add their properties."""
        return self.resource_json()


A = TypeVar("A", bound=KeyedAccount)


class KeyedAccounts(Generic[A]):
    """A provider's accounts by ARM id, each created with fresh keys named ``key_names``."""

    def __init__(
        self, now: Callable[[], datetime], account: type[A], key_names: tuple[str, ...]
    ) -> None:
        self._now = now
        self._account = account
        self._key_names = key_names
        self._lock = threading.RLock()
        self.accounts = ResourceIndex[A](
            self._lock, account.resource_type, functools.partial(resource_id, account.resource_type)
        )

    def create(
        self, subscription: str, resource_group: str, name: str, *, location: str = "westeurope"
    ) -> A:
        """Create (or replace) an account with fresh keys, outside ARM."""
        ring = KeyRing(self._key_names, self._now)
        account = self.accounts.put(
            self._account(subscription, resource_group, name, location, ring)
        )
        self.keys_changed(account)
        return account

    def keys_changed(self, account: A) -> None:
        """Called after an account's keys were made or changed (default: nothing)."""

    def find(self, resource_id: str) -> A | None:
        """The account with this resource id (case-insensitive), or ``None``."""
        return self.accounts.get(resource_id)

    def resource_groups(self) -> set[tuple[str, str]]:
        """(subscription, resource group) pairs that hold an account, lower-cased."""
        return self.accounts.resource_groups()

    def requested_key(self, call: Call, field_name: str) -> str:
        """The key name in the request body's ``field_name``; 400 unless it is a key here."""
        try:
            body = call.request.json()
        except ValueError:
            body = None
        name = body.get(field_name) if isinstance(body, dict) else None
        if name not in self._key_names:
            raise ArmError(
                400,
                "InvalidValuesForRequestParameters",
                f"Values for request parameters are invalid: {field_name}.",
            )
        return str(name)
