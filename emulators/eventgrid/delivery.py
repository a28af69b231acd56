"""Event subscriptions and their at-least-once delivery records.

A :class:`Subscription` names what it wants (vault, event types, schema) and where it goes
(an in-process handler or a webhook URL). The dispatcher (:mod:`emulators.eventgrid.dispatcher`)
drives attempts; this module holds the records the tests read: every attempt, every
successfully delivered event (duplicates included) and the dead letters.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from emulators.eventgrid.schema import SECRET_EVENT_TYPES, in_schema

Handler = Callable[[Any], object]
"""An in-process subscriber: called with one event dict (or a list when batching is on).

Returning normally acknowledges the delivery; raising fails it and the event is retried.
"""

# Event Grid's retry schedule, in seconds, before the dispatcher scales it down for tests.
EVENT_GRID_RETRY_SCHEDULE_S: Final = (10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0)
# Webhook answers Event Grid never retries: the event is dead-lettered at once.
NO_RETRY_STATUS: Final = frozenset({400, 401, 403, 413})
SUCCESS_STATUS: Final = frozenset({200, 201, 202, 203, 204})

OUTCOME_BY_STATUS: Final = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    408: "TimedOut",
    409: "Conflict",
    413: "RequestEntityTooLarge",
    500: "InternalServerError",
    501: "NotImplemented",
    503: "ServiceUnavailable",
}


def outcome_for_status(status: int) -> str:
    """Event Grid's ``lastDeliveryOutcome`` word for an HTTP status (``Failed`` if unnamed)."""
    if status in SUCCESS_STATUS:
        return "Delivered"
    return OUTCOME_BY_STATUS.get(status, "Failed")


@dataclass(frozen=True)
class AttemptResult:
    """What one delivery attempt came to.

    ``status`` is the HTTP status for webhooks (408 stands for a timeout) and ``None`` for
    in-process handlers; ``error`` describes a failure without any secret value.
    """

    ok: bool
    outcome: str
    status: int | None = None
    error: str | None = None
    retriable: bool = True


@dataclass(frozen=True)
class DeliveryRecord:
    """One attempt to deliver ``event_ids`` (one batch) to a subscription."""

    event_ids: tuple[str, ...]
    attempt: int
    at: datetime
    result: AttemptResult
    duplicate: bool = False


@dataclass(frozen=True)
class DeadLetter:
    """An event Event Grid gave up on, with the fields of Event Grid's dead-letter blob."""

    subscription: str
    event: dict[str, Any]
    dead_letter_reason: str
    delivery_attempts: int
    last_delivery_outcome: str
    last_http_status_code: int | None
    last_error: str | None
    at: datetime


@dataclass
class Subscription:
    """An event subscription: filter, schema, target and its delivery history.

    Build through :meth:`EventGridEmulator.subscribe`; do not construct directly.
    Exactly one of ``handler`` and ``endpoint_url`` is set. ``vault`` ``None`` means every
    vault. ``duplicate_every`` ``n`` re-delivers every n-th successfully delivered event once
    more (same id), to exercise consumers against Event Grid's at-least-once delivery.
    """

    name: str
    vault: str | None
    event_types: tuple[str, ...]
    schema: str
    handler: Handler | None = None
    endpoint_url: str | None = field(default=None, repr=False)  # may carry a key (code=...)
    max_attempts: int = 30
    duplicate_every: int | None = None
    max_events_per_batch: int = 1
    timeout_s: float = 5.0
    attempts: list[DeliveryRecord] = field(default_factory=list)
    delivered: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    _success_count: int = field(default=0, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if (self.handler is None) == (self.endpoint_url is None):
            raise ValueError("a subscription needs exactly one of handler and endpoint_url")
        unknown = [t for t in self.event_types if t not in SECRET_EVENT_TYPES]
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {list(SECRET_EVENT_TYPES)}")
        if self.max_attempts < 1 or self.max_attempts > 30:
            raise ValueError("max_attempts must be between 1 and 30, as in Event Grid")
        if self.duplicate_every is not None and self.duplicate_every < 1:
            raise ValueError("duplicate_every must be a positive integer or None")
        if not 1 <= self.max_events_per_batch <= 5000:
            raise ValueError("max_events_per_batch must be between 1 and 5000")

    def matches(self, event: dict[str, Any]) -> bool:
        """Whether an Event Grid schema Key Vault event passes this subscription's filter."""
        if event["eventType"] not in self.event_types:
            return False
        return self.vault is None or event["data"]["VaultName"] == self.vault

    def render(self, event: dict[str, Any]) -> dict[str, Any]:
        """``event`` (Event Grid schema) in this subscription's delivery schema."""
        return in_schema(event, self.schema)

    def record_attempt(self, record: DeliveryRecord, events: Sequence[dict[str, Any]]) -> bool:
        """Store an attempt; on success also the delivered events.

        Returns True when ``duplicate_every`` says this success should be delivered again.
        """
        with self._lock:
            self.attempts.append(record)
            if not record.result.ok:
                return False
            self.delivered.extend(events)
            if record.duplicate or self.duplicate_every is None:
                return False
            self._success_count += 1
            return self._success_count % self.duplicate_every == 0

    def add_dead_letter(self, letter: DeadLetter) -> None:
        """Keep an event the dispatcher gave up on."""
        with self._lock:
            self.dead_letters.append(letter)

    def delivered_ids(self) -> list[str]:
        """Ids of the successfully delivered events, in delivery order, duplicates repeated."""
        with self._lock:
            return [e["id"] for e in self.delivered]

    def delivered_event(self, event_id: str) -> dict[str, Any] | None:
        """The rendered event with ``event_id`` if it was delivered at least once."""
        with self._lock:
            for event in self.delivered:
                if event["id"] == event_id:
                    return event
        return None
