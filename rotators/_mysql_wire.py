"""The MySQL/MariaDB protocol layer of the ``mysql`` rotator (no I/O here).

- :class:`RefuseCleartext`, a PyMySQL auth plugin handler that refuses the plugins which
  send the password itself (:data:`CLEARTEXT_PLUGINS`) before anything is sent;
- identifier quoting as the server renders it, and the rewrite of ``SHOW GRANTS`` lines of
  an account into the statements that give a clone the same grants (:func:`clone_grants`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NoReturn

import pymysql

from rotation.errors import ConfigurationError

#: Authentication plugins whose client side sends the password itself.
CLEARTEXT_PLUGINS = ("mysql_clear_password", "dialog")


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
