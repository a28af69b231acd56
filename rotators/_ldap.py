"""The LDAP protocol side of the ``ldap`` rotator (through ``ldap3``): targets, DNs, binds
and the two password-change dialects. No Key Vault, no engine state.

* :func:`parse_ldap_url` reads ``ldap[s]://host[:port]/<base DN>`` (RFC 4516's host and DN
  parts only) and validates the DN with ldap3's parser.
* :func:`account_dn` builds an account's DN from its RDN value, escaped as RFC 4514 says
  (:func:`escape_value`) and checked with ldap3's DN parser: no search filter is ever built
  from a user name.
* :func:`connect` opens a connection (LDAPS or StartTLS verified against one
  :class:`ssl.SSLContext`, or plain) and binds; a refused bind is :class:`LoginRefused`.
* :func:`change_own_password` and :func:`reset_password` speak the dialects:

  ``openldap``
      RFC 3062 password modify extended operation: bound as the account with
      ``oldPasswd`` (self-service), or bound as an admin with ``userIdentity`` (reset);
      the server hashes the password with its ``password-hash`` setting.
  ``active-directory``
      ``unicodePwd``: the password in double quotes, encoded UTF-16LE. A user changes its
      own with one modify that deletes the old value and adds the new one (AD checks the
      deleted value against the current password); an admin replaces it (a reset needs the
      "Reset Password" right). AD takes either only over an encrypted connection.

Operation results other than success raise :class:`LdapRefused` with the result code; the
caller words the error. ``ldap3`` exceptions (``LDAPException``) pass through untouched.
"""

from __future__ import annotations

import re
import socket
import ssl
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import unquote

import ldap3
from ldap3.core.exceptions import LDAPException, LDAPInvalidDnError
from ldap3.utils.dn import parse_dn

from rotation.errors import ConfigurationError
from rotators._base import refuse_target, split_url_target
from rotators._errors import LoginRefused as RefusedLogin

DEFAULT_PORTS = {"ldap": 389, "ldaps": 636}
EXPECTED_TARGET = "ldaps://host[:port]/<base DN> or ldap://host[:port]/<base DN>"
#: Seconds a connect or a reply may take.
TIMEOUT_S = 5
#: LDAP result codes (RFC 4511) this module names.
INVALID_CREDENTIALS = 49
#: Results that mean "try again later" (busy, unavailable, other/server-side trouble).
TRANSIENT_RESULTS = frozenset({3, 51, 52, 80})
#: RDN attribute names: a plain attribute descriptor (RFC 4512 ``keystring``).
_DESCRIPTOR = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}")
#: Characters RFC 4514 lets a DN escape with a backslash (section 2.4's ``special``).
_SPECIAL = frozenset('\\,+"<>;=#')
#: The longest RDN value (user name) accepted, in characters.
MAX_NAME_CHARS = 256


class TlsMode(StrEnum):
    """How a connection is protected."""

    LDAPS = "ldaps"
    STARTTLS = "starttls"
    PLAIN = "plain"


@dataclass(frozen=True)
class LdapEndpoint:
    """Where the directory is, how to protect the connection, and the accounts' parent DN."""

    host: str
    port: int
    scheme: str
    base_dn: str

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


class Dialect(StrEnum):
    """How the directory changes passwords (tag ``rotation-ldap-dialect``)."""

    OPENLDAP = "openldap"
    ACTIVE_DIRECTORY = "active-directory"


class LoginRefused(RefusedLogin):
    """The directory answered a bind with invalidCredentials (internal)."""


class LdapRefused(Exception):
    """The directory refused an operation: its result ``code``, ``description`` and
    diagnostic ``message`` (AD's says why: ``0000052D: ... Constraint violation``)."""

    def __init__(self, result: dict[str, Any]) -> None:
        self.code: int = result["result"]
        message = str(result.get("message") or "")
        super().__init__(
            f"{result['description']} ({self.code})" + (f": {message}" if message else "")
        )


def check_dn(text: str, *, what: str, secret: str | None, tag: str | None) -> str:
    """``text`` if ldap3 parses it as a non-empty DN without control characters, else
    ``ConfigurationError`` naming ``tag`` (the value is not echoed)."""
    if not text or any(unicodedata.category(c) in ("Cc", "Cs") for c in text):
        raise ConfigurationError(
            f"{what} is empty or has control characters", secret=secret, tag=tag
        )
    try:
        parse_dn(text, escape=False, strip=False)
    except (LDAPInvalidDnError, ValueError, IndexError):
        raise ConfigurationError(
            f"{what} is not a valid DN (RFC 4514)", secret=secret, tag=tag
        ) from None
    return text


def parse_ldap_url(target: str | None, *, secret: str | None) -> LdapEndpoint:
    """``ldap[s]://host[:port]/<base DN>`` (the DN percent-encoded as in RFC 4516).

    Refuses credentials, a query (attributes, scope, filter), a fragment, a missing or
    invalid base DN, with ``ConfigurationError`` naming ``rotation-target``.
    """
    parts, port, host = split_url_target(
        target, what="LDAP", schemes=("ldap", "ldaps"), expected=EXPECTED_TARGET, secret=secret
    )
    if parts.query or parts.fragment:
        refuse_target(
            "the target must not have a query or fragment", expected=EXPECTED_TARGET, secret=secret
        )
    base = unquote(parts.path.removeprefix("/"))
    if not base:
        refuse_target("the target names no base DN", expected=EXPECTED_TARGET, secret=secret)
    check_dn(base, what="the target's base DN", secret=secret, tag="rotation-target")
    return LdapEndpoint(host, port or DEFAULT_PORTS[parts.scheme], parts.scheme, base)


