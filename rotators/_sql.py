"""The base of the SQL rotators (PostgreSQL, MySQL/MariaDB): the steps, not the dialect.

:class:`SqlRotator` parses the target once (:meth:`SqlRotator.parse_settings`), and runs
the contract the same way for every SQL server: ``apply`` as the admin or, under the single
strategy without one, as the user itself (checking first which of current and candidate
logs in), ``verify`` as a real login that checks who the server says logged in. A subclass
supplies the driver: how to log in (``_open``), what its errors mean (``connect_rules``, with
:class:`LoginRefused` for a refused login, and ``statement_rules``: tables of
:mod:`rotators._errors`), what closing may raise, which statements set a password, and how
to ask for the current user.
"""

from __future__ import annotations

import logging
import unicodedata
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import ConfigurationError, RotationConflict, VerificationFailed
from rotation.rotator import UNPARSED, RotatorContext, Strategy, alternate_username
from rotation.sanitize import sanitize_error
from rotation.targets import Endpoint, parse_endpoint
from rotation.tls import TrustAnchor
from rotators._base import ServerRotator
from rotators._errors import LoginRefused, Rule

logger = logging.getLogger(__name__)

TARGET_TAG = T.TARGET
ADMIN_TAG = T.ADMIN_SECRET
#: Seconds a login may take.
CONNECT_TIMEOUT_S = 5

__all__ = ["CONNECT_TIMEOUT_S", "LoginRefused", "SqlDialect", "SqlRotator", "SqlSettings"]


class _Connection(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Connection)


@dataclass(frozen=True)
class SqlSettings:
    """A SQL rotator's target and options, parsed once."""

    endpoint: Endpoint
    #: The driver's TLS mode (libpq ``sslmode``; ``verify``/``disable`` for MySQL).
    tls_mode: str
    #: The CA for verified TLS, ``None`` when the certificate is not verified.
    anchor: TrustAnchor | None
    #: MySQL: the host part of the managed accounts.
    account_host: str = "%"


def check_username(username: str | None, *, max_bytes: int, context: RotatorContext) -> str:
    """The user name, refused with ``ConfigurationError`` when the target cannot hold it
    (control characters, lone surrogates, longer than ``max_bytes`` in UTF-8).

    Names are never interpolated into SQL (they are quoted as identifiers or bound as
    literals); this only refuses what the server would silently truncate or cannot store.
    Under the alternating strategy the clone's name must fit too.
    """
    if not username:
        raise ConfigurationError(
            "the credential has no 'username' field", secret=context.secret_name
        )
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in username):
        raise ConfigurationError(
            "the user name contains a control character (NUL, newline, ...) or a lone "
            "surrogate, which the target cannot store as given",
            secret=context.secret_name,
        )
    longest = username
    if context.strategy is Strategy.ALTERNATING:
        longest = max(username, alternate_username(username), key=len)
    size = len(longest.encode())
    if size > max_bytes:
        shown = longest if len(longest) <= 80 else longest[:40] + "..."
        raise ConfigurationError(
            f"user name '{shown}' ({size} bytes) is longer than the target's limit of "
            f"{max_bytes} bytes",
            secret=context.secret_name,
        )
    return username


@dataclass(frozen=True)
class SqlDialect:
    """How one kind of SQL server names logins and is written as a target."""

    #: What the server calls a login ("role", "user").
    login: str
    default_port: int
    #: Whether ``rotation-target`` must name a database (``host:port/db``).
    database_required: bool
    #: The longest login name the server stores in full, in UTF-8 bytes.
    max_name_bytes: int


