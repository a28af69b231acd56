"""The Azure side of the ``azure-sql-admin`` rotator (no I/O here but :func:`tds_login`).

The ``rotation-target`` (an ARM resource id, :func:`parse_target`), Azure SQL's password
rules (:func:`policy_problem`), the optional real SQL login (:func:`tds_login`), and what
ARM's errors mean for the server (:func:`arm_error`).
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import re
import secrets
from dataclasses import dataclass
from typing import Protocol

from azure.core.exceptions import AzureError, ClientAuthenticationError, ResourceNotFoundError
from azure.core.polling.base_polling import OperationFailed

from rotation import defaults as D
from rotation import tags as T
from rotation.azure_errors import FailureKind, classify
from rotation.credential import Credential
from rotation.errors import ConfigurationError, RotationError, TargetUnavailable, VerificationFailed
from rotation.policy import POLICY_TAG, PasswordPolicy
from rotation.rotator import RotatorContext
from rotation.sanitize import sanitize_error
from rotation.targets import ARM_RESOURCE_GROUP, check_target_text

TARGET_TAG = T.TARGET
VERIFY_OPTION = T.option(T.SQL_VERIFY)
VERIFY_TAG = T.SQL_VERIFY
VERIFY_MODES = ("management", "tds")
REQUIRED_ROLE = "SQL Server Contributor"
WRITE_ACTION = "Microsoft.Sql/servers/write"
#: Azure SQL's admin password rules: 8..128 characters, three of four classes.
SQL_MIN_LENGTH, SQL_MAX_LENGTH = 8, 128
TDS_LOGIN_TIMEOUT_S = 15
#: An Azure SQL server's resource id; the server name itself is lower case.
_TARGET = re.compile(
    ARM_RESOURCE_GROUP + r"/providers/Microsoft\.Sql/servers/"
    r"(?P<server>(?-i:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?))$",
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


def policy_problem(policy: PasswordPolicy) -> str | None:
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


def parse_settings(context: RotatorContext) -> SqlAdminSettings:
    """Target is a server resource id, policy acceptable to Azure SQL, a known verifier
    (with its driver installed); else ``ConfigurationError`` naming the tag."""
    secret = context.secret_name
    target = parse_target(context.target, secret=secret)
    problem = policy_problem(context.policy)
    if problem is not None:
        raise ConfigurationError(problem, secret=secret, tag=POLICY_TAG)
    mode = context.options.get(VERIFY_OPTION, D.SQL_VERIFY)
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


class AppliedPasswords:
    """The ``management`` verifier: vouches for a password only if this instance applied it
    (:meth:`record`) and the server still reports the same administrator login.

    Keeps HMAC fingerprints under a key of its own (never the passwords; both die with the
    instance).
    """

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._applied: dict[bytes, str] = {}

    def record(self, password: str, login: str) -> None:
        """``password`` was applied, with a ``Succeeded`` operation, for ``login``."""
        self._applied[self._fingerprint(password)] = login

    def check(self, target: SqlServerTarget, credential: Credential, login: str) -> None:
        """A :class:`Verifier`: ``VerificationFailed`` unless recorded for ``login``."""
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


def arm_error(
    error: AzureError, what: str, where: str, *, secret: str, hide: list[str]
) -> RotationError:
    """Word :func:`rotation.azure_errors.classify`'s verdict on an ARM call to ``what`` on
    the server ``where``, with ``hide`` redacted from ARM's message."""
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
