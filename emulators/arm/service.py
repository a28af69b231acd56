"""The emulated Azure Resource Manager endpoint, ``https://management.azure.com``.

Every request goes through the steps ARM takes, in ARM's order:

1. route: an unknown path answers 404 ``InvalidResourceType`` / ``ResourceNotFound``;
2. ``api-version``: missing -> 400 ``MissingApiVersionParameter``; not one the provider
   knows -> 400 ``InvalidResourceType`` (ARM's "no registered resource provider" answer);
3. authentication: a bearer token for ``https://management.azure.com`` validated by the
   identity service; missing or invalid -> 401 with ``WWW-Authenticate: Bearer ...
   error="invalid_token"`` (no challenge round: the management SDKs send the token at once);
4. authorization: the route's action against the caller's role assignments at the request
   path (before existence, so a caller without a role sees 403, not 404) -> 403
   ``AuthorizationFailed``;
5. the resource group must hold some resource -> 404 ``ResourceGroupNotFound``;
6. the provider's handler (404 ``ResourceNotFound`` for a missing resource).

Faults are applied by the proxy before the request gets here; :meth:`ArmEmulator.describe`
names the operation (``sql_servers_update``...) so rules can target it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from emulators.arm.cosmos import CosmosAccounts
from emulators.arm.errors import ArmError, authorization_failed
from emulators.arm.rbac import RoleAssignment, RoleAssignments
from emulators.arm.routing import Call, Route
from emulators.arm.sql import SqlServers, server_id
from emulators.arm.storage import StorageAccounts
from emulators.arm.web import WebApps
from emulators.clock import Clock
from emulators.faults import Operation
from emulators.wire import Request, Response, Service

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

HOST = "management.azure.com"
#: Token audiences ARM accepts (``normalise_resource`` strips the trailing slash).
AUDIENCES = ("https://management.azure.com", "https://management.core.windows.net")
_WWW_AUTHENTICATE = (
    'Bearer authorization_uri="https://login.microsoftonline.com/common", '
    'error="invalid_token", error_description="{}"'
)


class TokenValidator(Protocol):
    """What the emulator needs of the identity service."""

    def validate(self, token: str, audience: str) -> dict[str, Any]: ...


class StackLike(Protocol):
    """What :meth:`ArmEmulator.attach` needs of ``emulators.stack.AzureStack``."""

    @property
    def clock(self) -> Clock: ...

    @property
    def identity(self) -> TokenValidator: ...

    def register_host(self, host_or_pattern: str, service: Service) -> Any: ...


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


def _forwarded(
    part: str, method: Callable[Concatenate[Any, P], T]
) -> Callable[Concatenate[ArmEmulator, P], T]:
    """A test helper of :class:`ArmEmulator` that calls ``method`` of its provider ``part``
    (``sql``, ``web``) with the same arguments."""

    def helper(self: ArmEmulator, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return method(getattr(self, part), *args, **kwargs)

    helper.__doc__ = method.__doc__
    return helper


def _returning_id(
    part: str, create: Callable[Concatenate[Any, P], _Identified]
) -> Callable[Concatenate[ArmEmulator, P], str]:
    """A test helper of :class:`ArmEmulator` that calls ``create`` of its provider ``part``
    (``sql``, ``web``) with the same arguments and returns the created resource's id."""

    def helper(self: ArmEmulator, /, *args: P.args, **kwargs: P.kwargs) -> str:
        return create(getattr(self, part), *args, **kwargs).id

    helper.__doc__ = f"{create.__doc__} Returns the resource id."
    return helper


