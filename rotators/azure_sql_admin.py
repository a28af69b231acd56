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

import hashlib
import hmac
import importlib.util
import logging
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from azure.core.exceptions import AzureError, ClientAuthenticationError, ResourceNotFoundError
from azure.core.polling.base_polling import OperationFailed

from rotation import tags as T
from rotation.azure_errors import FailureKind, classify
from rotation.credential import Credential
from rotation.errors import ConfigurationError, RotationError, TargetUnavailable, VerificationFailed
from rotation.policy import POLICY_TAG, PasswordPolicy
from rotation.rotator import UNPARSED, Rotator, RotatorContext, Strategy
from rotation.sanitize import sanitize_error
from rotation.targets import check_target_text

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.mgmt.sql import SqlManagementClient

logger = logging.getLogger(__name__)

R = TypeVar("R")

TARGET_TAG = T.TARGET
VERIFY_OPTION = T.option(T.SQL_VERIFY)
VERIFY_TAG = T.SQL_VERIFY
VERIFY_MODES = ("management", "tds")
REQUIRED_ROLE = "SQL Server Contributor"
WRITE_ACTION = "Microsoft.Sql/servers/write"
#: Azure SQL's admin password rules: 8..128 characters, three of four classes.
SQL_MIN_LENGTH, SQL_MAX_LENGTH = 8, 128
TDS_LOGIN_TIMEOUT_S = 15
#: How long ``apply`` waits for the password reset to finish before giving up (retryable).
LRO_TIMEOUT_S = 240.0
_GENERATE_ATTEMPTS = 100

_TARGET = re.compile(
    r"^/subscriptions/(?P<subscription>[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})"
    r"/resourceGroups/(?P<resource_group>[-\w._()]{1,89}[-\w_()])"
    r"/providers/Microsoft\.Sql/servers/(?P<server>(?-i:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?))$",
    re.IGNORECASE | re.ASCII,
)


@dataclass(frozen=True)
class SqlServerTarget:
    """A parsed ``rotation-target``: where the logical server lives in ARM."""

    subscription: str
    resource_group: str
    server: str

    @property
    def resource_id(self) -> str:
        """The ARM resource id."""
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Sql/servers/{self.server}"
        )

    @property
    def host(self) -> str:
        """The server's TDS endpoint (public cloud)."""
        return f"{self.server}.database.windows.net"


def parse_target(value: str | None, *, secret: str | None = None) -> SqlServerTarget:
    """Parse the ARM resource id of a logical server; ``ConfigurationError`` if malformed
    (including control characters and more than 1 KiB; the value is never echoed)."""
    text = check_target_text(value, secret=secret) if value else ""
    found = _TARGET.fullmatch(text)
    if found is None:
        raise ConfigurationError(
            "expected /subscriptions/<subscription id>/resourceGroups/<group>/providers/"
            "Microsoft.Sql/servers/<server name> (server names: lower-case letters, digits, "
            "hyphens)",
            secret=secret,
            tag=TARGET_TAG,
        )
    return SqlServerTarget(found["subscription"].lower(), found["resource_group"], found["server"])


def _policy_problem(policy: PasswordPolicy) -> str | None:
    """Why Azure SQL could refuse passwords drawn from ``policy``, or ``None``."""
    if not SQL_MIN_LENGTH <= policy.length <= SQL_MAX_LENGTH:
        return f"Azure SQL needs a length between {SQL_MIN_LENGTH} and {SQL_MAX_LENGTH}"
    if sum(1 for _, minimum in policy.alphabets() if minimum > 0) < 3:
        return "Azure SQL needs at least three character classes (lower, upper, digits, symbols)"
    return None


@dataclass(frozen=True)
class SqlAdminSettings:
    """The server and the verifier of one managed secret, parsed once."""

    target: SqlServerTarget
    #: One of :data:`VERIFY_MODES`.
    verify: str


class Verifier(Protocol):
    """Proves that a credential logs in to the server (see the module docstring)."""

    def __call__(self, target: SqlServerTarget, credential: Credential, login: str) -> None:
        """Return if ``credential`` works; raise ``VerificationFailed`` / ``TargetUnavailable``."""


def tds_driver_available() -> bool:
    """Whether ``pymssql`` or ``pyodbc`` can be imported."""
    return any(importlib.util.find_spec(name) is not None for name in ("pymssql", "pyodbc"))


