"""The timer sweep: find every managed secret that needs work, without reading any value.

Listing returns each secret's current tags and expiry, so deciding what is due costs one
paged list call per vault; values are fetched later, by the engine, for due secrets only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from rotation import tags as T
from rotation.config import is_managed
from rotation.errors import RotationError
from rotation.outcome import RotationRequest, Trigger
from rotation.states import OPEN_STAGES, UNFINISHED_STATES
from rotation.vault import SecretListing, SecretStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DueSecret:
    """A secret the sweep found needing work, and why."""

    vault_url: str
    secret_name: str
    version: str | None
    reason: str
    #: The listing's tags and expiry (for the service's rotation-window check); not sent.
    tags: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    expires_on: datetime | None = field(default=None, compare=False)

    def request(self, trigger: Trigger) -> RotationRequest:
        """The engine request for this item (acts only if ``version`` is still current)."""
        return RotationRequest(
            vault_url=self.vault_url,
            secret_name=self.secret_name,
            trigger=trigger,
            expected_version=self.version,
        )


@dataclass
class SweepReport:
    """What one sweep saw and did (counts and names, never values)."""

    listed: int = 0
    managed: int = 0
    due: list[DueSecret] = field(default_factory=list)
    failed_vaults: dict[str, str] = field(default_factory=dict)


def find_due(
    vault_url: str, listings: Iterable[SecretListing], is_due: Callable[[datetime | None], bool]
) -> tuple[list[DueSecret], int, int]:
    """Due secrets among one vault's listings, with the listed and managed counts.

    A secret is due when a rotation of it is unfinished (an open staged candidate, or a
    committed version still waiting for consumers) or its current version is near expiry
    (or has none). Disabled secrets are skipped.
    """
    unfinished: set[str] = set()
    managed: dict[str, SecretListing] = {}
    listed = 0
    for item in listings:
        listed += 1
        staged_for = item.tags.get(T.STAGED_FOR)
        if staged_for:
            if item.enabled and item.tags.get(T.STAGE) in OPEN_STAGES:
                unfinished.add(staged_for.lower())
            continue
        if item.enabled and is_managed(item.tags):
            managed[item.name] = item
    due: list[DueSecret] = []
    for name, item in sorted(managed.items()):
        if name.lower() in unfinished:
            reason = "unfinished rotation"
        elif item.tags.get(T.STATE) in UNFINISHED_STATES:
            reason = f"rotation {item.tags[T.STATE]}"
        elif is_due(item.expires_on):
            reason = "no expiry" if item.expires_on is None else "near expiry"
        else:
            continue
        due.append(DueSecret(vault_url, name, item.version, reason, item.tags, item.expires_on))
    return due, listed, len(managed)


def sweep(stores: Iterable[SecretStore], is_due: Callable[[datetime | None], bool]) -> SweepReport:
    """List every vault and collect what is due. A vault that fails is reported, not fatal."""
    report = SweepReport()
    for store in stores:
        try:
            due, listed, managed = find_due(store.vault_url, store.list(), is_due)
        except RotationError as error:
            log.error("sweep could not list %s: %s", store.vault_url, error)
            report.failed_vaults[store.vault_url] = str(error)
            continue
        report.listed += listed
        report.managed += managed
        report.due.extend(due)
    log.info(
        "sweep listed %d secrets, %d managed, %d due",
        report.listed,
        report.managed,
        len(report.due),
    )
    return report
