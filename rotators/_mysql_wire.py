"""The MySQL/MariaDB protocol layer of the ``mysql`` rotator (no I/O here).

- what the server's and PyMySQL's error codes mean, as :mod:`rotators._errors` tables
  (:data:`CONNECT_RULES`, :data:`STATEMENT_RULES`);
- :class:`RefuseCleartext`, a PyMySQL auth plugin handler that refuses the plugins which
  send the password itself (:data:`CLEARTEXT_PLUGINS`) before anything is sent;
- identifier quoting as the server renders it, and the rewrite of ``SHOW GRANTS`` lines of
  an account into the statements that give a clone the same grants (:func:`clone_grants`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NoReturn

import pymysql

from rotation import tags as T
from rotation.errors import ConfigurationError
from rotators import _errors as E

#: Authentication plugins whose client side sends the password itself.
CLEARTEXT_PLUGINS = ("mysql_clear_password", "dialog")
TLS_TAG = T.TLS


class CleartextRefused(pymysql.err.OperationalError):
    """The server asked for a plugin that sends the password in clear, on a plain connection."""


class RefuseCleartext:
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


CR_SSL_CONNECTION_ERROR = 2026
ER_ACCESS_DENIED = 1045
ER_BAD_DB = 1049
ER_DB_ACCESS_DENIED = 1044
ER_NAME_TOO_LONG = 1470
#: Client-side "can't connect", "server gone away", "lost connection", too many connections,
#: host blocked.
_UNREACHABLE = (2002, 2003, 2005, 2006, 2013, 2055, 1040, 1129)
#: Server errors meaning "you may not do this": the admin lacks a privilege.
_PRIVILEGE_ERRORS = (1044, 1045, 1142, 1143, 1227, 1370, 1410, 1698, 3530)
_MYSQL = E.is_(pymysql.err.MySQLError)

#: A login's errors: a cleartext plugin on a plain connection (nothing was sent), a
#: certificate that does not verify and a server without TLS are configuration errors, as is
#: a database that cannot be opened; access denied is a refused login; the rest unavailability.
CONNECT_RULES = (
    E.misconfigured(
        E.is_(CleartextRefused),
        f"{{where}} asked for a cleartext password plugin ({' or '.join(CLEARTEXT_PLUGINS)}) "
        "on a connection without TLS; the password was not sent. Use verified TLS "
        "(rotation-tls=verify) or another plugin",
        T.TARGET,
    ),
    E.TLS_REFUSED,
    E.Rule(
        E.all_of(_MYSQL, E.code(CR_SSL_CONNECTION_ERROR)),
        ConfigurationError,
        "{where} does not offer TLS, which rotation-tls=verify requires ({detail})",
        TLS_TAG,
        tls_only=True,
    ),
    E.refused(E.all_of(_MYSQL, E.code(ER_ACCESS_DENIED))),
    E.misconfigured(
        E.all_of(_MYSQL, E.code(ER_BAD_DB, ER_DB_ACCESS_DENIED)),
        "database of {endpoint} does not exist or user '{user}' may not open it",
        T.TARGET,
    ),
    E.unavailable(_MYSQL),
    E.misconfigured(E.UNENCODABLE, "{where}: {detail}"),
)
#: A statement's errors: a lost connection is unavailability, a missing privilege names the
#: admin secret, a name too long is a configuration error, any other refusal a conflict.
STATEMENT_RULES = (
    E.unavailable(
        E.all_of(_MYSQL, E.any_of(E.code(*_UNREACHABLE), E.is_(pymysql.err.InterfaceError))),
        E.COULD_NOT,
    ),
    E.misconfigured(E.all_of(_MYSQL, E.code(*_PRIVILEGE_ERRORS)), E.COULD_NOT, T.ADMIN_SECRET),
    E.misconfigured(E.all_of(_MYSQL, E.code(ER_NAME_TOO_LONG)), E.COULD_NOT),
    E.conflict(_MYSQL),
    E.misconfigured(E.UNENCODABLE, E.COULD_NOT),
)


def quote_identifier(name: str) -> str:
    """``name`` as a backtick-quoted identifier (backticks doubled), as the server renders it."""
    return "`" + name.replace("`", "``") + "`"


def rendered_account(user: str, host: str) -> str:
    """The account as ``SHOW GRANTS`` renders it: ```user`@`host```."""
    return f"{quote_identifier(user)}@{quote_identifier(host)}"


def clone_grants(
    lines: Iterable[object], base: str, clone: str, host: str, *, secret: str
) -> list[str]:
    """The ``SHOW GRANTS`` ``lines`` of ``base``@``host`` rewritten for ``clone``@``host``.

    Only the exact grantee the server renders is rewritten; ``GRANT USAGE`` (which grants
    nothing and carries the original's password hash) is dropped; any line not recognised
    is a ``ConfigurationError`` (nothing is half copied: the caller reads before it writes).
    """
    source = rendered_account(base, host)
    target = rendered_account(clone, host)
    statements = []
    for line in lines:
        text = str(line)
        if text.startswith("GRANT USAGE ON *.* TO "):
            continue
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
                secret=secret,
            )
    return statements
