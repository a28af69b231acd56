"""Shared target parsing, part of the plugin interface: the checks every ``rotation-target``
parser runs first, whatever its syntax, and the ``host[:port][/database]`` form the SQL
rotators and consumer checks share. No I/O here.

A target is hostile input: it comes from a tag that anyone allowed to edit the secret's tags
can write. Before a rotator parses it, :func:`check_target_text` refuses what no target of
any kind may contain (control characters, absurd lengths, embedded credentials), as a
permanent :class:`ConfigurationError` naming the tag. Messages never echo a ``user:pass@``
part: :func:`without_userinfo` removes it from any text that might be shown.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass

from rotation import tags as T
from rotation.errors import ConfigurationError

TARGET_TAG = T.TARGET
#: Longer targets are refused (a Key Vault tag value holds 256 characters; 1 KiB is generous).
MAX_TARGET_LENGTH = 1024
#: Unicode categories refused anywhere in a target: controls (NUL included), format
#: characters (zero-width, bidi overrides), surrogates, and line/paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
#: ``scheme://`` (optional) then an authority up to the first ``/``, ``?`` or ``#``.
_AUTHORITY = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)?(?P<authority>[^/?#]*)")
_USERINFO = re.compile(r"(?P<lead>^|://|[=&?])(?P<userinfo>[^/?#=&@\s]*)@")
#: A GUID (subscription, tenant, application and object ids), either case.
GUID = r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"
#: The start of an ARM resource id, up to ``/providers/``: groups ``subscription`` and
#: ``resource_group`` (Azure's resource-group name rules).
ARM_RESOURCE_GROUP = (
    rf"^/subscriptions/(?P<subscription>{GUID})"
    r"/resourceGroups/(?P<resource_group>[-\w._()]{1,89}[-\w_()])"
)


def without_userinfo(text: str) -> str:
    """``text`` with every ``user[:password]@`` part of a URL or address replaced."""
    return _USERINFO.sub(r"\g<lead>[REDACTED]@", text)


def has_userinfo(text: str) -> bool:
    """Whether the authority of ``text`` (``[scheme://]user:pass@host...``) carries a ``@``."""
    match = _AUTHORITY.match(text)
    return bool(match) and "@" in (match["authority"] if match else "")


def check_target_text(value: str, *, secret: str | None, tag: str = TARGET_TAG) -> str:
    """``value`` stripped, or ``ConfigurationError`` (permanent) naming ``tag``.

    Refuses targets longer than :data:`MAX_TARGET_LENGTH`, targets with a control, format or
    separator character, and targets whose authority carries credentials (``user:pass@``):
    credentials belong in Key Vault secrets, never in a tag. The message never repeats the
    value, so nothing the tag held can leak through the error.
    """
    if len(value) > MAX_TARGET_LENGTH:
        raise ConfigurationError(
            f"is {len(value)} characters long (the limit is {MAX_TARGET_LENGTH})",
            secret=secret,
            tag=tag,
        )
    for position, char in enumerate(value):
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise ConfigurationError(
                f"contains the control character U+{ord(char):04X} at position {position}",
                secret=secret,
                tag=tag,
            )
    text = value.strip()
    if has_userinfo(text):
        raise ConfigurationError(
            "must not contain credentials ('user:password@'): the target names a host only; "
            "credentials come from the managed secret and the admin secret",
            secret=secret,
            tag=tag,
        )
    return text


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost``, 127.0.0.0/8, ``::1``).

    Traffic to a loopback address never leaves the machine, so no network attacker sees it;
    that is the only place where a rotator lets a password travel without verified TLS.
    """
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost":  # not "*.localhost": a resolver may send those to DNS
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


#: ``host``, ``host:port``, ``[v6]`` or ``[v6]:port``; the host has no ``/``, ``:`` or spaces.
_HOST_PORT = re.compile(
    r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^\s:/\[\]@]+))(?::(?P<port>[0-9]{1,5}))?$"
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
    characters, or more than 1 KiB (see :func:`check_target_text`).
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
