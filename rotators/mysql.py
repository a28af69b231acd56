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
import os
from typing import TYPE_CHECKING, Any, NoReturn

import pymysql
import pymysql.cursors

from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import ConfigurationError, RotationConflict, TargetUnavailable
from rotation.policy import PasswordPolicy
from rotation.rotator import RotatorContext, Strategy, base_username
from rotation.sanitize import sanitize_error
from rotation.targets import Endpoint, is_loopback
from rotation.tls import CA_OPTION, CA_SETTING, client_context, trust_anchor
from rotators._base import refuse_ca
from rotators._sql import CONNECT_TIMEOUT_S, LoginRefused, SqlDialect, SqlRotator, SqlSettings

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from typing import TypeAlias

    from pymysql.connections import Connection as _PyMySQLConnection

    Connection: TypeAlias = _PyMySQLConnection[pymysql.cursors.Cursor]

#: MariaDB allows 80 characters (MySQL 32: the server refuses longer names, error 1470).
MAX_NAME_BYTES = 80
ACCOUNT_HOST_OPTION = T.option(T.ACCOUNT_HOST)
TLS_OPTION = T.option(T.TLS)
TLS_TAG = T.TLS
TLS_MODES = ("verify", "disable")
#: Authentication plugins whose client side sends the password itself.
CLEARTEXT_PLUGINS = ("mysql_clear_password", "dialog")
CR_SSL_CONNECTION_ERROR = 2026

ER_ACCESS_DENIED = 1045
ER_BAD_DB = 1049
ER_DB_ACCESS_DENIED = 1044
ER_TOO_MANY_CONNECTIONS = 1040
ER_HOST_BLOCKED = 1129
ER_NAME_TOO_LONG = 1470
#: Client-side "can't connect", "server gone away", "lost connection" and friends.
_UNREACHABLE = {2002, 2003, 2005, 2006, 2013, 2055, ER_TOO_MANY_CONNECTIONS, ER_HOST_BLOCKED}
#: Server errors meaning "you may not do this": the admin lacks a privilege.
_PRIVILEGE_ERRORS = {1044, 1045, 1142, 1143, 1227, 1370, 1410, 1698, 3530}


class CleartextRefused(pymysql.err.OperationalError):
    """The server asked for a plugin that sends the password in clear, on a plain connection."""


class _RefuseCleartext:
    """A PyMySQL auth plugin handler that refuses, before sending anything.

    Registered through PyMySQL's public ``auth_plugin_map`` for :data:`CLEARTEXT_PLUGINS`
    on connections that are not verified TLS; PyMySQL calls ``authenticate`` with the
    server's request, where the built-in handling would answer with the password.
    """

    def __init__(self, connection: object) -> None:
        self.connection = connection

    def authenticate(self, packet: object) -> NoReturn:
        raise CleartextRefused(
            2059, "the server asked for a password in clear text on a connection without TLS"
        )

    def prompt(self, echo: bool, prompt: bytes) -> NoReturn:  # the 'dialog' plugin's hook
        self.authenticate(prompt)


def quote_identifier(name: str) -> str:
    """``name`` as a backtick-quoted identifier (backticks doubled), as the server renders it."""
    return "`" + name.replace("`", "``") + "`"


def rendered_account(user: str, host: str) -> str:
    """The account as ``SHOW GRANTS`` renders it: ```user`@`host```."""
    return f"{quote_identifier(user)}@{quote_identifier(host)}"


def _error_code(error: pymysql.err.MySQLError) -> int | None:
    code = error.args[0] if error.args else None
    return code if isinstance(code, int) else None


