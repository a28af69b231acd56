"""The ``postgres`` rotator: passwords of PostgreSQL login roles.

Tags
    ``rotation-target``  ``host:port/dbname`` (port defaults to 5432; IPv6 as ``[::1]:5432/db``)
    ``rotation-strategy``  ``single`` (default) or ``alternating``
    ``rotation-admin-secret``  optional for ``single``, required for ``alternating``: JSON
    ``username``/``password`` of a role with ``CREATEROLE`` (or a superuser)
    ``rotation-sslmode``  optional libpq ``sslmode`` (``require`` for Azure Database for
    PostgreSQL); default ``prefer``

Strategies
    single
        ``ALTER ROLE <user> PASSWORD ...`` as the admin, or, without an admin, as the user
        itself (``ALTER ROLE CURRENT_USER``). The old password stops working at once.
    alternating
        As AWS Secrets Manager's alternating-users rotation does: the first rotation creates
        ``<user>_clone`` with ``CREATE ROLE <clone> WITH LOGIN PASSWORD ... IN ROLE <user>``,
        so the clone inherits every privilege of the original through membership; each later
        rotation resets the password of whichever login is not in use. Objects the clone
        creates are owned by the clone (consumers that create objects should ``SET ROLE``).

Security notes
    ``PASSWORD`` cannot be a bind parameter in a utility statement. The rotator never sends
    the clear text at all: it computes the SCRAM verifier client-side with libpq's
    ``PQencryptPasswordConn`` (as psql's ``\\password`` does, honouring the server's
    ``password_encryption``) and sends that, quoted with :class:`psycopg.sql.Literal`, so
    the clear password cannot land in server logs or ``pg_stat_statements``. Role names are
    always quoted with :class:`psycopg.sql.Identifier`; catalog look-ups bind parameters.
    Names longer than 63 bytes (PostgreSQL silently truncates them) are refused.

Verification is a real login with the candidate (``connect_timeout`` 5 s) that checks
``current_user``.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import psycopg
from psycopg import sql

from rotation.credential import Credential
from rotation.errors import (
    ConfigurationError,
    RotationConflict,
    TargetUnavailable,
    VerificationFailed,
)
from rotation.policy import PasswordPolicy
from rotation.rotator import Rotator, RotatorContext, Strategy, base_username
from rotation.sanitize import sanitize_error
from rotators._sql import (
    ADMIN_TAG,
    TARGET_TAG,
    Endpoint,
    check_username,
    parse_endpoint,
    require_admin_for_alternating,
)

logger = logging.getLogger(__name__)

#: PostgreSQL identifiers are truncated beyond NAMEDATALEN - 1 bytes.
MAX_NAME_BYTES = 63
CONNECT_TIMEOUT_S = 5
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")

_TRANSIENT_SERVER_MESSAGES = (
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "too many connections",
    "remaining connection slots are reserved",
)

Connection = psycopg.Connection[tuple[Any, ...]]


class LoginRefused(Exception):
    """The server answered and refused the login (internal: mapped per caller)."""


class PostgresRotator(Rotator):
    """Rotates the password of a PostgreSQL login role (single or alternating users)."""

    kind: ClassVar[str] = "postgres"
    strategies: ClassVar[tuple[Strategy, ...]] = (Strategy.SINGLE, Strategy.ALTERNATING)
    requires_target: ClassVar[bool] = True
    requires_admin: ClassVar[bool] = False
    #: Letters, digits and a few symbols that need no quoting anywhere (URIs, .pgpass, shells).
    default_policy: ClassVar[PasswordPolicy] = PasswordPolicy(
        length=32, lower=1, upper=1, digits=1, symbols=1, symbol_set="-_.~"
    )

    def __init__(self, context: RotatorContext) -> None:
        super().__init__(context)
        self.endpoint = self._endpoint(context)
        self.sslmode = context.options.get("sslmode", "prefer")

    def __repr__(self) -> str:
        return f"PostgresRotator(target='{self.endpoint}', strategy={self.context.strategy})"

    # ------------------------------------------------------------------ configuration

    @staticmethod
    def _endpoint(context: RotatorContext) -> Endpoint:
        return parse_endpoint(
            context.target, default_port=5432, database_required=True, secret=context.secret_name
        )

    @classmethod
    def check_config(cls, context: RotatorContext) -> None:
        """Target must be ``host:port/dbname``; alternating needs an admin; sslmode known."""
        cls._endpoint(context)
        cls.check_strategy(context)
        require_admin_for_alternating(context, "role")
        sslmode = context.options.get("sslmode", "prefer")
        if sslmode not in SSLMODES:
            raise ConfigurationError(
                f"unknown sslmode '{sslmode}' (known: {', '.join(SSLMODES)})",
                secret=context.secret_name,
                tag="rotation-sslmode",
            )

    # ------------------------------------------------------------------ connections

    def _connect(self, credential: Credential) -> Connection:
        """Log in with ``credential``.

        Raises ``LoginRefused`` when the server refuses the login, ``TargetUnavailable``
        when it cannot be reached (or is starting/full), ``ConfigurationError`` when the
        database does not exist. Messages are sanitized.
        """
        secrets = [credential.password]
        try:
            return psycopg.connect(
                host=self.endpoint.host,
                port=self.endpoint.port,
                dbname=self.endpoint.database,
                user=credential.username,
                password=credential.password,
                connect_timeout=CONNECT_TIMEOUT_S,
                sslmode=self.sslmode,
                application_name="keyvault-rotation",
                autocommit=True,
            )
        except psycopg.OperationalError as error:
            message = sanitize_error(error, secrets)
            text = str(error)
            if "FATAL:" not in text or any(m in text for m in _TRANSIENT_SERVER_MESSAGES):
                raise TargetUnavailable(
                    f"postgres {self.endpoint} unreachable: {message}"
                ) from None
            if "database" in text and "does not exist" in text:
                raise ConfigurationError(
                    f"database of {self.endpoint} does not exist",
                    secret=self.context.secret_name,
                    tag=TARGET_TAG,
                ) from None
            raise LoginRefused(message) from None
        except psycopg.Error as error:
            raise TargetUnavailable(
                f"postgres {self.endpoint}: {sanitize_error(error, secrets)}"
            ) from None

    def _admin_connection(self) -> Connection:
        admin = self.context.admin
        if admin is None or not admin.username:
            raise ConfigurationError(
                "an admin credential with a username is required",
                secret=self.context.secret_name,
                tag=ADMIN_TAG,
            )
        try:
            return self._connect(admin)
        except LoginRefused as refused:
            raise ConfigurationError(
                f"admin login '{admin.username}' refused by {self.endpoint}: {refused}",
                secret=self.context.secret_name,
                tag=ADMIN_TAG,
            ) from None

    def _logs_in(self, credential: Credential) -> bool:
        try:
            with self._connect(credential):
                return True
        except LoginRefused:
            return False

    # ------------------------------------------------------------------ statements

    def _run(
        self, conn: Connection, statement: sql.Composed, what: str, secrets: list[str]
    ) -> None:
        """Execute ``statement``; map privilege and other server errors to rotation errors."""
        try:
            conn.execute(statement)
        except psycopg.errors.InsufficientPrivilege as error:
            raise ConfigurationError(
                f"not allowed to {what} on {self.endpoint}: {sanitize_error(error, secrets)}",
                secret=self.context.secret_name,
                tag=ADMIN_TAG,
            ) from None
        except psycopg.OperationalError as error:
            raise TargetUnavailable(
                f"could not {what} on {self.endpoint}: {sanitize_error(error, secrets)}"
            ) from None
        except psycopg.Error as error:
            raise RotationConflict(
                f"could not {what} on {self.endpoint}: {sanitize_error(error, secrets)}"
            ) from None

    @staticmethod
    def _verifier(conn: Connection, username: str, password: str) -> str:
        """The password hashed client-side in the server's ``password_encryption``."""
        hashed = conn.pgconn.encrypt_password(password.encode(), username.encode())
        return hashed.decode("ascii")

    @staticmethod
    def _role_exists(conn: Connection, username: str) -> bool:
        row = conn.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", [username])
        return row.fetchone() is not None

    def _set_password(self, conn: Connection, role: sql.Composable, username: str, pw: str) -> None:
        statement = sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(
            role, sql.Literal(self._verifier(conn, username, pw))
        )
        self._run(conn, statement, f"set the password of role '{username}'", [pw])

    # ------------------------------------------------------------------ the contract

    def apply(self, current: Credential, candidate: Credential) -> Credential:
        """Set the candidate's password on its role (creating the clone role if needed)."""
        username = check_username(
            candidate.username, max_bytes=MAX_NAME_BYTES, context=self.context
        )
        if self.context.strategy is Strategy.SINGLE and self.context.admin is None:
            self._apply_as_self(current, candidate, username)
        else:
            with self._admin_connection() as conn:
                self._apply_as_admin(conn, candidate, username)
        logger.info("postgres %s: new password applied to role '%s'", self.endpoint, username)
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
                    "postgres %s: role '%s' already uses the candidate", self.endpoint, username
                )
                return
            raise RotationConflict(
                f"neither the current nor the candidate password of role '{username}' "
                f"logs in to {self.endpoint}"
            ) from None
        with conn:
            self._set_password(conn, sql.SQL("CURRENT_USER"), username, candidate.password)

    def _apply_as_admin(self, conn: Connection, candidate: Credential, username: str) -> None:
        role = sql.Identifier(username)
        if self._role_exists(conn, username):
            self._set_password(conn, role, username, candidate.password)
        elif self.context.strategy is Strategy.ALTERNATING and username != base_username(username):
            base = base_username(username)
            if not self._role_exists(conn, base):
                raise ConfigurationError(
                    f"role '{base}' does not exist on {self.endpoint}",
                    secret=self.context.secret_name,
                )
            statement = sql.SQL("CREATE ROLE {} WITH LOGIN PASSWORD {} IN ROLE {}").format(
                role,
                sql.Literal(self._verifier(conn, username, candidate.password)),
                sql.Identifier(base),
            )
            self._run(conn, statement, f"create role '{username}'", [candidate.password])
            logger.info(
                "postgres %s: created clone role '%s' in role '%s'", self.endpoint, username, base
            )
        else:
            raise ConfigurationError(
                f"role '{username}' does not exist on {self.endpoint}",
                secret=self.context.secret_name,
            )
        if self.context.strategy is Strategy.ALTERNATING and username != base_username(username):
            # Repair membership if someone revoked it (GRANT of an existing membership is a no-op).
            grant = sql.SQL("GRANT {} TO {}").format(sql.Identifier(base_username(username)), role)
            self._run(conn, grant, f"grant role membership to '{username}'", [candidate.password])

    def verify(self, credential: Credential) -> None:
        """Log in with ``credential`` and check ``current_user``; refused -> VerificationFailed."""
        try:
            conn = self._connect(credential)
        except LoginRefused as refused:
            raise VerificationFailed(
                f"postgres {self.endpoint} refused role '{credential.username}': {refused}"
            ) from None
        with conn:
            row = conn.execute("SELECT current_user").fetchone()
        if row is None or row[0] != credential.username:
            raise VerificationFailed(
                f"postgres {self.endpoint}: logged in as an unexpected role, "
                f"not '{credential.username}'"
            )
        logger.debug("postgres %s: role '%s' logs in", self.endpoint, credential.username)
