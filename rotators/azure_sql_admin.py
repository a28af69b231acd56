"""The ``azure-sql-admin`` rotator: the administrator password of an Azure SQL logical server.

Tags
    ``rotation-target``  the server's ARM resource id,
    ``/subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.Sql/servers/<name>``
    ``rotation-strategy``  ``single`` only (a server has one SQL administrator)
    ``rotation-sql-verify``  optional: ``management`` (default) or ``tds`` (see below)

What it needs
    The app's managed identity (``AZURE_CLIENT_ID`` names a user-assigned one) with
    ``SQL Server Contributor`` (or ``Contributor``) on the server: the action used is
    ``Microsoft.Sql/servers/write``. No admin secret: the management plane needs no password.

How it works
    ``apply`` reads the server (``servers.get``) to learn its administrator login, then resets
    the password with ``servers.begin_update(...).result()`` (PATCH with
    ``properties.administratorLoginPassword``, a long-running operation). Applying the same
    candidate twice resets the password to the same value again: idempotent.

Verification, and its gap
    ARM never returns the password and offers no "check this password" operation, so the
    management plane cannot prove that a password logs in. Two verifiers:

    ``tds``
        A real SQL login to ``<server>.database.windows.net`` (database ``master``) with
        ``pymssql`` or ``pyodbc`` (ODBC Driver 18). Choose it wherever the function app can
        reach the server's TDS endpoint (firewall rule / private endpoint) and a driver is
        installed; asking for it without a driver is a configuration error.
    ``management`` (default)
        Vouches only for a password *this rotator instance* applied and whose long-running
        operation reported ``Succeeded``, and only while the server still reports the same
        administrator login. Anything else is refused with ``VerificationFailed`` (fail
        closed): after a crash a fresh instance cannot tell which of the staged and current
        passwords is live, so the engine must re-apply the staged candidate (``apply`` is
        idempotent) rather than probe. What this does *not* prove: that a login works (a
        server whose SQL authentication is disabled, Entra-only, still "succeeds").

Errors
    401/403 -> ``ConfigurationError`` naming the missing role; 404 -> ``ConfigurationError``;
    400 (for example ``PasswordNotComplex``) -> ``ConfigurationError`` naming the policy tag;
    429, 5xx, a failed long-running operation, connection errors -> ``TargetUnavailable``.
    Messages carry ARM's error code and message with every password redacted.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from azure.core.exceptions import AzureError

from rotation.credential import Credential
from rotation.errors import ConfigurationError, TargetUnavailable, VerificationFailed
from rotation.policy import POLICY_TAG, PasswordPolicy
from rotation.rotator import UNPARSED, Rotator, RotatorContext, Strategy
from rotators import _azure_sql_wire as W
from rotators._azure_sql_wire import (
    REQUIRED_ROLE,
    SqlServerTarget,
    parse_target,
    tds_driver_available,
)

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.mgmt.sql import SqlManagementClient

__all__ = ["REQUIRED_ROLE", "AzureSqlAdminRotator", "SqlServerTarget", "parse_target"]
__all__ += ["tds_driver_available"]

logger = logging.getLogger(__name__)

R = TypeVar("R")

#: How long ``apply`` waits for the password reset to finish before giving up (retryable).
LRO_TIMEOUT_S = 240.0
_GENERATE_ATTEMPTS = 100


class AzureSqlAdminRotator(Rotator):
    """Resets the SQL administrator password of an Azure SQL logical server through ARM.

    Verification gap: the management plane cannot read a password back or test it. By
    default (``rotation-sql-verify=management``) :meth:`verify` accepts only a password this
    instance applied with a ``Succeeded`` long-running operation while the server still
    reports the same administrator login; it refuses everything else (fail closed). Set
    ``rotation-sql-verify=tds`` (with ``pymssql`` or ``pyodbc`` installed and the server
    reachable) for a real SQL login. See ``rotators/azure_sql_admin.md``.

    ``credential`` (default: ``DefaultAzureCredential`` with ``AZURE_CLIENT_ID`` as the
    user-assigned identity), ``client_options`` (passed to ``SqlManagementClient``, such as
    ``retry_total``), ``verifier`` and ``lro_timeout`` (seconds ``apply`` waits for the reset;
    past it ``TargetUnavailable``, and the engine's retry re-applies the same candidate) can be
    injected; the engine passes only ``context``.
    """

    kind: ClassVar[str] = "azure-sql-admin"
    strategies: ClassVar[tuple[Strategy, ...]] = (Strategy.SINGLE,)
    requires_target: ClassVar[bool] = True
    requires_admin: ClassVar[bool] = False
    #: 32 characters from all four classes; symbols that need no quoting in ADO.NET, ODBC or
    #: JDBC connection strings (no ``;``, quotes, braces or ``=``).
    default_policy: ClassVar[PasswordPolicy] = PasswordPolicy(
        length=32, lower=2, upper=2, digits=2, symbols=2, symbol_set="-_.~!#%*+"
    )
    #: Defaults for ``SqlManagementClient``: a few quick retries (Functions have time limits).
    default_client_options: ClassVar[Mapping[str, Any]] = {
        "retry_total": 3,
        "retry_backoff_factor": 0.8,
        "polling_interval": 5,
    }

    def __init__(
        self,
        context: RotatorContext,
        settings: Any = UNPARSED,
        *,
        credential: TokenCredential | None = None,
        client_options: Mapping[str, Any] | None = None,
        verifier: W.Verifier | None = None,
        lro_timeout: float = LRO_TIMEOUT_S,
    ) -> None:
        super().__init__(context)
        self._lro_timeout = lro_timeout
        self.settings: W.SqlAdminSettings = self.settings_for(context, settings)
        self.target = self.settings.target
        self._credential = credential
        self._client_options = {**self.default_client_options, **(client_options or {})}
        self._client: SqlManagementClient | None = None
        self._applied = W.AppliedPasswords()
        self._verifier = verifier or (
            W.tds_login if self.settings.verify == "tds" else self._applied.check
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(target={self.target.resource_id!r})"

    # -- configuration --------------------------------------------------------------------

    @classmethod
    def parse_settings(cls, context: RotatorContext) -> W.SqlAdminSettings:
        """Target is a server resource id, strategy single, policy acceptable to Azure SQL,
        a known verifier (with its driver installed)."""
        super().parse_settings(context)
        return W.parse_settings(context)

    # -- the contract -----------------------------------------------------------------------

    def generate(self, current: Credential) -> Credential:
        """A password from the policy that does not contain the login name (Azure's rule)."""
        login = (current.username or "").lower()
        for _ in range(_GENERATE_ATTEMPTS):
            candidate = super().generate(current)
            if not login or login not in candidate.password.lower():
                return candidate
        raise ConfigurationError(
            "cannot draw a password that avoids the login name with this policy",
            secret=self.context.secret_name,
            tag=POLICY_TAG,
        )

    def apply(self, current: Credential, candidate: Credential) -> Credential:
        """Reset the administrator password to ``candidate`` (idempotent); wait for the LRO.

        ``candidate.username``, when set, must be the server's administrator login.
        """
        hide = [current.password, candidate.password]
        login = self._admin_login(hide)
        if candidate.username is not None and candidate.username != login:
            raise ConfigurationError(
                f"the secret's username '{candidate.username}' is not the administrator "
                f"login of {self.target.resource_id}",
                secret=self.context.secret_name,
            )
        poller = self._call(
            "reset the administrator password",
            lambda: self._sql().servers.begin_update(
                self.target.resource_group,
                self.target.server,
                {"properties": {"administratorLoginPassword": candidate.password}},
            ),
            hide,
        )
        self._call(
            "wait for the password reset", lambda: poller.result(timeout=self._lro_timeout), hide
        )
        status = poller.status()
        if status.lower() != "succeeded":
            raise TargetUnavailable(
                f"password reset on {self.target.resource_id} ended in state '{status}'"
            )
        self._applied.record(candidate.password, login)
        logger.info("reset the administrator password of %s", self.target.resource_id)
        return candidate

    def verify(self, credential: Credential) -> None:
        """Prove ``credential`` with the configured verifier (see the class docstring)."""
        login = self._admin_login([credential.password])
        if credential.username is not None and credential.username != login:
            raise VerificationFailed(
                f"'{credential.username}' is not the administrator login of "
                f"{self.target.resource_id}"
            )
        self._verifier(self.target, credential, login)

    def close(self) -> None:
        """Close the management client."""
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- helpers ----------------------------------------------------------------------------

    def _admin_login(self, hide: list[str]) -> str:
        server = self._call(
            "read the server",
            lambda: self._sql().servers.get(self.target.resource_group, self.target.server),
            hide,
        )
        login = server.properties.administrator_login if server.properties else None
        if not login:
            raise ConfigurationError(
                f"{self.target.resource_id} reports no SQL administrator login (Entra-only "
                "authentication?)",
                secret=self.context.secret_name,
            )
        return login

    def _sql(self) -> SqlManagementClient:
        if self._client is None:
            from azure.identity import DefaultAzureCredential
            from azure.mgmt.sql import SqlManagementClient

            client_id = os.environ.get("AZURE_CLIENT_ID")
            credential = self._credential or DefaultAzureCredential(
                managed_identity_client_id=client_id
            )
            self._client = SqlManagementClient(
                credential, self.target.subscription, **self._client_options
            )
        return self._client

    def _call(self, what: str, func: Callable[[], R], hide: list[str]) -> R:
        """Run one ARM call; an SDK error becomes the engine's error for this server."""
        try:
            return func()
        except AzureError as error:
            where, secret = self.target.resource_id, self.context.secret_name
            raise W.arm_error(error, what, where, secret=secret, hide=hide) from None
