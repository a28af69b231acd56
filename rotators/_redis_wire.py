"""The Redis protocol layer of the ``redis-acl`` rotator (no I/O here).

The ``rotation-target`` (:func:`parse_target`), ACL user names (:func:`check_username`) and
password hashes as ``ACL GETUSER`` shows them, a TLS connection that trusts exactly one CA
(:class:`VerifiedSSLConnection`), and what redis-py's errors mean (:data:`VERIFY_RULES`,
:data:`ADMIN_RULES`, tables of :mod:`rotators._errors`).
"""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass
from typing import Any, NoReturn

import redis

from rotation import tags as T
from rotation.errors import ConfigurationError, VerificationFailed
from rotators import _errors as E
from rotators._base import refuse_target, split_url_target

DEFAULT_PORT = 6379
EXPECTED_TARGET = "host:port, redis://host:port or rediss://host:port"

#: Errors of every call: a certificate that does not verify, a refused admin login or a
#: missing permission (both name the admin secret), a refused command; else unavailability.
_COMMON = (
    E.TLS_REFUSED,
    E.misconfigured(
        E.is_(redis.AuthenticationError),
        "Redis at {target} refused the admin credential ({detail})",
        T.ADMIN_SECRET,
    ),
    E.misconfigured(
        E.is_(redis.exceptions.NoPermissionError),
        "the admin user lacks a permission on {target} (it needs +acl): {detail}",
        T.ADMIN_SECRET,
    ),
    E.misconfigured(E.is_(redis.ResponseError), "Redis at {target} refused a command: {detail}"),
    E.unavailable(E.is_(redis.RedisError), "Redis {connection} to {target} failed: {detail}"),
)
#: A login with the credential under test: a refused ``AUTH`` is a failed verification.
VERIFY_RULES = (
    E.Rule(
        E.is_(redis.AuthenticationError),
        VerificationFailed,
        "Redis at {target} refused the login of user '{user}'",
    ),
    *_COMMON,
    E.CANNOT_LOG_IN,
)
#: A command on the admin connection.
ADMIN_RULES = (
    *_COMMON,
    E.misconfigured(E.UNENCODABLE, "Redis at {target}: {command} cannot be sent: {kind}"),
)


@dataclass(frozen=True)
class RedisTarget:
    """Where the Redis server is: host, port and whether to use TLS."""

    host: str
    port: int
    tls: bool

    def __str__(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://{self._host_part()}:{self.port}"

    def _host_part(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host


def parse_target(target: str | None, *, secret: str | None = None) -> RedisTarget:
    """Parse ``host[:port]``, ``redis://host[:port]`` or ``rediss://host[:port]``.

    Raises ``ConfigurationError`` for anything else, including URLs that carry credentials,
    a database number (ACL users are server-wide), a query or a fragment.
    """

    def bad(reason: str) -> NoReturn:
        refuse_target(reason, expected=EXPECTED_TARGET, secret=secret)

    parts, port, hostname = split_url_target(
        target,
        what="Redis",
        schemes=("redis", "rediss"),
        expected=EXPECTED_TARGET,
        secret=secret,
        default_scheme="redis",
    )
    if parts.path not in ("", "/"):
        bad("the target must not name a database (ACL users are server-wide)")
    if parts.query or parts.fragment:
        bad("the target must not have a query or fragment")
    return RedisTarget(host=hostname, port=port or DEFAULT_PORT, tls=parts.scheme == "rediss")


class VerifiedSSLConnection(redis.SSLConnection):
    """A redis-py TLS connection that trusts exactly one client context.

    redis-py's own ``SSLConnection`` starts from the system trust store and *adds*
    ``ssl_ca_certs``; this one wraps the socket with the given context only, so a private
    CA is the only anchor (redis-py's hook ``_wrap_socket_with_ssl``, present since 5.x).
    """

    def __init__(self, *, tls_context: ssl.SSLContext, **kwargs: Any) -> None:
        super().__init__(ssl_cert_reqs="required", ssl_check_hostname=True, **kwargs)
        self._tls_context = tls_context

    def _wrap_socket_with_ssl(self, sock: Any) -> ssl.SSLSocket:
        return self._tls_context.wrap_socket(sock, server_hostname=self.host)


def check_username(username: str | None, *, secret: str | None = None) -> str:
    """Return ``username`` if Redis accepts it as an ACL user name, else ``ConfigurationError``.

    Redis refuses names with spaces or NUL; we also refuse every other whitespace and control
    character so that a name always reads the same in logs. Quotes, semicolons and the like are
    fine: names are sent as separate protocol arguments, never spliced into a command string.
    """
    if username is None:
        raise ConfigurationError(
            "the secret must name its Redis ACL user (a JSON value with 'username'; "
            "'default' for the default user)",
            secret=secret,
        )
    if not username:
        raise ConfigurationError("the Redis ACL user name is empty", secret=secret)
    if any(c.isspace() or not c.isprintable() for c in username):
        raise ConfigurationError(
            f"Redis ACL user name {username!r} contains whitespace or control characters",
            secret=secret,
        )
    return username


def password_hash(password: str) -> str:
    """The SHA-256 hex digest Redis stores (and ``ACL GETUSER`` shows) for ``password``."""
    return hashlib.sha256(password.encode("utf-8")).hexdigest()
