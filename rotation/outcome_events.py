"""Outcome events: what each rotation did, as CloudEvents 1.0 on an Event Grid topic.

The engine reports ``started``, ``committed``, ``consumers-confirmed``, ``retired``,
``revoked`` (:mod:`rotation.revoke`), ``overdue`` and ``failed`` (see
:meth:`rotation.engine.RotationEngine`'s ``on_outcome``).
:class:`OutcomePublisher` turns each into a CloudEvent and sends it with
``azure.eventgrid.EventGridPublisherClient`` (the app's managed identity, which needs
"EventGrid Data Sender" on the topic) to ``ROTATION_EVENTS_ENDPOINT`` when that is set:

- ``type``: ``KeyVault.Rotation.<Event>`` (:data:`EVENT_TYPES`);
- ``source``: ``<vault URL>/secrets/<secret name>``; ``subject``: the secret name;
- ``data``: :meth:`rotation.outcome.RotationOutcome.as_dict` plus ``event`` (names, versions,
  states, steps and details: never a secret value);
- extension ``severity``: ``alert`` for ``overdue``, ``failed`` and ``revoked``, else ``info``.

Publishing never fails a rotation: an error is logged (type and status only) and dropped.
Each event is also logged as a structured record (``extra``: ``rotation_event``,
``rotation_event_type``, ``rotation``), at WARNING for alerts, for Application Insights.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol
from urllib.parse import urlsplit

from azure.core.credentials import TokenCredential
from azure.core.exceptions import HttpResponseError
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridPublisherClient

from rotation.errors import ConfigurationError
from rotation.outcome import RotationOutcome
from rotation.settings import EVENTS_ENDPOINT

log = logging.getLogger(__name__)

EVENT_TYPES: dict[str, str] = {
    "started": "KeyVault.Rotation.Started",
    "committed": "KeyVault.Rotation.Committed",
    "consumers-confirmed": "KeyVault.Rotation.ConsumersConfirmed",
    "retired": "KeyVault.Rotation.Retired",
    "revoked": "KeyVault.Rotation.Revoked",
    "overdue": "KeyVault.Rotation.Overdue",
    "failed": "KeyVault.Rotation.Failed",
}
#: ``revoked`` is an alert too: consumers still on the old credential break at once.
ALERTS = frozenset({"overdue", "failed", "revoked"})
#: Bounded SDK retries: a slow topic must not hold a rotation for long.
PUBLISH_OPTIONS: dict[str, Any] = {
    "retry_total": 2,
    "retry_backoff_factor": 0.5,
    "connection_timeout": 5,
    "read_timeout": 10,
}


class Sender(Protocol):
    """What the publisher needs of ``EventGridPublisherClient``."""

    def send(self, events: list[CloudEvent[Any]], **kwargs: Any) -> None: ...


def event_type(event: str) -> str:
    """The CloudEvent ``type`` for an engine event name."""
    return EVENT_TYPES.get(event, "KeyVault.Rotation." + event.title().replace("-", ""))


def to_cloud_event(event: str, outcome: RotationOutcome) -> CloudEvent[Any]:
    """The CloudEvent for one engine event (never carries a value: see module docs)."""
    data = outcome.as_dict()
    data["event"] = event
    return CloudEvent(
        source=f"{outcome.vault_url.rstrip('/')}/secrets/{outcome.secret_name}",
        type=event_type(event),
        subject=outcome.secret_name,
        data=data,
        extensions={"severity": "alert" if event in ALERTS else "info"},
    )


class OutcomePublisher:
    """The engine's ``on_outcome`` callback: logs every event and publishes it if configured."""

    def __init__(self, sender: Sender | None) -> None:
        self._sender = sender

    def __call__(self, event: str, outcome: RotationOutcome) -> None:
        cloud_event = to_cloud_event(event, outcome)
        level = logging.WARNING if event in ALERTS else logging.INFO
        log.log(
            level,
            "%s %s: %s/%s (%s)",
            "rotation alert" if event in ALERTS else "rotation event",
            cloud_event.type,
            outcome.vault_url,
            outcome.secret_name,
            outcome.state or outcome.status.value,
            extra={
                "rotation_event": event,
                "rotation_event_type": cloud_event.type,
                "rotation": cloud_event.data,
            },
        )
        if self._sender is None:
            return
        try:
            self._sender.send([cloud_event])
        except Exception as error:  # noqa: BLE001 - publishing must never fail a rotation
            status = error.status_code if isinstance(error, HttpResponseError) else None
            log.warning(
                "could not publish %s for %s: %s%s",
                cloud_event.type,
                outcome.secret_name,
                type(error).__name__,
                f" ({status})" if status else "",
            )


def build_publisher(endpoint: str | None, credential: TokenCredential) -> OutcomePublisher:
    """A publisher to ``endpoint`` (``ROTATION_EVENTS_ENDPOINT``); logs only when it is unset.

    Raises ConfigurationError when the endpoint is not an https URL (Event Grid refuses
    bearer tokens over plain http).
    """
    if not endpoint:
        return OutcomePublisher(None)
    parts = urlsplit(endpoint)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigurationError(f"app setting {EVENTS_ENDPOINT} must be an https URL")
    return OutcomePublisher(EventGridPublisherClient(endpoint, credential, **PUBLISH_OPTIONS))
