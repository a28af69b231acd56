"""Trigger inputs built the way the Functions host and the Python worker build them.

No Functions host runs on these machines; the worker turns what the host sends into the
trigger's argument through the azure-functions binding converters. These helpers run those
same converters (``decode`` on a :class:`azure.functions.meta.Datum`), so a test sees exactly
the object the deployed function would receive, for example a ``func.CloudEvent`` for a
CloudEvents delivery, which a hand-built ``func.EventGridEvent`` would hide.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import azure.functions as func
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.meta import Datum
from azure.functions.queue import QueueMessageInConverter


def event_grid_input(event: Mapping[str, Any] | str) -> func.EventGridEvent | func.CloudEvent:
    """The Event Grid trigger's argument for one delivered event: ``event`` is the JSON
    object the host passes for one array element (a dict, or its JSON text verbatim).
    The converter returns ``func.CloudEvent`` when the JSON has ``specversion``."""
    text = event if isinstance(event, str) else json.dumps(event)
    decoded: func.EventGridEvent | func.CloudEvent = EventGridEventInConverter.decode(
        Datum(text, "json"), trigger_metadata={}
    )
    return decoded


def queue_input(body: str | bytes, *, dequeue_count: int = 1) -> func.QueueMessage:
    """The queue trigger's argument for a message whose (base64-decoded) content is ``body``:
    the host sends text as a ``string`` datum, anything else as ``bytes``."""
    datum = Datum(body, "string" if isinstance(body, str) else "bytes")
    metadata = {
        "Id": Datum("00000000-0000-0000-0000-000000000001", "string"),
        "DequeueCount": Datum(dequeue_count, "int"),
        "PopReceipt": Datum("receipt", "string"),
    }
    message: func.QueueMessage = QueueMessageInConverter.decode(datum, trigger_metadata=metadata)
    return message


def http_input(
    method: str,
    route_params: Mapping[str, str],
    params: Mapping[str, str] | None = None,
    body: bytes = b"",
) -> func.HttpRequest:
    """An HTTP trigger request as the worker builds it for ``rotations/{vault}/{name}``:
    route parameters and query parameters already URL-decoded by the host."""
    vault, name = route_params.get("vault", ""), route_params.get("name", "")
    return func.HttpRequest(
        method=method,
        url=f"https://app.azurewebsites.net/api/rotations/{vault}/{name}",
        route_params=dict(route_params),
        params=dict(params or {}),
        headers={"content-type": "application/json"},
        body=body,
    )


def functions_event(event: Mapping[str, Any]) -> func.EventGridEvent:
    """A ``func.EventGridEvent`` built field by field from one delivered Event Grid schema
    event (its public constructor, as a test that checks the fields it reads would)."""
    return func.EventGridEvent(
        id=event["id"],
        data=event["data"],
        topic=event["topic"],
        subject=event["subject"],
        event_type=event["eventType"],
        event_time=datetime.fromisoformat(event["eventTime"]),
        data_version=event["dataVersion"],
    )
