"""Event Grid's HTTP side of webhook delivery: handshakes and event POSTs.

Webhook URLs may carry a key in their query string (an Azure Functions ``code=``), so nothing
here puts the URL, or a response body, in an error message.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import requests

from emulators.eventgrid.delivery import (
    NO_RETRY_STATUS,
    SUCCESS_STATUS,
    AttemptResult,
    outcome_for_status,
)
from emulators.eventgrid.schema import (
    CLOUD_EVENT_SCHEMA,
    SUBSCRIPTION_VALIDATION_EVENT,
    utc_time,
)

WEBHOOK_REQUEST_ORIGIN: Final = "eventgrid.azure.net"
JSON_CONTENT_TYPE: Final = "application/json; charset=utf-8"
CLOUD_EVENT_CONTENT_TYPE: Final = "application/cloudevents+json; charset=utf-8"
CLOUD_EVENT_BATCH_CONTENT_TYPE: Final = "application/cloudevents-batch+json; charset=utf-8"


class SubscriptionValidationError(Exception):
    """The endpoint did not complete Event Grid's validation handshake; no subscription made."""


def _session() -> requests.Session:
    # Webhooks are local test servers: never send them through the Azure forward proxy.
    session = requests.Session()
    session.trust_env = False
    return session


def validate_event_grid_endpoint(
    url: str, *, subscription_name: str, topic: str, now: datetime, timeout_s: float
) -> None:
    """Run the Event Grid schema handshake: POST a SubscriptionValidationEvent, expect the code.

    The endpoint must answer 200 with ``{"validationResponse": <validationCode>}``.
    Raises :class:`SubscriptionValidationError` otherwise.
    """
    code = str(uuid.uuid4()).upper()
    event = {
        "id": str(uuid.uuid4()),
        "topic": topic,
        "subject": "",
        "data": {
            "validationCode": code,
            # Manual validation (GET on this URL) is not emulated; answer the code instead.
            "validationUrl": (
                f"https://rp-local.eventgrid.azure.net/eventsubscriptions/{subscription_name}"
                f"/validate?id={code}&t={utc_time(now)}&token={secrets.token_urlsafe(16)}"
            ),
        },
        "eventType": SUBSCRIPTION_VALIDATION_EVENT,
        "eventTime": utc_time(now),
        "metadataVersion": "1",
        "dataVersion": "2",
    }
    headers = {
        "Content-Type": JSON_CONTENT_TYPE,
        "aeg-event-type": "SubscriptionValidation",
        "aeg-subscription-name": subscription_name.upper(),
        "aeg-delivery-count": "0",
        "aeg-data-version": "2",
        "aeg-metadata-version": "1",
    }
    try:
        with _session() as session:
            response = session.post(
                url, data=json.dumps([event]), headers=headers, timeout=timeout_s
            )
    except requests.RequestException as error:
        raise SubscriptionValidationError(
            f"validation handshake failed: {type(error).__name__}"
        ) from None
    if response.status_code != 200:
        raise SubscriptionValidationError(
            f"validation handshake answered HTTP {response.status_code}, expected 200"
        )
    try:
        answer = response.json()
    except ValueError:
        raise SubscriptionValidationError("validation answer is not JSON") from None
    if not isinstance(answer, dict) or answer.get("validationResponse") != code:
        raise SubscriptionValidationError("validation answer does not echo the validationCode")


def validate_cloud_event_endpoint(url: str, *, timeout_s: float) -> None:
    """Run the CloudEvents 1.0 webhook abuse-protection handshake (HTTP OPTIONS).

    Sends ``WebHook-Request-Origin: eventgrid.azure.net``; the endpoint must answer 200 with
    ``WebHook-Allowed-Origin`` set to that origin or ``*``.
    """
    try:
        with _session() as session:
            response = session.options(
                url, headers={"WebHook-Request-Origin": WEBHOOK_REQUEST_ORIGIN}, timeout=timeout_s
            )
    except requests.RequestException as error:
        raise SubscriptionValidationError(
            f"abuse-protection handshake failed: {type(error).__name__}"
        ) from None
    allowed = response.headers.get("WebHook-Allowed-Origin", "")
    if response.status_code != 200 or allowed not in (WEBHOOK_REQUEST_ORIGIN, "*"):
        raise SubscriptionValidationError(
            f"abuse-protection handshake answered HTTP {response.status_code} without "
            f"WebHook-Allowed-Origin: {WEBHOOK_REQUEST_ORIGIN}"
        )


def post_events(
    url: str,
    events: Sequence[dict[str, Any]],
    *,
    schema: str,
    subscription_name: str,
    delivery_count: int,
    timeout_s: float,
) -> AttemptResult:
    """POST one batch of already-rendered events as Event Grid does; classify the answer.

    Event Grid schema: always a JSON array. CloudEvents: one event as
    ``application/cloudevents+json``, several as ``application/cloudevents-batch+json``.
    ``delivery_count`` is the number of earlier attempts (header ``aeg-delivery-count``).
    """
    headers = {
        "aeg-event-type": "Notification",
        "aeg-subscription-name": subscription_name.upper(),
        "aeg-delivery-count": str(delivery_count),
        "aeg-metadata-version": "1",
    }
    payload: Any
    if schema == CLOUD_EVENT_SCHEMA:
        if len(events) == 1:
            headers["Content-Type"] = CLOUD_EVENT_CONTENT_TYPE
            payload = events[0]
        else:
            headers["Content-Type"] = CLOUD_EVENT_BATCH_CONTENT_TYPE
            payload = list(events)
    else:
        headers["Content-Type"] = JSON_CONTENT_TYPE
        headers["aeg-data-version"] = str(events[0].get("dataVersion", ""))
        payload = list(events)
    try:
        with _session() as session:
            response = session.post(
                url, data=json.dumps(payload), headers=headers, timeout=timeout_s
            )
    except requests.Timeout:
        return AttemptResult(False, "TimedOut", 408, "no answer within the delivery timeout")
    except requests.RequestException as error:
        return AttemptResult(False, "GenericError", None, f"{type(error).__name__}")
    status = response.status_code
    if status in SUCCESS_STATUS:
        return AttemptResult(True, "Delivered", status)
    return AttemptResult(
        False,
        outcome_for_status(status),
        status,
        f"HTTP {status}",
        retriable=status not in NO_RETRY_STATUS,
    )
