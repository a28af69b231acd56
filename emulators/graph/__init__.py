"""An emulated Microsoft Entra ID: Graph's application endpoints and the login endpoint.

``GraphEmulator.attach(stack)`` serves ``https://graph.microsoft.com`` (applications and
their client secrets: :mod:`emulators.graph.service`) and ``https://login.microsoftonline.com``
(tenant metadata and client-credentials tokens: :mod:`emulators.graph.login`) through the
local stack's TLS proxy, over one :class:`~emulators.graph.directory.Directory` and the
stack's identity service (its tenant, its token signing key).
"""

from __future__ import annotations

from typing import Protocol

from emulators.clock import Clock
from emulators.graph.directory import (
    READ_WRITE_ALL,
    READ_WRITE_OWNED_BY,
    Application,
    Directory,
    SecretCheck,
)
from emulators.graph.login import HOST as LOGIN_HOST
from emulators.graph.login import LoginService
from emulators.graph.service import HOST as GRAPH_HOST
from emulators.graph.service import GraphService
from emulators.identity import IdentityService
from emulators.wire import Service


class _Stack(Protocol):
    clock: Clock
    identity: IdentityService

    def register_host(self, host_or_pattern: str, service: Service) -> None: ...


class GraphEmulator:
    """The directory with its two endpoints; test helpers are the directory's."""

    def __init__(self, clock: Clock, identity: IdentityService) -> None:
        self.directory = Directory(clock)
        self.identity = identity
        self.graph = GraphService(self.directory, identity)
        self.login = LoginService(self.directory, identity)

    @classmethod
    def attach(cls, stack: _Stack) -> GraphEmulator:
        """A new emulator on ``stack``'s clock and identity, registered for both hosts."""
        emulator = cls(stack.clock, stack.identity)
        stack.register_host(GRAPH_HOST, emulator.graph)
        stack.register_host(LOGIN_HOST, emulator.login)
        return emulator

    @property
    def tenant_id(self) -> str:
        """The emulated tenant (the identity service's)."""
        return self.identity.tenant_id

    def create_application(self, display_name: str, *, owners: tuple[str, ...] = ()) -> Application:
        """A new app registration owned by ``owners`` (principal ids)."""
        return self.directory.create_application(display_name, owners=owners)

    def grant(self, principal_id: str, role: str = READ_WRITE_OWNED_BY) -> None:
        """Grant a Graph application permission (app role) to ``principal_id``."""
        self.directory.grant(principal_id, role)

    def add_secret(self, app: Application, display_name: str) -> tuple[str, str]:
        """Add a client secret as an owner would in the portal: ``(secret text, key id)``."""
        text, record = self.directory.add_password(app, display_name)
        return text, record.key_id

    def logs_in(self, app_id: str, secret: str) -> bool:
        """Whether the token endpoint would accept this client secret now."""
        return self.directory.check_secret(app_id, secret) is SecretCheck.OK

    def password_names(self, app: Application) -> list[str | None]:
        """Display names of the application's client secrets, in the order added."""
        with self.directory.lock:
            return [p.display_name for p in app.passwords]


__all__ = [
    "GRAPH_HOST",
    "LOGIN_HOST",
    "READ_WRITE_ALL",
    "READ_WRITE_OWNED_BY",
    "Application",
    "Directory",
    "GraphEmulator",
]
