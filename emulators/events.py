"""What the emulated Key Vault tells listeners (such as the Event Grid emulator)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SecretVersionInfo:
    """Public facts about one secret version: never the value.

    ``vault`` is the vault name (``myvault`` for ``https://myvault.vault.azure.net``).
    """

    vault: str
    name: str
    version: str
    enabled: bool
    not_before: datetime | None
    expires: datetime | None


@dataclass(frozen=True)
class SecretChange:
    """A change the vault reports to its listeners, as Key Vault reports it to Event Grid.

    ``kind`` is the Event Grid event type suffix: ``SecretNewVersionCreated`` (on every set and
    restore) is the one the vault itself raises; ``SecretNearExpiry`` and ``SecretExpired``
    are raised by whoever watches the clock (the Event Grid emulator).
    """

    kind: str
    secret: SecretVersionInfo
