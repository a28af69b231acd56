"""Helpers shared by the SQL rotators: target parsing and user-name checks. No I/O here."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rotation.errors import ConfigurationError
from rotation.rotator import RotatorContext, Strategy, alternate_username
from rotators._target import check_target_text

TARGET_TAG = "rotation-target"
ADMIN_TAG = "rotation-admin-secret"

#: ``host``, ``host:port``, ``[v6]`` or ``[v6]:port``; the host has no ``/``, ``:`` or spaces.
_HOST_PORT = re.compile(
    r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^\s:/\[\]@]+))(?::(?P<port>\d+))?$"
)


@dataclass(frozen=True)
class Endpoint:
    """Where a database listens, and (optionally) which database to open."""

    host: str
    port: int
    database: str | None = None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        tail = f"/{self.database}" if self.database else ""
        return f"{host}:{self.port}{tail}"


def require_admin_for_alternating(context: RotatorContext, clone_kind: str) -> None:
    """Raise ``ConfigurationError`` if the alternating strategy has no admin credential
    (creating and resetting the clone ``clone_kind`` needs one)."""
    if context.strategy is Strategy.ALTERNATING and context.admin is None:
        raise ConfigurationError(
            f"the alternating strategy needs an admin credential to create the clone {clone_kind}",
            secret=context.secret_name,
            tag=ADMIN_TAG,
        )


def parse_endpoint(
    value: str | None,
    *,
    default_port: int,
    database_required: bool,
    secret: str | None = None,
) -> Endpoint:
    """Parse ``host[:port][/database]`` (IPv6 hosts in brackets).

    Raises :class:`ConfigurationError` naming the ``rotation-target`` tag when malformed,
    including targets with embedded credentials (``user:pass@host``, never echoed), control
    characters, or more than 1 KiB (see :func:`rotators._target.check_target_text`).
    """
    if not value or not value.strip():
        raise ConfigurationError("is required for this rotator", secret=secret, tag=TARGET_TAG)
    text = check_target_text(value, secret=secret)
    if "@" in text.partition("/")[0]:
        raise ConfigurationError(
            "must not contain credentials ('user:password@'); expected host:port/database",
            secret=secret,
            tag=TARGET_TAG,
        )
    address, slash, database = text.partition("/")
    match = _HOST_PORT.match(address)
    if match is None:
        raise ConfigurationError(
            f"'{text}' is not host:port/database (IPv6 hosts go in brackets)",
            secret=secret,
            tag=TARGET_TAG,
        )
    port = int(match["port"]) if match["port"] else default_port
    if not 0 < port < 65536:
        raise ConfigurationError(f"port {port} is out of range", secret=secret, tag=TARGET_TAG)
    if slash and (not database or "/" in database or any(c.isspace() for c in database)):
        raise ConfigurationError(
            f"'{text}' has an empty or malformed database name", secret=secret, tag=TARGET_TAG
        )
    if database_required and not database:
        raise ConfigurationError(
            f"'{text}' names no database (expected host:port/database)",
            secret=secret,
            tag=TARGET_TAG,
        )
    return Endpoint(host=match["v6"] or match["host"], port=port, database=database or None)


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