def check_rdn_attribute(name: str, *, secret: str | None, tag: str) -> str:
    """An attribute descriptor (``uid``, ``cn``), else ``ConfigurationError`` naming ``tag``."""
    if not _DESCRIPTOR.fullmatch(name):
        raise ConfigurationError(
            "must be an attribute name such as uid or cn", secret=secret, tag=tag
        )
    return name


def account_dn(username: str | None, *, rdn: str, base: str, secret: str | None) -> str:
    """``<rdn>=<username, escaped>,<base>``; a missing, over-long or control-character
    name is a ``ConfigurationError``."""
    if not username:
        raise ConfigurationError("the credential has no 'username' field", secret=secret)
    if len(username) > MAX_NAME_CHARS or any(
        unicodedata.category(c) in ("Cc", "Cs") for c in username
    ):
        raise ConfigurationError(
            f"the user name is longer than {MAX_NAME_CHARS} characters or has control characters",
            secret=secret,
        )
    dn = f"{rdn}={escape_value(username)},{base}"
    return check_dn(dn, what="the account's DN", secret=secret, tag=None)


def escape_value(value: str) -> str:
    """An RDN value escaped as RFC 4514 says: every special character (``#`` too, which
    ldap3's ``escape_rdn`` leaves alone past the first position and its DN parser refuses)
    and a leading or trailing space get a backslash."""
    chars = ["\\" + c if c in _SPECIAL else c for c in value]
    if value.startswith(" "):
        chars[0] = "\\ "
    if value.endswith(" "):
        chars[-1] = "\\ "
    return "".join(chars)


class VerifiedTls(ldap3.Tls):  # type: ignore[misc]  # ldap3 is untyped
    """An ldap3 ``Tls`` that wraps sockets with exactly one client context (its CA, host
    name checking by Python's ``ssl``), for LDAPS and StartTLS alike."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED)
        self._context = context

    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
        sock: socket.socket = connection.socket
        connection.socket = self._context.wrap_socket(
            sock, server_hostname=connection.server.host, do_handshake_on_connect=True
        )


def connect(
    endpoint: LdapEndpoint, tls: ssl.SSLContext | None, dn: str, password: str, *, starttls: bool
) -> ldap3.Connection:
    """A connection bound as ``dn`` (simple bind). ``LoginRefused`` if the password is
    refused; ``LdapRefused`` for another bind result; ldap3 exceptions as raised."""
    server = ldap3.Server(
        endpoint.host,
        port=endpoint.port,
        use_ssl=tls is not None and not starttls,
        tls=VerifiedTls(tls) if tls is not None else None,
        get_info=ldap3.NONE,
        connect_timeout=TIMEOUT_S,
    )
    conn = ldap3.Connection(
        server, user=dn, password=octets(password), receive_timeout=TIMEOUT_S, auto_referrals=False
    )
    try:
        conn.open()
        if starttls:
            conn.start_tls()
        if not conn.bind():
            if conn.result["result"] == INVALID_CREDENTIALS:
                raise LoginRefused(conn.result["description"])
            raise LdapRefused(conn.result)
    except BaseException:
        close(conn)
        raise
    return conn


def close(conn: ldap3.Connection) -> None:
    """Unbind and close; never raises (a half-open connection's error must not mask the
    one that made us close it, and nothing is pending on a connection we close)."""
    try:
        conn.unbind()
    except LDAPException:
        pass


def octets(password: str) -> bytes:
    """``password`` as the UTF-8 octets a simple bind or password modify sends.

    Always bytes: ldap3 runs SASLprep over a ``str`` (folding ``²`` to ``2``, dropping some
    characters), so the directory would store another password than the vault holds. The
    policy refuses the characters SASLprep would change (``rotation.policy.never_storable``),
    so clients that do prepare passwords send these same octets too.
    """
    return password.encode("utf-8")


def unicode_pwd(password: str) -> bytes:
    """An AD ``unicodePwd`` value: the password in double quotes, UTF-16LE."""
    return f'"{password}"'.encode("utf-16-le")


def _check(conn: ldap3.Connection, ok: object) -> None:
    if not ok:
        raise LdapRefused(conn.result)


def change_own_password(
    conn: ldap3.Connection, dialect: Dialect, dn: str, old: str, new: str
) -> None:
    """Bound as ``dn``: change its password from ``old`` to ``new``."""
    if dialect is Dialect.ACTIVE_DIRECTORY:
        change = [(ldap3.MODIFY_DELETE, [unicode_pwd(old)]), (ldap3.MODIFY_ADD, [unicode_pwd(new)])]
        _check(conn, conn.modify(dn, {"unicodePwd": change}))
    else:
        modify = conn.extend.standard.modify_password
        _check(conn, modify(old_password=octets(old), new_password=octets(new)))


def reset_password(conn: ldap3.Connection, dialect: Dialect, dn: str, new: str) -> None:
    """Bound as an admin: set ``dn``'s password to ``new``."""
    if dialect is Dialect.ACTIVE_DIRECTORY:
        change = [(ldap3.MODIFY_REPLACE, [unicode_pwd(new)])]
        _check(conn, conn.modify(dn, {"unicodePwd": change}))
    else:
        _check(conn, conn.extend.standard.modify_password(user=dn, new_password=octets(new)))
