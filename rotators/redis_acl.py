"""The ``redis-acl`` rotator: passwords of Redis 6+/7 ACL users.

Tags::

    rotation-rotator      redis-acl
    rotation-target       host:port | redis://host:port | rediss://host:port   (no credentials)
    rotation-strategy     multiple (default) | single
    rotation-admin-secret a secret holding {"username": ..., "password": ...} of a user with +acl
    rotation-tls-ca       optional, for rediss://: CA file (absolute path, or "system");
                          default the ROTATION_TLS_CA_FILE app setting, else the system store

TLS: Redis has no challenge-response login; ``AUTH`` carries the password itself. So a
``redis://`` (plain) target is accepted only for a loopback host; any other host needs
``rediss://``, where the server's certificate and host name are verified against exactly the
CA file above (not the system store in addition). A certificate that does not verify is a
``ConfigurationError`` naming ``rotation-tls-ca``.

The managed secret must name its user (JSON value with ``username``; ``default`` for the
default user). The user must exist and be enabled: this rotator changes passwords, it never
creates, enables or disables users, nor touches their permissions.

Strategies:

* ``multiple`` (zero downtime): Redis keeps several passwords per user. :meth:`apply` adds the
  new password, the old one keeps working until :meth:`retire` removes it.
* ``single``: :meth:`apply` replaces every password of the user with the new one.

Passwords travel to Redis as their SHA-256 hashes (``#<hash>`` to add, ``!<hash>`` to remove),
which is how ``ACL GETUSER`` shows them: state is checked without knowing values, and neither
``ACL SETUSER`` nor its error replies ever carry a plain-text password. Only :meth:`verify`
sends a password, in an ``AUTH`` on a fresh connection. Every argument is sent as a separate
protocol argument; user names with whitespace or control characters (which Redis refuses) are
refused with a ``ConfigurationError``.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
from dataclasses import dataclass
from typing import Any, NoReturn

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import (
    ConfigurationError,
    RotationConflict,
    TargetUnavailable,
    VerificationFailed,
)
from rotation.policy import PasswordPolicy
from rotation.rotator import RotatorContext, Strategy
from rotation.sanitize import sanitize_error
from rotation.targets import is_loopback
from rotation.tls import client_context, trust_anchor
from rotators._base import ServerSettings, TargetRotator, refuse_ca, refuse_target, split_url_target

log = logging.getLogger(__name__)

DEFAULT_PORT = 6379
#: Seconds to wait for a connection or a reply.
TIMEOUT = 5.0
TARGET_TAG = T.TARGET
EXPECTED_TARGET = "host:port, redis://host:port or rediss://host:port"


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


class RedisAclRotator(TargetRotator[RedisTarget]):
    """Rotates the password of a Redis ACL user (see the module docstring for the tags).

    Passwords: no character is unsafe beyond the engine's own refusals (``ACL SETUSER`` gets
    the SHA-256, ``#<hash>``, never ``>password`` whose syntax ends at a space, and ``AUTH``
    sends the password as one binary-safe argument; spaces, quotes and ``>``/``<``/``#``
    verified against Redis 7.0). Redis takes any length; the base class's 1 KiB verified.
    """

    kind = "redis-acl"
    strategies = (Strategy.MULTIPLE, Strategy.SINGLE)
    #: URL-safe symbols only, so consumers can put the password in a redis:// URL unquoted.
    default_policy = PasswordPolicy(length=48, symbols=2, symbol_set="-_.~")

    @classmethod
    def parse_server(cls, context: RotatorContext) -> ServerSettings[RedisTarget]:
        """The target and, for ``rediss://``, the trust anchor (no network I/O).

        Refuses a plain ``redis://`` target on any other host than loopback (``AUTH`` would
        carry the password in clear over the network) and ``rotation-tls-ca`` on a plain
        target.
        """
        target = parse_target(context.target, secret=context.secret_name)
        if target.tls:
            return ServerSettings(target, trust_anchor(context))
        refuse_ca(context, "the target is plain redis:// (use rediss://)", tag=TARGET_TAG)
        if not is_loopback(target.host):
            raise ConfigurationError(
                "plain redis:// is allowed only for a loopback host: Redis AUTH sends the "
                "password itself, so use rediss:// (verified TLS)",
                secret=context.secret_name,
                tag=TARGET_TAG,
            )
        return ServerSettings(target, None)

    # -- engine steps -----------------------------------------------------------------------

    def apply(self, current: Credential, candidate: Credential) -> Credential:
        """Add (multiple) or set as the only one (single) the candidate's password. Idempotent."""
        user = self._same_user(current, candidate)
        new_hash = password_hash(candidate.password)
        state = self._get_user(user, candidate, current)
        if "off" in state["flags"]:
            raise ConfigurationError(
                f"Redis ACL user '{user}' is disabled (off); enable it before rotating",
                secret=self.context.secret_name,
            )
        hashes = list(state["passwords"])
        if self.context.strategy is Strategy.SINGLE:
            if hashes == [new_hash] and "nopass" not in state["flags"]:
                return candidate
            self._admin_call(
                "ACL SETUSER", user, "resetpass", f"#{new_hash}", secrets=(candidate, current)
            )
            log.info("redis-acl: replaced the passwords of user '%s' on %s", user, self.target)
        else:
            if new_hash in hashes:
                return candidate
            self._admin_call("ACL SETUSER", user, f"#{new_hash}", secrets=(candidate, current))
            log.info("redis-acl: added a password to user '%s' on %s", user, self.target)
        return candidate

    def verify(self, credential: Credential) -> None:
        """``AUTH`` as the credential's user on a fresh connection.

        Raises ``VerificationFailed`` if Redis refuses the login (wrong password, unknown or
        disabled user) and ``TargetUnavailable`` if the server cannot be reached.
        """
        user = check_username(credential.username, secret=self.context.secret_name)
        connection = self._new_connection(username=user, password=credential.password)
        try:
            connection.connect()  # type: ignore[no-untyped-call]
        except redis.AuthenticationError:
            raise VerificationFailed(
                f"Redis at {self.target} refused the login of user '{user}'"
            ) from None
        except redis.RedisError as error:
            self._raise_translated(error, (credential,), admin=False)
        except (ValueError, UnicodeError) as error:  # a value redis-py cannot encode
            raise ConfigurationError(
                f"Redis at {self.target}: cannot log in as '{user}': {type(error).__name__}",
                secret=self.context.secret_name,
            ) from None
        finally:
            connection.disconnect()  # type: ignore[no-untyped-call]

    def retire(self, old: Credential, new: Credential) -> None:
        """Multiple: remove the old password, which must not be the user's last. Idempotent.

        Single: nothing to do (apply already replaced it). Raises ``RotationConflict`` rather
        than remove the old password when the new one is not set on the user.
        """
        if self.context.strategy is not Strategy.MULTIPLE:
            return
        user = self._same_user(old, new)
        old_hash, new_hash = password_hash(old.password), password_hash(new.password)
        if old_hash == new_hash:
            return
        state = self._get_user(user, old, new)
        if new_hash not in state["passwords"]:
            raise RotationConflict(
                f"the new password is not set on Redis ACL user '{user}'; "
                "refusing to remove the old one"
            )
        if old_hash not in state["passwords"]:
            return
        try:
            self._admin_call("ACL SETUSER", user, f"!{old_hash}", secrets=(old, new))
        except ConfigurationError:
            # Removed concurrently between our read and our write: that is success.
            if old_hash in self._get_user(user, old, new)["passwords"]:
                raise
        log.info("redis-acl: removed the old password of user '%s' on %s", user, self.target)

    _client: redis.Redis | None = None

    def close(self) -> None:
        """Close the admin connection, if one was opened."""
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- helpers ----------------------------------------------------------------------------

    def _same_user(self, first: Credential, second: Credential) -> str:
        user = check_username(second.username, secret=self.context.secret_name)
        if first.username != second.username:
            raise ConfigurationError(
                "redis-acl rotates one user: the current and new credentials name different users",
                secret=self.context.secret_name,
            )
        return user

    def _connection_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "host": self.target.host,
            "port": self.target.port,
            "socket_timeout": TIMEOUT,
            "socket_connect_timeout": TIMEOUT,
            "driver_info": None,
        }
        if self.anchor is not None:
            kwargs["tls_context"] = client_context(self.anchor, secret=self.context.secret_name)
        return kwargs

    def _connection_class(self) -> type[redis.Connection]:
        return VerifiedSSLConnection if self.anchor is not None else redis.Connection

    def _new_connection(self, *, username: str, password: str) -> redis.Connection:
        return self._connection_class()(
            username=username, password=password, **self._connection_kwargs()
        )

    def _admin(self) -> redis.Redis:
        if self._client is None:
            admin = self._admin_credential(
                "redis-acl needs an admin credential (rotation-admin-secret)", username=False
            )
            pool = redis.ConnectionPool(
                connection_class=self._connection_class(),
                username=admin.username,
                password=admin.password,
                retry=Retry(NoBackoff(), 1),
                **self._connection_kwargs(),
            )
            self._client = redis.Redis(connection_pool=pool, single_connection_client=True)
        return self._client

    def _admin_call(self, *args: str, secrets: tuple[Credential, ...]) -> Any:
        try:
            return self._admin().execute_command(*args)  # type: ignore[no-untyped-call]
        except redis.RedisError as error:
            self._raise_translated(error, secrets, admin=True)
        except (ValueError, UnicodeError) as error:  # a value redis-py cannot encode
            raise ConfigurationError(
                f"Redis at {self.target}: {args[0]} cannot be sent: {type(error).__name__}",
                secret=self.context.secret_name,
            ) from None

    def _get_user(self, user: str, *secrets: Credential) -> dict[str, Any]:
        state = self._admin_call("ACL GETUSER", user, secrets=secrets)
        if state is None:
            raise ConfigurationError(
                f"Redis ACL user '{user}' does not exist on {self.target} "
                "(redis-acl rotates existing users; create it with ACL SETUSER)",
                secret=self.context.secret_name,
            )
        return dict(state)

    def _raise_translated(
        self, error: redis.RedisError, secrets: tuple[Credential, ...], *, admin: bool
    ) -> NoReturn:
        detail = sanitize_error(error, self._secrets(*secrets))
        self._refuse_unverified(error, f"Redis at {self.target}", detail)
        if isinstance(error, redis.AuthenticationError):
            raise ConfigurationError(
                f"Redis at {self.target} refused the admin credential ({detail})",
                secret=self.context.secret_name,
                tag=T.ADMIN_SECRET,
            ) from None
        if isinstance(error, redis.exceptions.NoPermissionError):
            raise ConfigurationError(
                f"the admin user lacks a permission on {self.target} (it needs +acl): {detail}",
                secret=self.context.secret_name,
                tag=T.ADMIN_SECRET,
            ) from None
        if isinstance(error, redis.ResponseError):
            raise ConfigurationError(
                f"Redis at {self.target} refused a command: {detail}",
                secret=self.context.secret_name,
            ) from None
        what = "admin connection" if admin else "connection"
        raise TargetUnavailable(f"Redis {what} to {self.target} failed: {detail}") from None