def tds_login(target: SqlServerTarget, credential: Credential, login: str) -> None:
    """A real SQL login to ``master`` with ``pymssql`` (preferred) or ``pyodbc``.

    Login refused (SQL error 18456) -> ``VerificationFailed``; anything else ->
    ``TargetUnavailable``. Not exercised by this project's tests: no SQL Server runs here.
    """
    secrets_ = [credential.password]
    try:
        if importlib.util.find_spec("pymssql") is not None:
            import pymssql  # type: ignore[import-not-found]

            pymssql.connect(
                server=target.host,
                user=login,
                password=credential.password,
                database="master",
                login_timeout=TDS_LOGIN_TIMEOUT_S,
            ).close()
            return
        import pyodbc  # type: ignore[import-not-found]

        def braced(value: str) -> str:
            return "{" + value.replace("}", "}}") + "}"

        pyodbc.connect(
            "Driver={ODBC Driver 18 for SQL Server};"
            f"Server=tcp:{target.host},1433;Database=master;Encrypt=yes;"
            f"UID={braced(login)};PWD={braced(credential.password)}",
            timeout=TDS_LOGIN_TIMEOUT_S,
        ).close()
    except Exception as error:  # noqa: BLE001 - driver exception trees differ; mapped below
        detail = sanitize_error(error, secrets_)
        if "18456" in detail or "login failed" in detail.lower():
            raise VerificationFailed(f"SQL login to {target.host} refused: {detail}") from None
        raise TargetUnavailable(f"SQL login to {target.host} failed: {detail}") from None


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
        verifier: Verifier | None = None,
        lro_timeout: float = LRO_TIMEOUT_S,
    ) -> None:
        super().__init__(context)
        self._lro_timeout = lro_timeout
        self.settings: SqlAdminSettings = self.settings_for(context, settings)
        self.target = self.settings.target
        self._credential = credential
        self._client_options = {**self.default_client_options, **(client_options or {})}
        self._client: SqlManagementClient | None = None
        self._verifier = verifier or (
            tds_login if self.settings.verify == "tds" else self._management_check
        )
        # HMAC key for fingerprints of applied passwords (never kept beyond this instance).
        self._key = secrets.token_bytes(32)
        self._applied: dict[bytes, str] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(target={self.target.resource_id!r})"

    # -- configuration --------------------------------------------------------------------

    @classmethod
    def parse_settings(cls, context: RotatorContext) -> SqlAdminSettings:
        """Target is a server resource id, strategy single, policy acceptable to Azure SQL,
        a known verifier (with its driver installed)."""
        super().parse_settings(context)
        secret = context.secret_name
        target = parse_target(context.target, secret=secret)
        problem = _policy_problem(context.policy)
        if problem is not None:
            raise ConfigurationError(problem, secret=secret, tag=POLICY_TAG)
        mode = context.options.get(VERIFY_OPTION, "management")
        if mode not in VERIFY_MODES:
            raise ConfigurationError(
                f"unknown verification '{mode}' (known: {', '.join(VERIFY_MODES)})",
                secret=secret,
                tag=VERIFY_TAG,
            )
        if mode == "tds" and not tds_driver_available():
            raise ConfigurationError(
                "'tds' needs the pymssql or pyodbc package in the function app",
                secret=secret,
                tag=VERIFY_TAG,
            )
        return SqlAdminSettings(target, mode)

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
        self._applied[self._fingerprint(candidate.password)] = login
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

    def _management_check(
        self, target: SqlServerTarget, credential: Credential, login: str
    ) -> None:
        applied_login = self._applied.get(self._fingerprint(credential.password))
        if applied_login is None:
            raise VerificationFailed(
                f"the management plane cannot test a password on {target.resource_id}: only "
                "a password this rotation applied is vouched for (set rotation-sql-verify=tds "
                "for a real login)"
            )
        if applied_login != login:
            raise VerificationFailed(
                f"the administrator login of {target.resource_id} changed since the reset"
            )

    def _fingerprint(self, password: str) -> bytes:
        return hmac.new(self._key, password.encode("utf-8"), hashlib.sha256).digest()

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
            from azure.mgmt.sql import SqlManagementClient

            credential = self._credential
            if credential is None:
                from azure.identity import DefaultAzureCredential

                credential = DefaultAzureCredential(
                    managed_identity_client_id=os.environ.get("AZURE_CLIENT_ID")
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
            raise self._mapped(error, what, hide) from None

    def _mapped(self, error: AzureError, what: str, hide: list[str]) -> RotationError:
        """Word :func:`rotation.azure_errors.classify`'s verdict for the SQL server."""
        where, secret = self.target.resource_id, self.context.secret_name
        failure, detail = classify(error), sanitize_error(error, hide)
        if isinstance(error, ClientAuthenticationError):
            return ConfigurationError(
                f"ARM refused the identity's token to {what} on {where} ({detail}); "
                "check the managed identity and AZURE_CLIENT_ID",
                secret=secret,
            )
        if isinstance(error, ResourceNotFoundError):
            return ConfigurationError(
                f"cannot {what}: {where} was not found ({failure.code or 404})",
                secret=secret,
                tag=TARGET_TAG,
            )
        if isinstance(error.__cause__, OperationFailed):
            return TargetUnavailable(f"the operation to {what} on {where} failed: {detail}")
        if failure.kind is FailureKind.DENIED:
            return ConfigurationError(
                f"not allowed to {what} on {where}: the function app's identity needs the "
                f"'{REQUIRED_ROLE}' role (action {WRITE_ACTION}) on the server ({detail})",
                secret=secret,
            )
        if failure.kind is FailureKind.UNREACHABLE:
            return TargetUnavailable(f"cannot reach ARM to {what} on {where}: {detail}")
        if failure.status == 400 and "PasswordNotComplex" in detail:
            return ConfigurationError(
                f"Azure SQL refused the generated password as not complex enough ({detail})",
                secret=secret,
                tag=POLICY_TAG,
            )
        if failure.kind in (FailureKind.NOT_FOUND, FailureKind.CONFLICT, FailureKind.REFUSED):
            return ConfigurationError(f"ARM refused to {what} on {where}: {detail}", secret=secret)
        return TargetUnavailable(f"ARM could not {what} on {where} now: {detail}")