class SqlRotator(ServerRotator, Generic[C]):
    """Single or alternating users on a SQL server; ``C`` is the driver's connection."""

    strategies: ClassVar[tuple[Strategy, ...]] = (Strategy.SINGLE, Strategy.ALTERNATING)
    requires_target: ClassVar[bool] = True
    requires_admin: ClassVar[bool] = False
    dialect: ClassVar[SqlDialect]
    #: How driver errors of a login (:meth:`_connect`: ``LoginRefused`` for a refused one)
    #: and of a statement (:meth:`_statement`) read as rotation errors.
    connect_rules: ClassVar[Sequence[Rule]] = ()
    statement_rules: ClassVar[Sequence[Rule]] = ()
    #: What closing a connection may raise (logged; every session is autocommit).
    close_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    settings: SqlSettings

    def __init__(self, context: RotatorContext, settings: Any = UNPARSED) -> None:
        super().__init__(context)
        self.settings = self.settings_for(context, settings)
        self.endpoint = self.settings.endpoint
        self.anchor = self.settings.anchor

    def __repr__(self) -> str:
        return f"{type(self).__name__}(target='{self.endpoint}', strategy={self.context.strategy})"

    @classmethod
    def parse_settings(cls, context: RotatorContext) -> SqlSettings:
        """Target ``host[:port]/database``; alternating needs an admin; TLS settings known."""
        super().parse_settings(context)
        endpoint = parse_endpoint(
            context.target,
            default_port=cls.dialect.default_port,
            database_required=cls.dialect.database_required,
            secret=context.secret_name,
        )
        if context.strategy is Strategy.ALTERNATING and context.admin is None:
            raise ConfigurationError(
                "the alternating strategy needs an admin credential to create the clone "
                f"{cls.dialect.login}",
                secret=context.secret_name,
                tag=ADMIN_TAG,
            )
        return cls.parse_tls(context, endpoint)

    @classmethod
    @abstractmethod
    def parse_tls(cls, context: RotatorContext, endpoint: Endpoint) -> SqlSettings:
        """The settings with the TLS mode and trust anchor of ``endpoint`` (no I/O)."""

    # ------------------------------------------------------------------ the driver

    def _connect(self, credential: Credential) -> C:
        """Log in (:meth:`_open`); ``LoginRefused`` if refused, else a rotation error
        (:attr:`connect_rules`, sanitized)."""
        with self._translating(
            self.connect_rules,
            credential,
            where=f"{self.kind} {self.endpoint}",
            endpoint=self.endpoint,
            user=credential.username,
            settings=self.settings,
        ):
            return self._open(credential)

    def _open(self, credential: Credential) -> C:
        """The driver's login with ``credential`` (a subclass overrides this or
        :meth:`_connect`)."""
        raise NotImplementedError

    def _statement(self, what: str, secrets: Iterable[str] = ()) -> AbstractContextManager[None]:
        """A block of driver calls to ``what``, translated by :attr:`statement_rules`."""
        return self._translating(
            self.statement_rules, secrets=secrets, what=what, endpoint=self.endpoint
        )

    def _close(self, conn: C) -> None:
        """Close ``conn``; never raises (every session is autocommit: nothing to lose)."""
        try:
            conn.close()
        except self.close_errors as error:
            detail = sanitize_error(error, self._secrets())
            logger.debug("%s %s: close failed: %s", self.kind, self.endpoint, detail)

    @abstractmethod
    def _set_own_password(self, conn: C, username: str, current: str, candidate: str) -> None:
        """Logged in as ``username``: change its own password to ``candidate``."""

    @abstractmethod
    def _apply_as_admin(self, conn: C, candidate: Credential, username: str) -> None:
        """Logged in as the admin: set (or create the clone with) the candidate's password."""

    @abstractmethod
    def _current_user(self, conn: C, credential: Credential) -> str | None:
        """The login name the server says this session has."""

    def _prepare_admin(self, conn: C) -> None:
        """Set up an admin session before use (default: nothing)."""

    # ------------------------------------------------------------------ shared steps

    def _username(self, credential: Credential) -> str:
        return check_username(
            credential.username, max_bytes=self.dialect.max_name_bytes, context=self.context
        )

    def _admin_connection(self) -> C:
        admin = self._admin_credential("an admin credential with a username is required")
        try:
            conn = self._connect(admin)
        except LoginRefused as refused:
            raise ConfigurationError(
                f"admin login '{admin.username}' refused by {self.endpoint}: {refused}",
                secret=self.context.secret_name,
                tag=ADMIN_TAG,
            ) from None
        try:
            self._prepare_admin(conn)
        except BaseException:
            self._close(conn)
            raise
        return conn

    def _no_such_login(self, name: str) -> ConfigurationError:
        """The error for a login that must exist and does not."""
        return ConfigurationError(
            f"{self.dialect.login} '{name}' does not exist on {self.endpoint}",
            secret=self.context.secret_name,
        )

    def _logs_in(self, credential: Credential) -> bool:
        try:
            self._close(self._connect(credential))
        except LoginRefused:
            return False
        return True

    def apply(self, current: Credential, candidate: Credential) -> Credential:
        """Set the candidate's password on its login (creating the clone if needed)."""
        username = self._username(candidate)
        if self.context.strategy is Strategy.SINGLE and self.context.admin is None:
            self._apply_as_self(current, candidate, username)
        else:
            conn = self._admin_connection()
            try:
                self._apply_as_admin(conn, candidate, username)
            finally:
                self._close(conn)
        logger.info(
            "%s %s: new password applied to %s '%s'",
            self.kind,
            self.endpoint,
            self.dialect.login,
            username,
        )
        return candidate

    def _apply_as_self(self, current: Credential, candidate: Credential, username: str) -> None:
        if current.username != username:
            raise ConfigurationError(
                "single strategy: the candidate must keep the current user name",
                secret=self.context.secret_name,
            )
        try:
            conn = self._connect(current)
        except LoginRefused:
            if self._logs_in(candidate):
                logger.info(
                    "%s %s: %s '%s' already uses the candidate",
                    self.kind,
                    self.endpoint,
                    self.dialect.login,
                    username,
                )
                return
            raise RotationConflict(
                f"neither the current nor the candidate password of {self.dialect.login} "
                f"'{username}' logs in to {self.endpoint}"
            ) from None
        try:
            self._set_own_password(conn, username, current.password, candidate.password)
        finally:
            self._close(conn)

    def verify(self, credential: Credential) -> None:
        """Log in with ``credential`` and check who the server says logged in; a refused
        login raises ``VerificationFailed``."""
        self._username(credential)
        try:
            conn = self._connect(credential)
        except LoginRefused as refused:
            raise VerificationFailed(
                f"{self.kind} {self.endpoint} refused {self.dialect.login} "
                f"'{credential.username}': {refused}"
            ) from None
        try:
            user = self._current_user(conn, credential)
        finally:
            self._close(conn)
        if user != credential.username:
            raise VerificationFailed(
                f"{self.kind} {self.endpoint}: logged in as an unexpected {self.dialect.login}, "
                f"not '{credential.username}'"
            )
        logger.debug(
            "%s %s: %s '%s' logs in",
            self.kind,
            self.endpoint,
            self.dialect.login,
            credential.username,
        )
