"""An emulated Datadog API: the key-management and validate endpoints, with Datadog's shapes.

Endpoints (as documented at https://docs.datadoghq.com/api/latest/key-management/ and
https://docs.datadoghq.com/api/latest/authentication/):

- ``GET /api/v1/validate`` with ``DD-API-KEY`` -> ``200 {"valid": true}``;
  an unknown or revoked key -> ``403 {"errors": ["Forbidden"]}``.
- ``POST /api/v2/api_keys`` ``{"data": {"type": "api_keys", "attributes": {"name": ..}}}``
  -> ``201`` with ``data.id`` and ``data.attributes.key`` (the only time the key is shown).
- ``GET /api/v2/api_keys`` with ``filter`` (substring of the name), ``page[size]`` (at most
  100) and ``page[number]`` -> ``data`` (no ``key``, only ``last4``) and
  ``meta.page.total_filtered_count``.
- ``GET /api/v2/api_keys/{id}``, ``DELETE /api/v2/api_keys/{id}`` (``204``; ``404
  {"errors": ["API key not found"]}`` when unknown).

Management endpoints need a valid ``DD-API-KEY`` *and* ``DD-APPLICATION-KEY`` of the same
organization (``403 {"errors": ["Forbidden"]}`` otherwise). Keys are stored as SHA-256 hashes
only; the plain key leaves the service once, in the create answer (or :meth:`create_org`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from emulators.clock import Clock
from emulators.faults import Operation
from emulators.http11 import DropConnection
from emulators.wire import Request, Response

API_KEY_PATH = re.compile(r"^/api/v2/api_keys/([^/]+)$")
MAX_NAME = 1000
MAX_PAGE_SIZE = 100


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _errors(status: int, *messages: str) -> Response:
    return Response.json(status, {"errors": list(messages)})


@dataclass
class _ApiKey:
    id: str
    org: str
    name: str
    key_hash: str
    last4: str
    created_at: datetime
    modified_at: datetime


@dataclass
class _AppKey:
    id: str
    org: str
    key_hash: str


class DatadogService:
    """The emulated Datadog API. Thread-safe; implements ``emulators.wire.Service`` and
    ``emulators.faults.DescribesOperations`` (operations ``validate``, ``create_api_key``,
    ``list_api_keys``, ``get_api_key``, ``delete_api_key``)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self._lock = threading.Lock()
        self._api_keys: dict[str, _ApiKey] = {}
        self._by_hash: dict[str, str] = {}
        self._app_keys: dict[str, _AppKey] = {}
        self._lose: list[str] = []
        self.requests_seen = 0

    # -- test helpers -----------------------------------------------------------------------

    def create_org(self, name: str = "org") -> tuple[str, str]:
        """A new organization with one API key and one application key: ``(api, app)``."""
        org = uuid.uuid4().hex
        api_key, _ = self._mint(org, f"{name}-admin")
        app_key = secrets.token_hex(20)
        with self._lock:
            app_id = str(uuid.uuid4())
            self._app_keys[_hash(app_key)] = _AppKey(app_id, org, _hash(app_key))
        return api_key, app_key

    def add_api_key(self, org_api_key: str, name: str) -> tuple[str, str]:
        """Mint an API key named ``name`` in the organization of ``org_api_key``, as a user
        would in the Datadog console: returns ``(key, key_id)``."""
        with self._lock:
            org = self._org_of_api_key(org_api_key)
            if org is None:
                raise KeyError("unknown organization key")
            key, record = self._mint_locked(org, name)
            return key, record.id

    def key_names(self, org_api_key: str) -> list[str]:
        """Names of every live API key of the organization that ``org_api_key`` belongs to."""
        with self._lock:
            org = self._org_of_api_key(org_api_key)
            return sorted(k.name for k in self._api_keys.values() if k.org == org)

    def is_live(self, api_key: str) -> bool:
        """Whether ``api_key`` is a live (not revoked) API key."""
        with self._lock:
            return _hash(api_key) in self._by_hash

    def lose_next_response(self, operation: str) -> None:
        """Process the next request of ``operation`` but close the connection without
        answering, as when a gateway times out after the work was done."""
        with self._lock:
            self._lose.append(operation)

    # -- wire ---------------------------------------------------------------------------------

    def describe(self, request: Request) -> Operation | None:
        """The operation name of ``request`` (for fault rules), ``None`` if not an endpoint."""
        path = request.path.rstrip("/") or "/"
        if path == "/api/v1/validate":
            return Operation("validate")
        if path == "/api/v2/api_keys":
            return Operation(
                {"POST": "create_api_key", "GET": "list_api_keys"}.get(request.method, "api_keys")
            )
        if API_KEY_PATH.match(path):
            return Operation(
                {"DELETE": "delete_api_key", "GET": "get_api_key"}.get(request.method, "api_key")
            )
        return None

    def handle(self, request: Request) -> Response:
        """Answer one request (see the module docstring)."""
        with self._lock:
            self.requests_seen += 1
            response = self._route(request)
            operation = self.describe(request)
            if operation is not None and operation.name in self._lose:
                self._lose.remove(operation.name)
                raise DropConnection
            return response

    def _route(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        if path == "/api/v1/validate":
            if request.method != "GET":
                return _errors(405, "Method Not Allowed")
            return self._validate(request)
        if path == "/api/v2/api_keys":
            org = self._management_org(request)
            if org is None:
                return _errors(403, "Forbidden")
            if request.method == "POST":
                return self._create(org, request)
            if request.method == "GET":
                return self._list(org, request)
            return _errors(405, "Method Not Allowed")
        match = API_KEY_PATH.match(path)
        if match:
            org = self._management_org(request)
            if org is None:
                return _errors(403, "Forbidden")
            key = self._api_keys.get(match.group(1))
            if key is None or key.org != org:
                return _errors(404, "API key not found")
            if request.method == "GET":
                return Response.json(200, {"data": self._public(key)})
            if request.method == "DELETE":
                self._forget(key)
                return Response(204)
            return _errors(405, "Method Not Allowed")
        return _errors(404, "Not found")

    # -- endpoints ------------------------------------------------------------------------

    def _validate(self, request: Request) -> Response:
        api_key = request.headers.get("dd-api-key") or request.query.get("api_key")
        if not api_key or self._org_of_api_key(api_key) is None:
            return _errors(403, "Forbidden")
        return Response.json(200, {"valid": True})

    def _create(self, org: str, request: Request) -> Response:
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            return _errors(400, "Invalid JSON")
        data = body.get("data") if isinstance(body, dict) else None
        attributes = data.get("attributes") if isinstance(data, dict) else None
        if not isinstance(data, dict) or data.get("type") != "api_keys":
            return _errors(400, "invalid type, expected 'api_keys'")
        name = attributes.get("name") if isinstance(attributes, dict) else None
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            return _errors(400, "API key name is required")
        api_key, record = self._mint_locked(org, name)
        payload = self._public(record)
        payload["attributes"]["key"] = api_key
        return Response.json(201, {"data": payload})

    def _list(self, org: str, request: Request) -> Response:
        query = request.query
        try:
            size = int(query.get("page[size]", "10"))
            number = int(query.get("page[number]", "0"))
        except ValueError:
            return _errors(400, "page parameters must be integers")
        if not 1 <= size <= MAX_PAGE_SIZE or number < 0:
            return _errors(400, f"page[size] must be between 1 and {MAX_PAGE_SIZE}")
        needle = query.get("filter", "").lower()
        keys = sorted(
            (k for k in self._api_keys.values() if k.org == org and needle in k.name.lower()),
            key=lambda k: (k.name, k.id),
        )
        page = keys[number * size : (number + 1) * size]
        return Response.json(
            200,
            {
                "data": [self._public(k) for k in page],
                "meta": {"page": {"total_filtered_count": len(keys)}},
            },
        )

    # -- store ----------------------------------------------------------------------------

    def _mint(self, org: str, name: str) -> tuple[str, _ApiKey]:
        with self._lock:
            return self._mint_locked(org, name)

    def _mint_locked(self, org: str, name: str) -> tuple[str, _ApiKey]:
        api_key = secrets.token_hex(16)
        now = self.clock.now()
        record = _ApiKey(
            id=str(uuid.uuid4()),
            org=org,
            name=name,
            key_hash=_hash(api_key),
            last4=api_key[-4:],
            created_at=now,
            modified_at=now,
        )
        self._api_keys[record.id] = record
        self._by_hash[record.key_hash] = record.id
        return api_key, record

    def _forget(self, key: _ApiKey) -> None:
        del self._api_keys[key.id]
        self._by_hash.pop(key.key_hash, None)

    def _org_of_api_key(self, api_key: str) -> str | None:
        key_id = self._by_hash.get(_hash(api_key))
        return self._api_keys[key_id].org if key_id is not None else None

    def _management_org(self, request: Request) -> str | None:
        api_key = request.headers.get("dd-api-key", "")
        app_key = request.headers.get("dd-application-key", "")
        org = self._org_of_api_key(api_key) if api_key else None
        app = self._app_keys.get(_hash(app_key)) if app_key else None
        if org is None or app is None or app.org != org:
            return None
        return org

    @staticmethod
    def _public(key: _ApiKey) -> dict[str, Any]:
        return {
            "type": "api_keys",
            "id": key.id,
            "attributes": {
                "name": key.name,
                "last4": key.last4,
                "created_at": key.created_at.isoformat(timespec="seconds"),
                "modified_at": key.modified_at.isoformat(timespec="seconds"),
                "category": "default",
                "remote_config_read_enabled": True,
            },
        }
