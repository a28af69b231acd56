"""Event Grid custom topics: the ``https://<topic>.<region>-1.eventgrid.azure.net/api/events``
endpoint that ``azure.eventgrid.EventGridPublisherClient`` publishes to.

Requests are authenticated as Event Grid does: the ``aeg-sas-key`` header (``AzureKeyCredential``),
an ``aeg-sas-token`` (``AzureSasCredential`` with :func:`azure.eventgrid.generate_sas`) or a
bearer token for ``https://eventgrid.azure.net`` whose principal holds the topic's
"EventGrid Data Sender" role. What a topic accepts is kept for the tests (:meth:`Topic.received`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qs, unquote

from emulators.clock import Clock
from emulators.eventgrid.schema import (
    CLOUD_EVENT_SCHEMA,
    DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID,
    EVENT_GRID_SCHEMA,
    SCHEMAS,
)
from emulators.identity import InvalidToken
from emulators.wire import Request, Response

EVENTGRID_AUDIENCE: Final = "https://eventgrid.azure.net"
HOST_SUFFIX: Final = ".eventgrid.azure.net"
MAX_REQUEST_BYTES: Final = 1024 * 1024
TokenValidator = Callable[[str, str], Mapping[str, Any]]
"""``validate(token, audience) -> claims``; raises :class:`InvalidToken` on a bad token."""


def _new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass
class Topic:
    """A custom topic. ``key``/``key2`` are its access keys (base64, like Azure's)."""

    name: str
    region: str
    input_schema: str
    subscription_id: str
    resource_group: str
    key: str = field(default_factory=_new_key, repr=False)
    key2: str = field(default_factory=_new_key, repr=False)
    data_senders: set[str] = field(default_factory=set)
    _received: list[dict[str, Any]] = field(default_factory=list, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def host(self) -> str:
        """``<name>.<region>-1.eventgrid.azure.net``."""
        return f"{self.name}.{self.region}-1{HOST_SUFFIX}"

    @property
    def endpoint(self) -> str:
        """The URL to give ``EventGridPublisherClient``."""
        return f"https://{self.host}/api/events"

    @property
    def resource_id(self) -> str:
        """The topic's ARM id: the ``topic`` Event Grid stamps on Event Grid schema events."""
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.EventGrid/topics/{self.name}"
        )

    def grant_data_sender(self, principal_id: str) -> None:
        """Give a principal (object id) the "EventGrid Data Sender" role on this topic."""
        with self._lock:
            self.data_senders.add(principal_id)

    def is_data_sender(self, principal_id: str) -> bool:
        """Whether ``principal_id`` holds the "EventGrid Data Sender" role here."""
        with self._lock:
            return principal_id in self.data_senders

    def received(self) -> list[dict[str, Any]]:
        """Every event accepted so far, in arrival order (copies of the parsed JSON)."""
        with self._lock:
            return [json.loads(json.dumps(e)) for e in self._received]

    def accept(self, events: list[dict[str, Any]]) -> None:
        """Keep ``events`` as received (the service calls this once a request is accepted)."""
        with self._lock:
            self._received.extend(events)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    report = f"Report '{uuid.uuid4()}:{datetime.now(UTC):%m/%d/%Y %I:%M:%S %p}' to our forums "
    body = {"error": {"code": code, "message": f"{message} {report}for assistance."}}
    return Response.json(status, body, headers)


class TopicService:
    """Serves every custom topic host; register it for ``*.eventgrid.azure.net``. Thread-safe."""

    def __init__(
        self,
        clock: Clock,
        *,
        token_validator: TokenValidator | None = None,
        subscription_id: str = DEFAULT_SUBSCRIPTION_ID,
        resource_group: str = DEFAULT_RESOURCE_GROUP,
    ) -> None:
        self._clock = clock
        self._validate_token = token_validator
        #: Where the topics live in ARM (their resource ids); the emulator's vault events use
        #: the same scope.
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self._topics: dict[str, Topic] = {}
        self._lock = threading.Lock()

    def create_topic(
        self, name: str, *, region: str = "westus2", input_schema: str = CLOUD_EVENT_SCHEMA
    ) -> Topic:
        """Create a custom topic (names are 3-50 letters, digits and hyphens, as in Azure)."""
        if not (3 <= len(name) <= 50 and all(c.isalnum() or c == "-" for c in name)):
            raise ValueError(f"invalid topic name {name!r}")
        if input_schema not in SCHEMAS:
            raise ValueError(f"unknown input schema {input_schema!r}; known: {list(SCHEMAS)}")
        topic = Topic(
            name=name.lower(),
            region=region.lower(),
            input_schema=input_schema,
            subscription_id=self.subscription_id,
            resource_group=self.resource_group,
        )
        with self._lock:
            if topic.name in self._topics:
                raise ValueError(f"topic {name!r} already exists")
            self._topics[topic.name] = topic
        return topic

    def topic(self, name: str) -> Topic:
        """The topic called ``name`` (``KeyError`` if there is none)."""
        with self._lock:
            return self._topics[name.lower()]

    def _by_host(self, host: str) -> Topic | None:
        host = host.split(":", 1)[0].lower()
        with self._lock:
            return next((t for t in self._topics.values() if t.host == host), None)

    # -- HTTP -------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Accept ``POST /api/events`` for a known topic; anything else gets Event Grid's error."""
        topic = self._by_host(request.host)
        if topic is None:
            return _error(404, "NotFound", f"The topic {request.host} could not be found.")
        if request.path.rstrip("/") != "/api/events":
            return _error(404, "NotFound", f"The path {request.path} was not found.")
        if request.method != "POST":
            return _error(405, "MethodNotAllowed", f"Method {request.method} is not allowed.")
        if "api-version" not in request.query:
            return _error(400, "BadRequest", "The api-version query parameter is required.")
        denied = self._authenticate(topic, request)
        if denied is not None:
            return denied
        if len(request.body) > MAX_REQUEST_BYTES:
            return _error(
                413, "RequestEntityTooLarge", "The maximum size (1048576) has been exceeded."
            )
        try:
            events = self._parse(topic, request)
        except ValueError as problem:
            return _error(400, "BadRequest", str(problem))
        topic.accept(events)
        return Response(200)

    def _authenticate(self, topic: Topic, request: Request) -> Response | None:
        key = request.headers.get("aeg-sas-key")
        token = request.headers.get("aeg-sas-token")
        bearer = request.headers.get("authorization", "")
        if key is not None:
            if any(hmac.compare_digest(key.encode(), k.encode()) for k in (topic.key, topic.key2)):
                return None
            return self._unauthorized(topic, "The key provided is invalid or expired.")
        if token is not None:
            if self._sas_token_valid(topic, token):
                return None
            return self._unauthorized(topic, "The token provided is invalid or expired.")
        if bearer.lower().startswith("bearer "):
            return self._check_bearer(topic, bearer[7:].strip())
        return _error(
            401,
            "Unauthorized",
            "Request must contain one of the following authorization signature: "
            "aeg-sas-token, aeg-sas-key, Authorization (Bearer).",
        )

    @staticmethod
    def _unauthorized(topic: Topic, reason: str) -> Response:
        return _error(
            401,
            "Unauthorized",
            f"The request authorization key is not authorized for {topic.host.upper()}. "
            f"This is due to the reason: {reason}",
        )

    def _check_bearer(self, topic: Topic, token: str) -> Response | None:
        if self._validate_token is None:
            return self._unauthorized(topic, "Bearer tokens are not configured on this emulator.")
        try:
            claims = self._validate_token(token, EVENTGRID_AUDIENCE)
        except InvalidToken:
            return self._unauthorized(topic, "The bearer token is invalid or expired.")
        principal = str(claims.get("oid", ""))
        if not topic.is_data_sender(principal):
            return _error(
                401,
                "Unauthorized",
                f"The principal {principal or '(unknown)'} associated with the bearer token is "
                f"not authorized to publish events to {topic.host.upper()}: it lacks the "
                f"'EventGrid Data Sender' role (Microsoft.EventGrid/events/send/action).",
            )
        return None

    @staticmethod
    def _sas_token_valid(topic: Topic, token: str) -> bool:
        """Check an ``r=..&e=..&s=..`` token made by ``azure.eventgrid.generate_sas``."""
        unsigned, sep, signature = token.rpartition("&s=")
        if not sep:
            return False
        fields = parse_qs(unsigned)
        resource = fields.get("r", [""])[-1]
        expires = fields.get("e", [""])[-1]
        if not resource.lower().startswith(topic.endpoint.lower()):
            return False
        try:
            expiry = datetime.fromisoformat(expires)
        except ValueError:
            return False
        if expiry.tzinfo is None:
            expiry = expiry.replace(tzinfo=UTC)
        if expiry <= datetime.now(UTC):
            return False
        for key in (topic.key, topic.key2):
            digest = hmac.new(base64.b64decode(key), unsigned.encode("ascii"), hashlib.sha256)
            expected = base64.b64encode(digest.digest()).decode()
            if hmac.compare_digest(unquote(signature).encode(), expected.encode()):
                return True
        return False

    def _parse(self, topic: Topic, request: Request) -> list[dict[str, Any]]:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            payload = request.json()
        except ValueError:
            raise ValueError("The request body is not valid JSON.") from None
        if topic.input_schema == CLOUD_EVENT_SCHEMA:
            if content_type == "application/cloudevents+json":
                events = [payload]
            elif content_type in ("application/cloudevents-batch+json", "application/json"):
                events = payload if isinstance(payload, list) else [payload]
            else:
                raise ValueError(f"Content type {content_type!r} is not supported for CloudEvents.")
            for event in events:
                _check_cloud_event(event)
            return list(events)
        if content_type != "application/json" or not isinstance(payload, list):
            raise ValueError("This topic expects an array of events in the EventGridSchema.")
        for event in payload:
            _check_event_grid_event(event)
            event.setdefault("topic", topic.resource_id)
            event.setdefault("metadataVersion", "1")
        assert topic.input_schema == EVENT_GRID_SCHEMA
        return list(payload)


def _check_cloud_event(event: Any) -> None:
    if not isinstance(event, dict):
        raise ValueError("Each CloudEvent must be a JSON object.")
    if event.get("specversion") != "1.0":
        raise ValueError("Required attribute 'specversion' must be '1.0'.")
    for name in ("id", "source", "type"):
        if not isinstance(event.get(name), str) or not event[name]:
            raise ValueError(f"Required CloudEvent attribute '{name}' is missing or empty.")


def _check_event_grid_event(event: Any) -> None:
    if not isinstance(event, dict):
        raise ValueError("Each event must be a JSON object.")
    for name in ("id", "subject", "eventType", "eventTime", "dataVersion"):
        if not isinstance(event.get(name), str) or (name != "dataVersion" and not event[name]):
            raise ValueError(f"Required property '{name}' is missing or empty.")
    try:
        datetime.fromisoformat(event["eventTime"])
    except ValueError:
        raise ValueError("Property 'eventTime' is not a valid ISO 8601 date.") from None
