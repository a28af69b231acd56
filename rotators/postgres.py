"""The ``postgres`` rotator: passwords of PostgreSQL login roles.

Tags
    ``rotation-target``  ``host:port/dbname`` (port defaults to 5432; IPv6 as ``[::1]:5432/db``)
    ``rotation-strategy``  ``single`` (default) or ``alternating``
    ``rotation-admin-secret``  optional for ``single``, required for ``alternating``: JSON
    ``username``/``password`` of a role with ``CREATEROLE`` (or a superuser)
    ``rotation-sslmode``  optional libpq ``sslmode``; default ``verify-full`` (certificate
    and host name checked) for every host except loopback ones, where it is ``prefer``
    ``rotation-tls-ca``  optional: the CA file for ``verify-ca``/``verify-full`` (an absolute
    path, or ``system``); default the ``ROTATION_TLS_CA_FILE`` app setting, else the system
    trust store. Naming a CA with this tag makes ``verify-full`` the default for every host,
    and contradicts a weaker ``rotation-sslmode`` (a ``ConfigurationError``)

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

    Every connection sets libpq's ``require_auth=scram-sha-256``: a server that asks for a
    cleartext (``password``) or MD5 password, or lets the login in without one (``trust``),
    is refused by libpq *before* the password is sent, whatever the TLS mode. That is a
    permanent ``ConfigurationError`` naming ``rotation-target``: fix the server's
    ``pg_hba.conf`` (``scram-sha-256``). A certificate that does not verify is a
    ``ConfigurationError`` naming ``rotation-tls-ca``.

Every driver call (connect, queries, the client-side hash, close) runs inside one error
translation: no ``psycopg`` exception leaves this module.

Verification is a real login with the candidate that checks ``current_user``. Every
connection carries the time bounds of :mod:`rotation.libpq` (login, statement, lock wait).
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg import sql

from rotation import libpq
from rotation import tags as T
from rotation.credential import Credential
from rotation.policy import PasswordPolicy
from rotation.rotator import RotatorContext, Strategy, base_username
from rotation.targets import Endpoint
from rotation.tls import REQUIRE_AUTH, SSLMODE_TAG, libpq_tls
from rotators import _errors as E
from rotators._sql import SqlDialect, SqlRotator, SqlSettings

logger = logging.getLogger(__name__)

#: PostgreSQL identifiers are truncated beyond NAMEDATALEN - 1 bytes.
MAX_NAME_BYTES = 63

_TRANSIENT_SERVER_MESSAGES = (
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "too many connections",
    "remaining connection slots are reserved",
)
_FAILED = E.is_(psycopg.OperationalError)

#: A login's errors: a password exchange other than SCRAM (refused by libpq before the
#: password is sent), a certificate that does not verify and a server without TLS are
#: configuration errors; no FATAL answer, or a starting/full server, is unavailability; a
#: missing database names the target; any other FATAL answer is a refused login.
CONNECT_RULES = (
    E.misconfigured(
        E.all_of(_FAILED, E.says("authentication method requirement")),
        f"{{where}} asked for a password exchange other than {REQUIRE_AUTH} (cleartext, MD5 "
        f"or none); the password was not sent. Set the server's pg_hba.conf method to "
        f"{REQUIRE_AUTH} ({{detail}})",
        T.TARGET,
    ),
    E.TLS_REFUSED,
    E.misconfigured(
        E.all_of(_FAILED, E.says("server does not support SSL")),
        "{where} does not offer TLS, which sslmode '{settings.tls_mode}' requires ({detail})",
        SSLMODE_TAG,
    ),
    E.unavailable(
        E.all_of(_FAILED, E.any_of(E.not_(E.says("FATAL:")), E.says(*_TRANSIENT_SERVER_MESSAGES)))
    ),
    E.misconfigured(
        E.all_of(_FAILED, E.says("database"), E.says("does not exist")),
        "database of {endpoint} does not exist",
        T.TARGET,
    ),
    E.refused(_FAILED),
    E.unavailable(E.is_(psycopg.Error), "{where}: {detail}"),
    E.CANNOT_LOG_IN,
)
#: A statement's errors: a missing privilege names the admin secret, a lost connection is
#: unavailability, anything else the server refused a conflict.
STATEMENT_RULES = (
    E.misconfigured(
        E.is_(psycopg.errors.InsufficientPrivilege),
        "not allowed to {what} on {endpoint}: {detail}",
        T.ADMIN_SECRET,
    ),
    E.unavailable(E.is_(psycopg.OperationalError, psycopg.InterfaceError), E.COULD_NOT),
    E.conflict(E.is_(psycopg.Error)),
    E.CANNOT_SEND,
)

Connection = psycopg.Connection[tuple[Any, ...]]


class PostgresRotator(SqlRotator[Connection]):
    """Rotates the password of a PostgreSQL login role (single or alternating users).

    Passwords: every character but NUL (refused by the engine for every target; libpq would
    cut the password there) is stored, as a SCRAM verifier of its SASLprep form, and
    verified. libpq and the server take any length, but PQencryptPasswordConn and the
    startup packet grow with it: the base class's 1 KiB, checked against PostgreSQL 15.
    """

    kind = "postgres"
    dialect = SqlDialect("role", 5432, database_required=True, max_name_bytes=MAX_NAME_BYTES)
    #: Letters, digits and a few symbols that need no quoting anywhere (URIs, .pgpass, shells).
    default_policy = PasswordPolicy(
        length=32, lower=1, upper=1, digits=1, symbols=1, symbol_set="-_.~"
    )
    connect_rules = CONNECT_RULES
    statement_rules = STATEMENT_RULES
    close_errors = (psycopg.Error,)

    @classmethod
    def parse_tls(cls, context: RotatorContext, endpoint: Endpoint) -> SqlSettings:
        """The sslmode and trust anchor (:func:`rotation.tls.libpq_tls`)."""
        sslmode, anchor = libpq_tls(context, endpoint.host)
        return SqlSettings(endpoint, sslmode, anchor)

    @property
    def sslmode(self) -> str:
        """The libpq ``sslmode`` of every connection."""
        return self.settings.tls_mode

    def _open(self, credential: Credential) -> Connection:
        """Log in with ``credential`` (errors: :data:`CONNECT_RULES`)."""
        return libpq.connect(
            host=self.endpoint.host,
            port=self.endpoint.port,
            dbname=self.endpoint.database,
            user=credential.username,
            password=credential.password,
            require_auth=REQUIRE_AUTH,
            application_name="keyvault-rotation",
            autocommit=True,
            sslmode=self.sslmode,
            # None is left out of the conninfo by psycopg.
            sslrootcert=self.anchor.cafile if self.anchor is not None else None,
        )

    # ------------------------------------------------------------------ statements

    def _run(
        self, conn: Connection, statement: sql.Composed, what: str, secrets: list[str]
    ) -> None:
        """Execute ``statement`` (errors: :data:`STATEMENT_RULES`)."""
        with self._statement(what, secrets):
            conn.execute(statement)

    def _verifier(self, conn: Connection, username: str, password: str) -> sql.Literal:
        """The password hashed client-side in the server's ``password_encryption``."""
        with self._statement(f"hash the password of role '{username}'", [password]):
            hashed = conn.pgconn.encrypt_password(password.encode(), username.encode())
        return sql.Literal(hashed.decode("ascii"))

    def _role_exists(self, conn: Connection, username: str) -> bool:
        with self._statement(f"look up role '{username}'"):
            row = conn.execute(
                "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", [username]
            ).fetchone()
        return row is not None

    def _set_password(self, conn: Connection, role: sql.Composable, username: str, pw: str) -> None:
        statement = sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(
            role, self._verifier(conn, username, pw)
        )
        self._run(conn, statement, f"set the password of role '{username}'", [pw])

    # ------------------------------------------------------------------ the dialect

    def _set_own_password(
        self, conn: Connection, username: str, current: str, candidate: str
    ) -> None:
        self._set_password(conn, sql.SQL("CURRENT_USER"), username, candidate)

    def _apply_as_admin(self, conn: Connection, candidate: Credential, username: str) -> None:
        role, base = sql.Identifier(username), base_username(username)
        is_clone = self.context.strategy is Strategy.ALTERNATING and username != base
        if self._role_exists(conn, username):
            self._set_password(conn, role, username, candidate.password)
        elif is_clone:
            if not self._role_exists(conn, base):
                raise self._no_such_login(base)
            statement = sql.SQL("CREATE ROLE {} WITH LOGIN PASSWORD {} IN ROLE {}").format(
                role, self._verifier(conn, username, candidate.password), sql.Identifier(base)
            )
            self._run(conn, statement, f"create role '{username}'", [candidate.password])
            logger.info(
                "postgres %s: created clone role '%s' in role '%s'", self.endpoint, username, base
            )
        else:
            raise self._no_such_login(username)
        if is_clone:
            # Repair membership if someone revoked it (GRANT of an existing membership is a no-op).
            grant = sql.SQL("GRANT {} TO {}").format(sql.Identifier(base), role)
            self._run(conn, grant, f"grant role membership to '{username}'", [candidate.password])

    def _current_user(self, conn: Connection, credential: Credential) -> str | None:
        with self._statement("check the logged-in role", [credential.password]):
            row = conn.execute("SELECT current_user").fetchone()
        return None if row is None else str(row[0])
