"""What a rotation request came to: returned to triggers, logged, published, never a value."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Trigger(StrEnum):
    """What started a request."""

    EVENT = "event"
    SWEEP = "sweep"
    QUEUE = "queue"
    MANUAL = "manual"


class Status(StrEnum):
    """How a request ended (errors are raised, not returned)."""

    #: A new version was committed in this run.
    ROTATED = "rotated"
    #: An earlier rotation moved on (consumers confirmed, old credential retired, or overdue).
    ADVANCED = "advanced"
    #: Still waiting for consumers of the committed version; the sweep checks again.
    AWAITING_CONSUMERS = "awaiting-consumers"
    #: The secret is managed but not due, and nothing was unfinished.
    NOT_DUE = "not-due"
    #: The request named a version that is no longer current (a duplicate or late event).
    STALE = "stale"
    #: The secret does not carry the ``rotation-rotator`` tag.
    UNMANAGED = "unmanaged"
    #: A dry run: nothing was changed.
    DRY_RUN = "dry-run"
    #: Still running: what reports made before the end ("started", "committed") carry.
    IN_PROGRESS = "in-progress"
    #: Due, but outside its ``rotation-window``: left for the next window (nothing changed).
    DEFERRED = "deferred"
    #: Rotated and the old credential revoked at once, consumers not waited for.
    REVOKED = "revoked"


@dataclass(frozen=True)
class RotationRequest:
    """Ask the engine to look at one secret.

    ``expected_version``: act only if this is still the current version (events and sweeps
    pass the version they saw, so duplicates and late deliveries do nothing).
    ``force``: rotate even if the secret is not due (manual "rotate now").
    ``event_due``: Key Vault said this version is near expiry or expired.
    ``revoke``: rotate now and make the old credential stop working at once, without
    waiting for consumers (a leaked credential; see :mod:`rotation.revoke`).
    """

    vault_url: str
    secret_name: str
    trigger: Trigger = Trigger.MANUAL
    expected_version: str | None = None
    force: bool = False
    event_due: bool = False
    dry_run: bool = False
    revoke: bool = False


@dataclass
class RotationOutcome:
    """The result of one request, safe to log and to return over HTTP."""

    status: Status
    vault_url: str
    secret_name: str
    trigger: Trigger
    rotation_id: str | None = None
    from_version: str | None = None
    to_version: str | None = None
    state: str | None = None
    steps: list[str] = field(default_factory=list)
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["status"] = self.status.value
        data["trigger"] = self.trigger.value
        return data