class ArmEmulator:
    """ARM for ``Microsoft.Sql/servers``, ``Microsoft.Web/sites`` and the keys of
    ``Microsoft.Storage/storageAccounts`` and ``Microsoft.DocumentDB/databaseAccounts``, with
    RBAC and LROs.

    ``polls`` is how many status reads of a long-running operation answer ``InProgress``
    before it completes; ``retry_after_ms`` the delay its status URLs ask for.
    """

    def __init__(
        self,
        identity: TokenValidator,
        clock: Clock | None = None,
        *,
        polls: int = 1,
        retry_after_ms: int = 20,
    ) -> None:
        self._identity = identity
        self.clock = clock or Clock()
        self.roles = RoleAssignments()
        self.sql = SqlServers(self.clock.now, polls=polls, retry_after_ms=retry_after_ms)
        self.web = WebApps()
        self.storage = StorageAccounts(self.clock.now)
        self.cosmos = CosmosAccounts(self.clock.now, polls=polls, retry_after_ms=retry_after_ms)
        self._routes: list[Route] = [
            *self.sql.routes(),
            *self.web.routes(),
            *self.storage.routes(),
            *self.cosmos.routes(),
        ]

    @classmethod
    def attach(cls, stack: StackLike, **options: Any) -> ArmEmulator:
        """An emulator using ``stack``'s identity and clock, served at ``management.azure.com``."""
        arm = cls(stack.identity, stack.clock, **options)
        stack.register_host(HOST, arm)
        return arm

    # -- test helpers ---------------------------------------------------------------------

    #: Create a logical server at once (arguments as :meth:`SqlServers.create`); returns its
    #: resource id.
    create_sql_server = _returning_id("sql", SqlServers.create)

    def sql_admin_password_matches(self, resource_id: str, password: str) -> bool:
        """Whether ``password`` is the server's admin password now (compared by hash)."""
        server = self.sql.find(resource_id)
        if server is None:
            raise KeyError(f"no SQL server '{resource_id}'")
        return server.password.matches(password)

    def sql_password_changes(self, resource_id: str) -> int:
        """How many times the server's admin password was changed through ARM."""
        server = self.sql.find(resource_id)
        if server is None:
            raise KeyError(f"no SQL server '{resource_id}'")
        return server.password_changes

    #: Create a storage account (``key1``/``key2``) at once (arguments as
    #: :meth:`StorageAccounts.create`); returns its resource id.
    create_storage_account = _returning_id("storage", StorageAccounts.create)

    #: Create a Cosmos DB account (its four keys) at once (arguments as
    #: :meth:`CosmosAccounts.create`); returns its resource id.
    create_cosmos_account = _returning_id("cosmos", CosmosAccounts.create)

    def account_key(self, resource_id: str, name: str) -> str:
        """The current value of key ``name`` of a storage or Cosmos DB account (``key1``,
        ``primary``, ``secondaryReadonly``...)."""
        for provider in (self.storage, self.cosmos):
            account = provider.find(resource_id)
            if account is not None:
                return account.keys.value(name)
        raise KeyError(f"no storage or Cosmos DB account '{resource_id}'")

    def set_lro_polls(self, polls: int) -> None:
        """How many ``InProgress`` answers later operations give before completing."""
        self.sql.operations.polls = polls
        self.cosmos.operations.polls = polls

    def fail_next_sql_operation(
        self, code: str = "InternalServerError", message: str = "An unexpected error occurred."
    ) -> None:
        """Make the next SQL operation to complete end ``Failed`` with ``code`` (no change)."""
        self.sql.operations.fail_next(ArmError(500, code, message))

    def complete_operations(self) -> int:
        """Complete every running operation now (as if the client kept polling)."""
        return self.sql.operations.complete_all() + self.cosmos.operations.complete_all()

    def assign_role(self, scope: str, principal_id: str, role: str) -> RoleAssignment:
        """Give ``principal_id`` the built-in ``role`` at ``scope`` (a resource id or prefix)."""
        return self.roles.assign(scope, principal_id, role)

    def revoke_role(self, scope: str, principal_id: str, role: str) -> None:
        """Remove ``role`` from ``principal_id`` at exactly ``scope``."""
        self.roles.revoke(scope, principal_id, role)

    #: Create a web (or, with ``kind="functionapp"``, function) app at once (arguments as
    #: :meth:`WebApps.create`); returns its resource id.
    create_web_app = _returning_id("web", WebApps.create)

    #: Make ``setting`` of web app ``app`` (resource id) a Key Vault reference (arguments
    #: as :meth:`WebApps.set_key_vault_reference`).
    set_key_vault_reference = _forwarded("web", WebApps.set_key_vault_reference)

    def on_restart(self, app: str, hook: Callable[[], None]) -> None:
        """Run ``hook`` whenever web app ``app`` is restarted through ARM."""
        self.web.on_restart(app, hook)

    def web_app_restarts(self, app: str) -> int:
        """How many times web app ``app`` was restarted through ARM."""
        found = self.web.find(app)
        if found is None:
            raise KeyError(f"no web app '{app}'")
        return found.restarts

    # -- Service ----------------------------------------------------------------------------

    def describe(self, request: Request) -> Operation | None:
        """The operation a request is, for fault rules (``None`` for unknown paths)."""
        found = self._route(request)
        return Operation(found[0].operation) if found else None

    def handle(self, request: Request) -> Response:
        """Answer one ARM request (see the module docstring for the order of checks)."""
        try:
            response = self._handle(request)
        except ArmError as error:
            response = error.response()
        response.headers.setdefault("x-ms-request-id", str(uuid.uuid4()))
        return response

    def _route(self, request: Request) -> tuple[Route, dict[str, str]] | None:
        for route in self._routes:
            params = route.match(request)
            if params is not None:
                return route, params
        return None

    def _handle(self, request: Request) -> Response:
        found = self._route(request)
        if found is None:
            raise ArmError(
                404,
                "InvalidResourceType",
                f"The resource type could not be found for '{request.method} {request.path}'.",
            )
        route, params = found
        api_version = request.query.get("api-version")
        if not api_version:
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if api_version not in route.api_versions:
            raise ArmError(
                400,
                "InvalidResourceType",
                f"No registered resource provider found for api version '{api_version}'. "
                f"The supported api-versions are '{', '.join(sorted(route.api_versions))}'.",
            )
        principal_id = self._authenticate(request)

        def authorize(action: str, scope: str) -> None:
            if not self.roles.allowed(principal_id, action, scope):
                log.info("ARM refused %s to %s on %s", action, principal_id, scope)
                raise authorization_failed(principal_id, action, scope)

        if route.action is not None:
            authorize(route.action, request.path.rstrip("/"))
        if "resource_group" in params and not self._resource_group_exists(
            params["subscription"], params["resource_group"]
        ):
            raise ArmError(
                404,
                "ResourceGroupNotFound",
                f"Resource group '{params['resource_group']}' could not be found.",
            )
        return route.handler(Call(request, params, principal_id, route.operation, authorize))

    def _authenticate(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise _unauthenticated(
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            )
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthenticated(
                "AuthenticationFailedInvalidHeader",
                "Authentication failed. The 'Authorization' header is provided in an invalid "
                "format.",
            )
        reason = "the token is not valid"
        for audience in AUDIENCES:
            try:
                claims = self._identity.validate(token.strip(), audience)
            except Exception as error:  # noqa: BLE001 - the identity service's InvalidToken
                reason = str(getattr(error, "reason", reason))
                continue
            return str(claims["oid"])
        raise _unauthenticated(
            "InvalidAuthenticationToken", f"The access token is invalid: {reason}."
        )

    def _resource_group_exists(self, subscription: str, resource_group: str) -> bool:
        key = (subscription.lower(), resource_group.lower())
        return any(
            key in part.resource_groups()
            for part in (self.sql, self.web, self.storage, self.cosmos)
        )


def _unauthenticated(code: str, message: str) -> ArmError:
    return ArmError(401, code, message, {"WWW-Authenticate": _WWW_AUTHENTICATE.format(message)})


__all__ = ["HOST", "ArmEmulator", "server_id"]
