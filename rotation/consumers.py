"""The engine's view of consumer confirmation: did every reader of the secret move on?

Concrete checks (App Service Key Vault references, HTTP probes, target-side sessions) plug in
behind :class:`ConsumerConfirmer`; the engine only needs its verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from rotation.config import SecretConfig


@dataclass(frozen=True)
class ConsumerReport:
    """What the consumers of one secret were seen using.

    ``seen`` maps each consumer name to the version it reports (or ``None`` when it could not
    tell); ``errors`` maps consumers whose check failed to a sanitized reason. A consumer that
    errored is never counted as moved.
    """

    moved: bool
    seen: Mapping[str, str | None] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)


class ConsumerConfirmer(Protocol):
    """Checks whether every consumer of a secret uses ``new_version``."""

    def check(
        self, config: SecretConfig, vault_url: str, new_version: str, checked_at: datetime
    ) -> ConsumerReport: ...


class NoConsumers:
    """The confirmer for secrets that declare none: there is nobody to wait for."""

    def check(
        self, config: SecretConfig, vault_url: str, new_version: str, checked_at: datetime
    ) -> ConsumerReport:
        return ConsumerReport(moved=True)
