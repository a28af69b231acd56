"""Validation of the identifiers that reach the app from outside: vault names and URLs,
secret names and version ids.

Every route parameter, event field and queue message field passes through here before the
app uses it to build a URL, a blob name or a log line. A malformed one is an
:class:`InvalidName`, a :class:`~rotation.errors.ConfigurationError`: permanent, never retried
(400 from HTTP, acknowledged with an error log from Event Grid, dropped with an error log from
the queue). None of these functions raises anything else, whatever it is given.

Names are not secrets, so messages show the bad value, but only through :func:`shown`:
truncated and with control characters escaped, so that no input can flood or forge a log line.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from rotation.errors import InvalidName

#: Key Vault's rule for secret names: 1-127 letters, digits and hyphens.
SECRET_NAME = re.compile(r"[0-9A-Za-z-]{1,127}")
MAX_SECRET_NAME = 127
#: Azure's rule for vault names: 3-24 letters, digits and hyphens, starting with a letter,
#: ending with a letter or digit, no two hyphens in a row.
VAULT_NAME = re.compile(r"[A-Za-z](?:-?[A-Za-z0-9])+")
MIN_VAULT_NAME, MAX_VAULT_NAME = 3, 24
#: Key Vault issues 32 lower-case hex digits; accept any letters and digits up to 64 (what
#: the service or an emulator may emit), never separators, dots or control characters.
VERSION = re.compile(r"[0-9A-Za-z]{1,64}")
MAX_VERSION = 64
#: The DNS suffixes of Key Vault in Azure's clouds (public, China, US Government, Germany).
VAULT_DNS_SUFFIXES = (
    "vault.azure.net",
    "vault.azure.cn",
    "vault.usgovcloudapi.net",
    "vault.microsoftazure.de",
)
#: Longer than any valid vault URL (``https://`` + 24 + ``.`` + the longest suffix, plus an
#: object path ``/secrets/<127>/<64>`` for event ids); anything longer is refused unparsed.
MAX_URL = 512
#: How much of a bad value an error message shows.
SHOWN_CHARS = 64

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """A short, printable rendering of ``value`` for an error message (not quoted).

    At most ``limit`` characters of the value are kept (then ``…(<n> chars)``); control
    characters, lone surrogates and line separators are escaped (``\\x00``, ``\\ud800``), so the
    result is one safe line whatever ``value`` is. Not for secret values.
    """
    if not isinstance(value, str):
        return f"<{type(value).__name__}>"
    head = value[:limit]
    text = "".join(_escape(c) for c in head)
    if len(value) > limit:
        text += f"…({len(value)} chars)"
    return text


def _escape(char: str) -> str:
    code = ord(char)
    if _CONTROL.fullmatch(char) or 0xD800 <= code <= 0xDFFF:
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return char


def secret_name(value: object, *, what: str = "secret name") -> str:
    """``value`` if it is a valid Key Vault secret name; :class:`InvalidName` otherwise."""
    if not isinstance(value, str):
        raise InvalidName(f"{what} must be a string, got {shown(value)}")
    if not value:
        raise InvalidName(f"{what} is empty")
    if len(value) > MAX_SECRET_NAME:
        raise InvalidName(
            f"{what} '{shown(value)}' is longer than Key Vault's {MAX_SECRET_NAME} characters"
        )
    if not SECRET_NAME.fullmatch(value):
        raise InvalidName(
            f"{what} '{shown(value)}' is not a Key Vault secret name "
            "(1-127 letters, digits and hyphens)"
        )
    return value


def vault_name(value: object) -> str:
    """``value`` in lower case if it is a valid vault name; :class:`InvalidName` otherwise."""
    if not isinstance(value, str):
        raise InvalidName(f"vault name must be a string, got {shown(value)}")
    if not (
        MIN_VAULT_NAME <= len(value) <= MAX_VAULT_NAME
        and VAULT_NAME.fullmatch(value)
        and value.isascii()
    ):
        raise InvalidName(
            f"'{shown(value)}' is not a Key Vault name (3-24 letters, digits and hyphens, "
            "starting with a letter, ending with a letter or digit, no '--')"
        )
    return value.lower()


def version(value: object, *, what: str = "version") -> str:
    """``value`` if it looks like a Key Vault version id; :class:`InvalidName` otherwise."""
    if not isinstance(value, str):
        raise InvalidName(f"{what} must be a string, got {shown(value)}")
    if not (len(value) <= MAX_VERSION and VERSION.fullmatch(value) and value.isascii()):
        raise InvalidName(
            f"{what} '{shown(value)}' is not a Key Vault version id "
            f"(Key Vault issues 32 hex digits; at most {MAX_VERSION} letters and digits)"
        )
    return value


def vault_url(value: object, *, allow_path: bool = False) -> str:
    """The canonical ``https://<vault>.<suffix>`` of a vault URL; :class:`InvalidName` if it
    is not one.

    Accepted: scheme ``https`` (any case); a host ``<vault name>.<suffix>`` for a suffix in
    :data:`VAULT_DNS_SUFFIXES`; no user info, no port other than 443, no query or fragment;
    a path only when ``allow_path`` (an event's object id ``https://v.vault.azure.net/secrets/
    <name>/<version>``), otherwise at most ``/``. Bracketed IPv6 hosts and other garbage that
    ``urlsplit`` chokes on are refused like any other malformed URL.
    """
    if not isinstance(value, str):
        raise InvalidName(f"vault URL must be a string, got {shown(value)}")
    bad = f"'{shown(value)}' is not a Key Vault URL (https://<vault>.vault.azure.net)"
    if len(value) > MAX_URL or _CONTROL.search(value) or not value.isascii() or " " in value:
        raise InvalidName(bad)
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:  # "Invalid IPv6 URL", a port that is not a number, ...
        raise InvalidName(bad) from None
    if parts.scheme.lower() != "https":
        raise InvalidName(f"{bad}: only https is allowed")
    netloc = parts.netloc
    if "@" in netloc or "[" in netloc or "]" in netloc:
        raise InvalidName(f"{bad}: no user info or IP literals")
    if port not in (None, 443) or netloc.endswith(":"):
        raise InvalidName(f"{bad}: no port other than 443")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise InvalidName(f"{bad}: no query or fragment")
    if not allow_path and parts.path not in ("", "/"):
        raise InvalidName(f"{bad}: no path")
    host = (parts.hostname or "").lower()
    name, _, suffix = host.partition(".")
    if suffix not in VAULT_DNS_SUFFIXES:
        raise InvalidName(f"{bad}: the host must end in one of {', '.join(VAULT_DNS_SUFFIXES)}")
    return f"https://{vault_name(name)}.{suffix}"


def vault_reference(value: object) -> str:
    """The canonical vault URL for a vault name, a host (``v.vault.azure.net``) or a URL.

    A bare name means the public cloud (``<name>.vault.azure.net``). :class:`InvalidName` if
    ``value`` is none of these.
    """
    if not isinstance(value, str):
        raise InvalidName(f"vault must be a string, got {shown(value)}")
    if "://" in value:
        return vault_url(value)
    if "." in value:
        return vault_url(f"https://{value}")
    return f"https://{vault_name(value)}.{VAULT_DNS_SUFFIXES[0]}"
