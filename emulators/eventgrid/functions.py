"""Turn a delivered event into the ``azure.functions.EventGridEvent`` a trigger receives.

For tests that call the Functions app's Event Grid trigger directly with what the emulator
delivered (no Functions host runs here). Accepts both delivery schemas.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import azure.functions as func


def as_functions_event(event: dict[str, Any]) -> func.EventGridEvent:
    """The trigger input for one delivered event (Event Grid schema or CloudEvents 1.0).

    A missing ``data`` becomes ``{}`` (the type wants a dict). CloudEvents map as the
    Functions extension maps them: ``source`` to ``topic``, ``type``
    to ``event_type``, ``time`` to ``event_time``; ``data_version`` is then empty.
    """
    if "specversion" in event:
        return func.EventGridEvent(
            id=event["id"],
            data=event.get("data") or {},
            topic=event["source"],
            subject=event.get("subject", ""),
            event_type=event["type"],
            event_time=datetime.fromisoformat(event["time"]) if event.get("time") else None,
            data_version="",
        )
    return func.EventGridEvent(
        id=event["id"],
        data=event.get("data") or {},
        topic=event.get("topic", ""),
        subject=event["subject"],
        event_type=event["eventType"],
        event_time=datetime.fromisoformat(event["eventTime"]),
        data_version=event["dataVersion"],
    )
