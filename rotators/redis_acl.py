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

import logging
from contextlib import AbstractContextManager
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import ConfigurationError, RotationConflict
from rotation.policy import PasswordPolicy
from rotation.rotator import RotatorContext, Strategy
from rotation.tls import client_context, trust_anchor
from rotators import _errors as E
from rotators import _redis_wire as W
from rotators._base import ServerSettings, TargetRotator, refuse_ca, refuse_plain
from rotators._redis_wire import RedisTarget, check_username, parse_target, password_hash

__all__ = ["RedisAclRotator", "RedisTarget", "check_username", "parse_target", "password_hash"]

log = logging.getLogger(__name__)

#: Seconds to wait for a connection or a reply.
TIMEOUT = 5.0


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
        refuse_ca(context, "the target is plain redis:// (use rediss://)", tag=T.TARGET)
        why = "Redis AUTH sends the password itself, so use rediss:// (verified TLS)"
        refuse_plain(context, target.host, "plain redis://", why)
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
            with self._redis(W.VERIFY_RULES, credential, connection="connection", user=user):
                connection.connect()  # type: ignore[no-untyped-call]
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
        return W.VerifiedSSLConnection if self.anchor is not None else redis.Connection

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
        with self._redis(W.ADMIN_RULES, *secrets, connection="admin connection", command=args[0]):
            return self._admin().execute_command(*args)  # type: ignore[no-untyped-call]

    def _redis(
        self, rules: tuple[E.Rule, ...], *credentials: Credential, **fields: str
    ) -> AbstractContextManager[None]:
        """A block of redis-py calls translated by ``rules`` (:mod:`rotators._redis_wire`)."""
        where = f"Redis at {self.target}"
        return self._translating(rules, *credentials, where=where, target=self.target, **fields)

    def _get_user(self, user: str, *secrets: Credential) -> dict[str, Any]:
        state = self._admin_call("ACL GETUSER", user, secrets=secrets)
        if state is None:
            raise ConfigurationError(
                f"Redis ACL user '{user}' does not exist on {self.target} "
                "(redis-acl rotates existing users; create it with ACL SETUSER)",
                secret=self.context.secret_name,
            )
        return dict(state)