class MySQLRotator(SqlRotator["Connection"]):
    """Rotates the password of a MySQL/MariaDB account (single or alternating users).

    Passwords: every printable character is stored and verified (they go as escaped string
    literals, logins send them as UTF-8; checked on MariaDB 10.11 with every ASCII symbol,
    space and non-ASCII letters). Consumers must send UTF-8 too: PyMySQL with a ``str``
    password sends Latin-1, so keep policies ASCII for such consumers.
    """

    kind = "mysql"
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

    @classmethod
    def parse_tls(cls, context: RotatorContext, endpoint: Endpoint) -> SqlSettings:
        """The account host, and the trust anchor when TLS is verified (``None``: TLS off).

        Default ``verify``, except ``disable`` for a loopback host with no CA configured.
        ``rotation-tls=disable`` together with ``rotation-tls-ca`` is refused as a
        contradiction.
        """
        host = context.options.get(ACCOUNT_HOST_OPTION, "%")
        if not host or len(host) > 255 or not host.isprintable():
            raise ConfigurationError(
                "must be a non-empty host pattern", secret=context.secret_name, tag=T.ACCOUNT_HOST
            )
        explicit = context.options.get(TLS_OPTION)
        if explicit is not None and explicit.strip().lower() not in TLS_MODES:
            raise ConfigurationError(
                f"must be one of {', '.join(TLS_MODES)}", secret=context.secret_name, tag=TLS_TAG
            )
        configured = CA_OPTION in context.options or bool(os.environ.get(CA_SETTING, "").strip())
        if explicit is not None:
            mode = explicit.strip().lower()
        elif configured or not is_loopback(endpoint.host):
            mode = "verify"
        else:
            mode = "disable"
        if mode == "disable":
            refuse_ca(context, "TLS is disabled (drop one of the tags)", tag=TLS_TAG)
            return SqlSettings(endpoint, mode, None, host)
        return SqlSettings(endpoint, mode, trust_anchor(context), host)

    @property
    def account_host(self) -> str:
        """The host part of the managed accounts."""
        return self.settings.account_host

    # ------------------------------------------------------------------ connections

    def _connect(self, credential: Credential) -> Connection:
        """Log in with ``credential``.

        Raises ``LoginRefused`` when the server refuses the login, ``TargetUnavailable``
        when it cannot be reached, ``ConfigurationError`` when the database does not exist.
        """
        secrets = self._secrets(credential)
        tls: dict[str, Any] = {}
        if self.anchor is not None:
            # An SSLContext makes PyMySQL require TLS (no silent fallback to plain).
            tls["ssl"] = client_context(self.anchor, secret=self.context.secret_name)
        else:
            tls["ssl_disabled"] = True
            tls["auth_plugin_map"] = dict.fromkeys(CLEARTEXT_PLUGINS, _RefuseCleartext)
        try:
            conn = pymysql.connect(
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
                autocommit=True,
                charset="utf8mb4",
                **tls,
            )
        except pymysql.err.MySQLError as error:
            self._raise_connect_error(error, credential, secrets)
        except (ValueError, UnicodeError) as error:  # a value the driver cannot send
            raise ConfigurationError(
                f"mysql {self.endpoint}: {sanitize_error(error, secrets)}",
                secret=self.context.secret_name,
            ) from None
        return conn

    def _raise_connect_error(
        self, error: pymysql.err.MySQLError, credential: Credential, secrets: list[str]
    ) -> NoReturn:
        code = _error_code(error)
        message = sanitize_error(error, secrets)
        if isinstance(error, CleartextRefused):
            raise ConfigurationError(
                f"mysql {self.endpoint} asked for a cleartext password plugin "
                f"({' or '.join(CLEARTEXT_PLUGINS)}) on a connection without TLS; the password "
                "was not sent. Use verified TLS (rotation-tls=verify) or another plugin",
                secret=self.context.secret_name,
                tag=T.TARGET,
            ) from None
        self._refuse_unverified(error, f"mysql {self.endpoint}", message)
        if self.anchor is not None and code == CR_SSL_CONNECTION_ERROR:
            raise ConfigurationError(
                f"mysql {self.endpoint} does not offer TLS, which rotation-tls=verify "
                f"requires ({message})",
                secret=self.context.secret_name,
                tag=TLS_TAG,
            ) from None
        if code == ER_ACCESS_DENIED:
            raise LoginRefused(message) from None
        if code in (ER_BAD_DB, ER_DB_ACCESS_DENIED):
            user = f"user '{credential.username}'"
            raise ConfigurationError(
                f"database of {self.endpoint} does not exist or {user} may not open it",
                secret=self.context.secret_name,
                tag=T.TARGET,
            ) from None
        raise TargetUnavailable(f"mysql {self.endpoint} unreachable: {message}") from None

    def _prepare_admin(self, conn: Connection) -> None:
        """Fixed session settings so that SHOW GRANTS renders names with backticks."""
        self._run(conn, "SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'", (), "set sql_mode", [])
        self._run(conn, "SET SESSION sql_quote_show_create = 1", (), "set quoting", [])

    # ------------------------------------------------------------------ statements

    def _run(
        self,
        conn: Connection,
        statement: str,
        args: tuple[str, ...],
        what: str,
        secrets: list[str],
    ) -> list[tuple[object, ...]]:
        """Execute ``statement`` with ``args`` escaped as literals by PyMySQL; map errors."""
        secrets = [*secrets, *self._secrets()]
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement, args or None)
                return list(cursor.fetchall())
        except pymysql.err.MySQLError as error:
            code = _error_code(error)
            message = f"could not {what} on {self.endpoint}: {sanitize_error(error, secrets)}"
            if code in _UNREACHABLE or isinstance(error, pymysql.err.InterfaceError):
                raise TargetUnavailable(message) from None
            if code in _PRIVILEGE_ERRORS:
                raise ConfigurationError(
                    message, secret=self.context.secret_name, tag=T.ADMIN_SECRET
                ) from None
            if code == ER_NAME_TOO_LONG:
                raise ConfigurationError(message, secret=self.context.secret_name) from None
            raise RotationConflict(message) from None
        except (ValueError, UnicodeError) as error:
            raise ConfigurationError(
                f"could not {what} on {self.endpoint}: {sanitize_error(error, secrets)}",
                secret=self.context.secret_name,
            ) from None

    def _close(self, conn: Connection) -> None:
        """Close ``conn``; never raises (PyMySQL raises on a connection it already dropped,
        and every session is autocommit, so nothing can be lost)."""
        try:
            conn.close()
        except (pymysql.err.MySQLError, OSError) as error:
            logger.debug(
                "mysql %s: close failed: %s", self.endpoint, sanitize_error(error, self._secrets())
            )

    def _account_exists(self, conn: Connection, user: str) -> bool:
        rows = self._run(
            conn,
            "SELECT 1 FROM mysql.user WHERE User = %s AND Host = %s",
            (user, self.account_host),
            "look up the account",
            [],
        )
        return bool(rows)

    def _clone_grants(self, conn: Connection, base: str, clone: str) -> list[str]:
        """``SHOW GRANTS`` of ``base`` rewritten for ``clone``; refuses unknown lines."""
        rows = self._run(
            conn, "SHOW GRANTS FOR %s@%s", (base, self.account_host), "read grants", []
        )
        source = rendered_account(base, self.account_host)
        target = rendered_account(clone, self.account_host)
        statements = []
        for (line,) in rows:
            text = str(line)
            if text.startswith("GRANT USAGE ON *.* TO "):
                continue  # grants nothing; carries the original's password hash
            if text.startswith("GRANT ") and text.count(f" TO {source}") == 1:
                head, _, tail = text.partition(f" TO {source}")
                if tail not in ("", " WITH GRANT OPTION", " WITH ADMIN OPTION"):
                    tail = " WITH GRANT OPTION" if "WITH GRANT OPTION" in tail else ""
                statements.append(f"{head} TO {target}{tail}")
            elif text.startswith("SET DEFAULT ROLE ") and text.endswith(f" FOR {source}"):
                statements.append(text[: -len(source)] + target)
            else:
                raise ConfigurationError(
                    f"cannot copy a grant of '{base}' to '{clone}' (unrecognised SHOW GRANTS line)",
                    secret=self.context.secret_name,
                )
        return statements

    # ------------------------------------------------------------------ the contract

    def _set_own_password(
        self, conn: Connection, username: str, current: str, candidate: str
    ) -> None:
        what = f"set the password of user '{username}'"
        secrets = [candidate, current]
        version = self._run(conn, "SELECT VERSION()", (), "read the version", [])
        if "mariadb" in str(version[0][0]).lower():
            # MariaDB wants CREATE USER for ALTER USER, even on one's own account.
            self._run(conn, "SET PASSWORD = PASSWORD(%s)", (candidate,), what, secrets)
        else:
            self._run(conn, "ALTER USER USER() IDENTIFIED BY %s", (candidate,), what, secrets)

    def _apply_as_admin(self, conn: Connection, candidate: Credential, username: str) -> None:
        secrets = [candidate.password]
        account = (username, self.account_host)
        base = base_username(username)
        is_clone = self.context.strategy is Strategy.ALTERNATING and username != base
        grants: list[str] = []
        if is_clone:
            if not self._account_exists(conn, base):
                raise ConfigurationError(
                    f"user '{base}'@'{self.account_host}' does not exist on {self.endpoint}",
                    secret=self.context.secret_name,
                )
            # Read (and check) before changing anything, so a refusal leaves no half clone.
            grants = self._clone_grants(conn, base, username)
        if self._account_exists(conn, username):
            self._run(
                conn,
                "ALTER USER %s@%s IDENTIFIED BY %s",
                (*account, candidate.password),
                f"set the password of user '{username}'",
                secrets,
            )
        elif is_clone:
            self._run(
                conn,
                "CREATE USER %s@%s IDENTIFIED BY %s",
                (*account, candidate.password),
                f"create user '{username}'",
                secrets,
            )
            logger.info("mysql %s: created clone user '%s' of '%s'", self.endpoint, username, base)
        else:
            raise ConfigurationError(
                f"user '{username}'@'{self.account_host}' does not exist on {self.endpoint}",
                secret=self.context.secret_name,
            )
        # Replayed on every apply to the clone so that it follows the original's grants.
        # Server-rendered SQL sent without arguments, so PyMySQL does no %-formatting on it.
        for statement in grants:
            self._run(conn, statement, (), "copy a grant", secrets)

    def _current_user(self, conn: Connection, credential: Credential) -> str | None:
        rows = self._run(conn, "SELECT CURRENT_USER()", (), "check the user", [])
        return str(rows[0][0]).rpartition("@")[0] if rows else None
