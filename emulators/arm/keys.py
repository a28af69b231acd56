"""Account access keys as Storage and Cosmos DB keep them: named, random, regenerated one at
a time. Unlike passwords, ARM hands keys back (``listKeys``), so the values are kept."""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

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
