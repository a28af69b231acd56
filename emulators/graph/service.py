"""The emulated Microsoft Graph endpoint, ``https://graph.microsoft.com/v1.0``: applications.

Endpoints (as documented for Graph v1.0, application resource):

- ``GET /v1.0/applications/{id}`` and ``GET /v1.0/applications(appId='{appId}')``: the
  application with ``passwordCredentials`` (``secretText`` always ``null``);
- ``POST .../addPassword`` ``{"passwordCredential": {"displayName", "endDateTime"?,
  "startDateTime"?}}`` -> ``200`` with the new ``passwordCredential`` incl. ``secretText``
  (the only time it is shown) and ``keyId``;
- ``POST .../removePassword`` ``{"keyId"}`` -> ``204``; an unknown key id -> ``400``.

Checks, in this order: a bearer token for ``https://graph.microsoft.com`` issued by the
identity service (``401 InvalidAuthenticationToken``); a Graph permission granted to the
token's ``oid`` (``403 Authorization_RequestDenied``); the application exists (``404
Request_ResourceNotFound``); with ``Application.ReadWrite.OwnedBy`` only, the caller owns the
application (``403 Authorization_RequestDenied``). Error bodies have Graph's shape
``{"error": {"code", "message", "innerError"}}``; every answer carries a ``Date`` header from
the emulated clock. ``lose_next_response(operation)`` does the work and then drops the
connection, as a gateway timing out after the directory committed.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import unquote

from emulators.faults import Operation
from emulators.graph.directory import Application, Directory, Password
from emulators.http11 import DropConnection
from emulators.identity import IdentityService, InvalidToken
from emulators.wire import Request, Response

HOST = "graph.microsoft.com"
AUDIENCES = ("https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000")
_GUID = r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"
_PATH = re.compile(
    rf"^/v1\.0/applications(?:/(?P<id>{_GUID})|\(appId='(?P<app_id>{_GUID})'\))"
    r"(?:/(?P<action>addPassword|removePassword))?/?$"
)
_OPERATIONS = {None: "get_application", "addPassword": "add_password"}


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _public(password: Password, secret_text: str | None = None) -> dict[str, Any]:
    return {
        "customKeyIdentifier": None,
        "displayName": password.display_name,
        "endDateTime": _iso(password.end),
        "hint": password.hint,
        "keyId": password.key_id,
        "secretText": secret_text,
        "startDateTime": _iso(password.start),
    }


class GraphService:
    """Graph's application endpoints over a :class:`Directory`. Implements
    ``emulators.wire.Service`` and ``DescribesOperations`` (``get_application``,
    ``add_password``, ``remove_password``)."""

    def __init__(self, directory: Directory, identity: IdentityService) -> None:
        self.directory = directory
        self.identity = identity
        self._lose: list[str] = []

    def lose_next_response(self, operation: str) -> None:
        """Do the next ``operation`` but close the connection without answering."""
        with self.directory.lock:
            self._lose.append(operation)

    def describe(self, request: Request) -> Operation | None:
        """The operation of ``request`` (for fault rules), ``None`` if not an endpoint."""
        match = _PATH.match(unquote(request.path))
        if match is None:
            return None
        action = match["action"]
        return Operation(_OPERATIONS.get(action, "remove_password"))

    def handle(self, request: Request) -> Response:
        """Answer one request (see the module docstring)."""
        response = self._route(request)
        response.headers["Date"] = format_datetime(self.directory.clock.now(), usegmt=True)
        operation = self.describe(request)
        with self.directory.lock:
            if operation is not None and operation.name in self._lose:
                self._lose.remove(operation.name)
                raise DropConnection
        return response

    def _route(self, request: Request) -> Response:
        match = _PATH.match(unquote(request.path))
        if match is None:
            return _error(
                400, "BadRequest", f"Resource not found for the segment '{request.path}'."
            )
        action = match["action"]
        if request.method != ("GET" if action is None else "POST"):
            return _error(405, "Request_BadRequest", "The HTTP method is not allowed here.")
        principal = self._caller(request)
        if isinstance(principal, Response):
            return principal
        if self.directory.denied(principal, None) is not None:
            return _denied()
        app = self.directory.find(object_id=match["id"], app_id=match["app_id"])
        if app is None:
            which = match["id"] or match["app_id"]
            return _error(404, "Request_ResourceNotFound", f"Resource '{which}' does not exist.")
        if self.directory.denied(principal, app) is not None:
            return _denied()
        if action is None:
            return Response.json(200, self._application(app))
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return _error(400, "BadRequest", "The request body is not a JSON object.")
        if action == "addPassword":
            return self._add(app, body)
        return self._remove(app, body)

    def _caller(self, request: Request) -> str | Response:
        """The principal id of the bearer token, or a 401 answer."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(401, "InvalidAuthenticationToken", "Access token is empty.")
        reason = "the token is not valid"
        for audience in AUDIENCES:
            try:
                return str(self.identity.validate(token.strip(), audience)["oid"])
            except InvalidToken as refused:
                reason = refused.reason
        return _error(
            401, "InvalidAuthenticationToken", f"Access token validation failure: {reason}"
        )

    def _application(self, app: Application) -> dict[str, Any]:
        with self.directory.lock:
            passwords = [_public(p) for p in app.passwords]
        return {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#applications/$entity",
            "id": app.object_id,
            "appId": app.app_id,
            "displayName": app.display_name,
            "passwordCredentials": passwords,
        }

    def _add(self, app: Application, body: dict[str, Any]) -> Response:
        spec = body.get("passwordCredential") or {}
        if not isinstance(spec, dict):
            return _error(400, "BadRequest", "passwordCredential must be an object.")
        name = spec.get("displayName")
        if name is not None and (not isinstance(name, str) or len(name) > 1024):
            return _error(400, "BadRequest", "displayName must be a string.")
        start, end = _parse_time(spec.get("startDateTime")), _parse_time(spec.get("endDateTime"))
        if (spec.get("endDateTime") is not None and end is None) or (
            spec.get("startDateTime") is not None and start is None
        ):
            return _error(400, "BadRequest", "Invalid date and time value.")
        try:
            text, record = self.directory.add_password(app, name, start=start, end=end)
        except ValueError as refused:
            return _error(400, "Request_BadRequest", str(refused))
        payload = {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.passwordCredential",
            **_public(record, text),
        }
        return Response.json(200, payload)

    def _remove(self, app: Application, body: dict[str, Any]) -> Response:
        key_id = body.get("keyId")
        if not isinstance(key_id, str) or not re.fullmatch(_GUID, key_id):
            return _error(400, "BadRequest", "keyId must be a GUID.")
        if not self.directory.remove_password(app, key_id):
            return _error(
                400, "Request_BadRequest", f"No password credential found with keyId {key_id}."
            )
        return Response(204)


def _error(status: int, code: str, message: str) -> Response:
    inner = {"date": _iso(datetime.now().astimezone()), "request-id": str(uuid.uuid4())}
    return Response.json(status, {"error": {"code": code, "message": message, "innerError": inner}})


def _denied() -> Response:
    return _error(
        403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
    )
