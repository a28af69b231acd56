"""The ``mysql`` rotator: passwords of MySQL / MariaDB user accounts (through PyMySQL).

Tags
    ``rotation-target``  ``host[:port][/database]`` (port defaults to 3306; IPv6 in brackets);
    the database, when given, is opened at login (and must exist)
    ``rotation-strategy``  ``single`` (default) or ``alternating``
    ``rotation-admin-secret``  optional for ``single``, required for ``alternating``: JSON
    ``username``/``password`` of an account with ``CREATE USER``, ``SELECT`` on ``mysql.*``
    (for ``SHOW GRANTS``) and ``GRANT OPTION`` on whatever the user holds
    ``rotation-account-host``  the host part of the managed accounts (default ``%``)
    ``rotation-tls``  ``verify`` (TLS required; certificate and host name checked) or
    ``disable``; default ``verify`` for every host except loopback ones (``disable``), and
    ``verify`` for every host when a CA is configured
    ``rotation-tls-ca``  optional CA file for ``verify`` (absolute path, or ``system``);
    default the ``ROTATION_TLS_CA_FILE`` app setting, else the system trust store

Password exchange
    PyMySQL answers whatever authentication plugin the server asks for; two of them send
    the password itself: ``mysql_clear_password`` (LDAP/PAM) and ``dialog`` (PAM). This
    rotator refuses both unless the connection is verified TLS, before anything is sent: a
    server asking for them over a plain connection is a ``ConfigurationError`` naming
    ``rotation-target``. ``mysql_native_password``, ``client_ed25519`` and
    ``caching_sha2_password``'s fast path are challenge-response and never send it;
    ``sha256_password`` and ``caching_sha2_password``'s full path send it RSA-encrypted
    to the server's key on a plain connection, which resists a passive listener only (use
    TLS for anything but loopback, the default).

Strategies
    single
        ``ALTER USER 'user'@'host' IDENTIFIED BY ...`` as the admin, or without an admin as
        the user itself (MariaDB: ``SET PASSWORD = PASSWORD(...)``, as ``ALTER USER`` needs
        ``CREATE USER`` there even for one's own account; MySQL: ``ALTER USER USER()``).
    alternating
        As AWS Secrets Manager's MySQL alternating-users rotation does: the clone
        ``<user>_clone`` is created on first use and every rotation that applies to the clone
        replays the original account's ``SHOW GRANTS`` for it (grants are additive, so a
        privilege revoked from the original is not revoked from the clone: revoke both).

Quoting
    MariaDB's prepared statements take placeholders only where an expression may stand, and
    neither an account name nor ``IDENTIFIED BY`` takes one (``PREPARE ... 'ALTER USER ?
    IDENTIFIED BY ?'`` is a syntax error; checked on 10.11). So account names and passwords
    are sent as string literals escaped by PyMySQL's own literal escaping, which follows the
    session's ``NO_BACKSLASH_ESCAPES`` mode; account names are valid as string literals in
    ``'user'@'host'`` syntax. Grant replay rewrites only the exact grantee that the server
    renders (backtick-quoted, backticks doubled) to the clone's, and refuses any line it does
    not recognise. MariaDB masks ``IDENTIFIED BY`` passwords in its general and slow logs.

Verification is a real login with the candidate (``connect_timeout`` 5 s) that checks that
``CURRENT_USER()`` is the expected account.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pymysql
import pymysql.cursors

from rotation import defaults as D
from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import ConfigurationError
from rotation.policy import PasswordPolicy
from rotation.rotator import RotatorContext, Strategy, base_username
from rotation.targets import Endpoint
from rotation.tls import client_context
from rotators import _mysql_wire as W
from rotators._base import verify_or_disable
from rotators._mysql_wire import quote_identifier, rendered_account
from rotators._sql import CONNECT_TIMEOUT_S, SqlDialect, SqlRotator, SqlSettings

__all__ = ["MySQLRotator", "quote_identifier", "rendered_account"]

logger = logging.getLogger(__name__)

#: Seconds a statement may wait for a lock on the server (below the 30 s read timeout).
LOCK_WAIT_TIMEOUT_S = 10

if TYPE_CHECKING:
    Connection = pymysql.connections.Connection[pymysql.cursors.Cursor]

#: MariaDB allows 80 characters (MySQL 32: the server refuses longer names, error 1470).
MAX_NAME_BYTES = 80
ACCOUNT_HOST_OPTION = T.option(T.ACCOUNT_HOST)
_FIND_ACCOUNT = "SELECT 1 FROM mysql.user WHERE User = %s AND Host = %s"
Args = tuple[str, ...]
Hide = Iterable[str]
Rows = list[tuple[object, ...]]


class MySQLRotator(SqlRotator["Connection"]):
    """Rotates the password of a MySQL/MariaDB account (single or alternating users).

    Passwords: every printable character is stored and verified (they go as escaped string
    literals, logins send them as UTF-8; checked on MariaDB 10.11 with every ASCII symbol,
    space and non-ASCII letters). Consumers must send UTF-8 too: PyMySQL with a ``str``
    password sends Latin-1, so keep policies ASCII for such consumers.
    """

    kind = "mysql"
    reapply_on_resume = True  # a stopped run may leave the clone without its grants
    dialect = SqlDialect("user", 3306, database_required=False, max_name_bytes=MAX_NAME_BYTES)
    #: Accepted by MariaDB and by MySQL's validate_password MEDIUM policy (mixed case,
    #: digits, one special character); no quote or backslash, so no client needs escaping.
    default_policy = PasswordPolicy(
        length=32, lower=1, upper=1, digits=1, symbols=1, symbol_set="-_.~!#%*+="
    )
    #: MySQL 8's default plugin, caching_sha2_password, refuses passwords longer than 256
    #: bytes (MAX_PLAINTEXT_LENGTH in its source; no MySQL on these machines to check);
    #: MariaDB 10.11 stores and verifies 1 KiB (checked). 256 suits both.
    max_password_length = 256
    connect_rules = W.CONNECT_RULES
    statement_rules = W.STATEMENT_RULES
    close_errors = (pymysql.err.MySQLError, OSError)

    @classmethod
    def parse_tls(cls, context: RotatorContext, endpoint: Endpoint) -> SqlSettings:
        """The account host, and the trust anchor when TLS is verified (``None``: TLS off,
        see :func:`rotators._base.verify_or_disable`)."""
        host = context.options.get(ACCOUNT_HOST_OPTION, D.MYSQL_ACCOUNT_HOST)
        if not host or len(host) > 255 or not host.isprintable():
            raise ConfigurationError(
                "must be a non-empty host pattern", secret=context.secret_name, tag=T.ACCOUNT_HOST
            )
        anchor = verify_or_disable(context, endpoint.host, tag=W.TLS_TAG)
        return SqlSettings(endpoint, "disable" if anchor is None else "verify", anchor, host)

    @property
    def account_host(self) -> str:
        """The host part of the managed accounts."""
        return self.settings.account_host

    def _open(self, credential: Credential) -> Connection:
        """Log in with ``credential`` (errors: :data:`CONNECT_RULES`)."""
        tls: dict[str, Any] = {
            "ssl_disabled": True,
            "auth_plugin_map": dict.fromkeys(W.CLEARTEXT_PLUGINS, W.RefuseCleartext),
        }
        if self.anchor is not None:
            # An SSLContext makes PyMySQL require TLS (no silent fallback to plain).
            tls = {"ssl": client_context(self.anchor, secret=self.context.secret_name)}
        return pymysql.connect(
            host=self.endpoint.host,
            port=self.endpoint.port,
            user=credential.username or "",
            # UTF-8, as the server hashed it (statements are utf8mb4); PyMySQL would
            # encode a str as Latin-1, so a non-ASCII password would never log in.
            password=credential.password.encode("utf-8"),
            database=self.endpoint.database,
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=30,
            write_timeout=30,
            # An ALTER USER waits for metadata locks (a year, by default) on the server side.
            init_command=f"SET SESSION lock_wait_timeout = {LOCK_WAIT_TIMEOUT_S}",
            autocommit=True,
            charset="utf8mb4",
            **tls,
        )

    def _prepare_admin(self, conn: Connection) -> None:
        """Fixed session settings so that SHOW GRANTS renders names with backticks."""
        self._run(conn, "SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'", what="set sql_mode")
        self._run(conn, "SET SESSION sql_quote_show_create = 1", what="set quoting")

    def _run(
        self, conn: Connection, sql: str, args: Args = (), what: str = "run", hide: Hide = ()
    ) -> Rows:
        """Execute ``sql`` with ``args`` escaped as literals by PyMySQL (errors:
        :data:`STATEMENT_RULES`, with ``hide`` redacted)."""
        with self._statement(what, hide), conn.cursor() as cursor:
            cursor.execute(sql, args or None)
            return list(cursor.fetchall())

    def _account_exists(self, conn: Connection, user: str) -> bool:
        account = (user, self.account_host)
        return bool(self._run(conn, _FIND_ACCOUNT, account, what="look up the account"))

    def _clone_grants(self, conn: Connection, base: str, clone: str) -> list[str]:
        """``SHOW GRANTS`` of ``base`` rewritten for ``clone`` (:func:`clone_grants`)."""
        rows = self._run(
            conn, "SHOW GRANTS FOR %s@%s", (base, self.account_host), what="read grants"
        )
        lines = (line for (line,) in rows)
        return W.clone_grants(
            lines, base, clone, self.account_host, secret=self.context.secret_name
        )

    def _set_own_password(
        self, conn: Connection, username: str, current: str, candidate: str
    ) -> None:
        version = self._run(conn, "SELECT VERSION()", what="read the version")
        # MariaDB wants CREATE USER for ALTER USER, even on one's own account.
        mariadb = "mariadb" in str(version[0][0]).lower()
        sql = "SET PASSWORD = PASSWORD(%s)" if mariadb else "ALTER USER USER() IDENTIFIED BY %s"
        what = f"set the password of user '{username}'"
        self._run(conn, sql, (candidate,), what=what, hide=(candidate, current))

    def _apply_as_admin(self, conn: Connection, candidate: Credential, username: str) -> None:
        hide, host = (candidate.password,), self.account_host
        arguments = (username, host, candidate.password)
        base = base_username(username)
        is_clone = self.context.strategy is Strategy.ALTERNATING and username != base
        grants: list[str] = []
        if is_clone:
            if not self._account_exists(conn, base):
                raise self._no_such_login(f"{base}'@'{host}")
            # Read (and check) before changing anything, so a refusal leaves no half clone.
            grants = self._clone_grants(conn, base, username)
        if self._account_exists(conn, username):
            # Set already (a resumed run): ALTER USER again would trip password-reuse checks.
            if not (is_clone and self._logs_in(candidate)):
                what = f"set the password of user '{username}'"
                self._run(
                    conn, "ALTER USER %s@%s IDENTIFIED BY %s", arguments, what=what, hide=hide
                )
        elif is_clone:
            what = f"create user '{username}'"
            self._run(conn, "CREATE USER %s@%s IDENTIFIED BY %s", arguments, what=what, hide=hide)
            logger.info("mysql %s: created clone user '%s' of '%s'", self.endpoint, username, base)
        else:
            raise self._no_such_login(f"{username}'@'{host}")
        # Replayed on every apply to the clone so that it follows the original's grants.
        # Server-rendered SQL sent without arguments, so PyMySQL does no %-formatting on it.
        for statement in grants:
            self._run(conn, statement, what="copy a grant", hide=hide)

    def _current_user(self, conn: Connection, credential: Credential) -> str | None:
        rows = self._run(conn, "SELECT CURRENT_USER()", what="check the user")
        return str(rows[0][0]).rpartition("@")[0] if rows else None
