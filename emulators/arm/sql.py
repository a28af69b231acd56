"""``Microsoft.Sql/servers``: logical servers whose admin password is reset through ARM.

The operations ``azure-mgmt-sql`` 4.x calls: ``servers.get``, ``servers.begin_update``
(PATCH) and ``servers.begin_create_or_update`` (PUT), the writes as long-running operations
with ``Azure-AsyncOperation`` and ``Location`` status URLs under
``/subscriptions/{s}/providers/Microsoft.Sql/locations/{location}/``.

``properties.administratorLoginPassword`` is write-only: only a salted hash is stored and no
response carries it. A password Azure SQL would refuse is answered with ``400
PasswordNotComplex``; the administrator login cannot change after creation.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emulators.arm.errors import ArmError
from emulators.arm.lro import Operation, Operations, OperationStatus, StatusRoutes
from emulators.arm.passwords import PasswordHash, sql_password_problem
from emulators.arm.routing import (
    RESOURCE_GROUP,
    SUBSCRIPTION,
    Call,
    ResourceIndex,
    Route,
    resource_id,
)
from emulators.wire import Response

PROVIDER = "Microsoft.Sql"
RESOURCE_TYPE = "Microsoft.Sql/servers"
API_VERSIONS = frozenset(
    {"2025-01-01", "2024-05-01-preview", "2023-08-01", "2023-05-01-preview", "2021-11-01"}
)
SERVER_PATH = RESOURCE_GROUP + r"/providers/Microsoft\.Sql/servers/(?P<name>[^/]+)"
LOCATION_PATH = SUBSCRIPTION + r"/providers/Microsoft\.Sql/locations/(?P<location>[^/]+)"
#: Action checked on the server for reading the status of an operation on it.
OPERATION_READ = "Microsoft.Sql/locations/serverAzureAsyncOperation/read"


#: The ARM resource id of a logical server: ``server_id(subscription, resource_group, name)``.
server_id = functools.partial(resource_id, RESOURCE_TYPE)


@dataclass
class SqlServer:
    """One logical server. ``password`` is a hash: the emulator never keeps the value."""

    subscription: str
    resource_group: str
    name: str
    location: str
    admin_login: str
    password: PasswordHash = field(repr=False)
    tags: dict[str, str] = field(default_factory=dict)
    version: str = "12.0"
    password_changes: int = 0

    @property
    def id(self) -> str:
        """The ARM resource id."""
        return server_id(self.subscription, self.resource_group, self.name)

    def to_json(self) -> dict[str, Any]:
        """The resource as ``GET`` returns it (no password)."""
        return {
            "id": self.id,
            "name": self.name,
            "type": RESOURCE_TYPE,
            "location": self.location,
            "kind": "v12.0",
            "tags": dict(self.tags),
            "properties": {
                "administratorLogin": self.admin_login,
                "version": self.version,
                "state": "Ready",
                "fullyQualifiedDomainName": f"{self.name}.database.windows.net",
                "privateEndpointConnections": [],
                "minimalTlsVersion": "1.2",
                "publicNetworkAccess": "Enabled",
                "restrictOutboundNetworkAccess": "Disabled",
            },
        }


class SqlServers:
    """The emulated ``Microsoft.Sql`` provider: servers, their operations, their routes."""

    def __init__(self, now: Callable[[], datetime], polls: int = 1, retry_after_ms: int = 20):
        self._now = now
        self._lock = threading.RLock()
        self._servers = ResourceIndex[SqlServer](self._lock, RESOURCE_TYPE, server_id)
        self.operations = Operations(polls)
        #: The status URLs and the delay they ask clients to wait between polls.
        self.status = StatusRoutes(
            self.operations,
            PROVIDER,
            ("serverAzureAsyncOperation", "serverOperationResults"),
            retry_after_ms,
        )

    # -- state, for the emulator's test helpers -------------------------------------------

    def create(
        self,
        subscription: str,
        resource_group: str,
        name: str,
        admin_login: str,
        admin_password: str,
        *,
        location: str = "westeurope",
    ) -> SqlServer:
        """Create (or replace) a server at once, outside ARM."""
        server = SqlServer(
            subscription,
            resource_group,
            name,
            location,
            admin_login,
            PasswordHash.of(admin_password),
        )
        return self._servers.put(server)

    def find(self, resource_id: str) -> SqlServer | None:
        """The server with this resource id (case-insensitive), or ``None``."""
        return self._servers.get(resource_id)

    def resource_groups(self) -> set[tuple[str, str]]:
        """(subscription, resource group) pairs that hold a server, lower-cased."""
        return self._servers.resource_groups()

    # -- routes ---------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """The ARM routes this provider serves."""
        versions = API_VERSIONS
        status, names = (
            (self._async_status, self._operation_result),
            ("sql_server_azure_async_operation_get", "sql_server_operation_results_get"),
        )
        return [
            Route("GET", SERVER_PATH, "sql_servers_get", self._servers.get_response,
                  "Microsoft.Sql/servers/read", versions),
            Route("PATCH", SERVER_PATH, "sql_servers_update", self._update,
                  "Microsoft.Sql/servers/write", versions),
            Route("PUT", SERVER_PATH, "sql_servers_create_or_update", self._create_or_update,
                  "Microsoft.Sql/servers/write", versions),
            *self.status.routes(LOCATION_PATH, versions, status, names),
        ]  # fmt: skip

    def _update(self, call: Call) -> Response:
        server = self._servers.named(call)
        body = _body(call)
        props = _properties(body)
        login = props.get("administratorLogin")
        if login is not None and login != server.admin_login:
            raise ArmError(
                400,
                "InvalidParameterValue",
                "The administrator login of a server cannot be changed after creation.",
            )
        password = props.get("administratorLoginPassword")
        new_hash = self._checked_hash(password, server.admin_login)
        tags = body.get("tags")

        def complete() -> None:
            with self._lock:
                if new_hash is not None:
                    server.password = new_hash
                    server.password_changes += 1
                if isinstance(tags, dict):
                    server.tags = {str(k): str(v) for k, v in tags.items()}

        op = self.operations.start(server.id, call.principal_id, self._now(), complete)
        return Response(202, b"", self._status_headers(call, server.location, op))

    def _create_or_update(self, call: Call) -> Response:
        p = call.params
        body = _body(call)
        props = _properties(body)
        existing = self.find(server_id(p["subscription"], p["resource_group"], p["name"]))
        if existing is not None:
            return self._update(call)
        login = props.get("administratorLogin")
        password = props.get("administratorLoginPassword")
        location = body.get("location")
        if not isinstance(location, str) or not location:
            raise ArmError(
                400, "LocationRequired", "The location property is required for this definition."
            )
        if not isinstance(login, str) or not login or not isinstance(password, str):
            raise ArmError(
                400,
                "InvalidParameterValue",
                "Invalid value given for parameter Login or Password. "
                "Specify a valid parameter value.",
            )
        new_hash = self._checked_hash(password, login)
        assert new_hash is not None
        location = location.replace(" ", "").lower()
        server = SqlServer(
            p["subscription"], p["resource_group"], p["name"], location, login, new_hash
        )
        tags = body.get("tags")
        if isinstance(tags, dict):
            server.tags = {str(k): str(v) for k, v in tags.items()}

        def complete() -> None:
            with self._lock:
                self._servers.put(server)

        op = self.operations.start(server.id, call.principal_id, self._now(), complete)
        return Response.json(201, server.to_json(), self._status_headers(call, location, op))

    def _checked_hash(self, password: object, login: str) -> PasswordHash | None:
        if password is None:
            return None
        if not isinstance(password, str):
            raise ArmError(
                400, "InvalidParameterValue", "administratorLoginPassword must be a string."
            )
        problem = sql_password_problem(password, login)
        if problem is not None:
            raise ArmError(
                400,
                "PasswordNotComplex",
                "Password validation failed. The password does not meet policy requirements "
                f"because it is not complex enough: {problem}.",
            )
        return PasswordHash.of(password)

    def _status_headers(self, call: Call, location: str, op: Operation) -> dict[str, str]:
        p = call.params
        return self.status.started_headers(
            call.request.host, p["subscription"], location, call.api_version, op
        )

    def _polled(self, call: Call) -> Operation:
        op = self.operations.get(call.params["operation_id"])
        if (
            op is None
            or op.resource_id.split("/")[2].lower() != call.params["subscription"].lower()
        ):
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The requested operation '{call.params['operation_id']}' was not found.",
            )
        call.authorize(OPERATION_READ, op.resource_id)
        polled = self.operations.poll(op.id)
        assert polled is not None
        return polled

    def _async_status(self, call: Call) -> Response:
        body, headers = self.status.status_body(self._polled(call))
        return Response.json(200, body, headers)

    def _operation_result(self, call: Call) -> Response:
        op = self._polled(call)
        if op.status is OperationStatus.IN_PROGRESS:
            return Response(202, b"", {"Location": _url(call), **self.status.retry_header()})
        if op.error is not None:
            raise op.error
        server = self.find(op.resource_id)
        if server is None:
            return Response(204)
        return Response.json(200, server.to_json())


def _url(call: Call) -> str:
    return f"https://{call.request.host}{call.request.target}"


def _body(call: Call) -> dict[str, Any]:
    try:
        body = call.request.json()
    except ValueError:
        raise ArmError(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized.",
        ) from None
    if not isinstance(body, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content must be a JSON object.")
    return body


def _properties(body: dict[str, Any]) -> dict[str, Any]:
    props = body.get("properties") or {}
    if not isinstance(props, dict):
        raise ArmError(400, "InvalidRequestContent", "'properties' must be a JSON object.")
    return props
