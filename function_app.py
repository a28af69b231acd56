"""Azure Functions triggers (Python v2 model). Each one hands plain values to rotation/.

- ``secret_near_expiry``: Event Grid, Key Vault ``SecretNearExpiry`` / ``SecretExpired``.
- ``sweep``: timer (``ROTATION_SWEEP_SCHEDULE``), finds due and unfinished rotations.
- ``rotation_worker``: Storage queue ``rotation-requests``, one due secret per message.
- ``rotation_api``: HTTP with a function key, ``/api/rotations/{vault}/{name}``.
- ``vault_status_api``: HTTP with a function key, ``/api/rotations/{vault}`` (JSON or page).
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

import azure.functions as func

from composition import build_service
from rotation.http_api import HttpReply, handle_request, handle_vault_request
from rotation.service import RotationService
from rotation.settings import WORK_QUEUE

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
log = logging.getLogger("rotation.functions")


@functools.cache
def service() -> RotationService:
    """The service for this worker process, built once from the app settings."""
    return build_service()


#: Per schema, the JSON members parse_event reads and the event attribute each comes from
#: (``data`` is added from ``get_json()``).
_EVENT_MEMBERS: dict[type, dict[str, str]] = {
    func.CloudEvent: {name: name for name in ("specversion", "id", "type", "source", "subject")},
    func.EventGridEvent: {
        "id": "id",
        "eventType": "event_type",
        "subject": "subject",
        "topic": "topic",
    },
}


def event_as_dict(event: object) -> dict[str, Any]:
    """The event the Event Grid trigger received, as the dict rotation.events.parse_event reads.

    The worker hands over ``func.EventGridEvent`` for the Event Grid schema and
    ``func.CloudEvent`` for the CloudEvents 1.0 schema (its converter picks by the JSON's
    ``specversion``); anything else gives an empty dict, which parse_event refuses with a
    reason. Reads attributes only (never raises on odd values): validation is parse_event's.
    """
    get_json = getattr(event, "get_json", None)
    data = get_json() if callable(get_json) else None
    for schema, members in _EVENT_MEMBERS.items():
        if isinstance(event, schema):
            return {key: getattr(event, name) for key, name in members.items()} | {"data": data}
    return {}


# The annotation must be a class the worker's Event Grid converter accepts (a Union is refused
# at indexing); the converter still hands over a func.CloudEvent for CloudEvents deliveries.
@app.function_name("secret_near_expiry")
@app.event_grid_trigger(arg_name="event")
def secret_near_expiry(event: func.EventGridEvent) -> None:
    """Event Grid trigger (either schema): raises only what Event Grid should redeliver."""
    service().on_event(event_as_dict(event))


@app.function_name("sweep")
@app.timer_trigger(arg_name="timer", schedule="%ROTATION_SWEEP_SCHEDULE%", run_on_startup=False)
def sweep(timer: func.TimerRequest) -> None:
    if timer.past_due:
        log.info("sweep is running late")
    service().on_timer()


@app.function_name("rotation_worker")
@app.queue_trigger(arg_name="message", queue_name=WORK_QUEUE, connection="AzureWebJobsStorage")
def rotation_worker(message: func.QueueMessage) -> None:
    """Queue trigger: raises only what should come back (a busy lock, a retryable error)."""
    service().on_work_message(message.get_body())


@app.function_name("rotation_api")
@app.route(route="rotations/{vault}/{name}", methods=["GET", "POST"])
def rotation_api(req: func.HttpRequest) -> func.HttpResponse:
    reply = handle_request(
        service(),
        req.method.upper(),
        req.route_params.get("vault", ""),
        req.route_params.get("name", ""),
        dict(req.params),
    )
    return http_response(reply)


@app.function_name("vault_status_api")
@app.route(route="rotations/{vault}", methods=["GET"])
def vault_status_api(req: func.HttpRequest) -> func.HttpResponse:
    reply = handle_vault_request(
        service(), req.method.upper(), req.route_params.get("vault", ""), dict(req.params)
    )
    return http_response(reply)


def http_response(reply: HttpReply) -> func.HttpResponse:
    """The Functions response for a reply: its page when it has one, else its JSON."""
    if reply.html is not None:
        return func.HttpResponse(
            reply.html,
            status_code=reply.status,
            headers=dict(reply.headers),
            mimetype="text/html",
            charset="utf-8",
        )
    return func.HttpResponse(
        json.dumps(reply.body),
        status_code=reply.status,
        headers=dict(reply.headers),
        mimetype="application/json",
    )
