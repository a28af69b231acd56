"""The ``rabbitmq`` rotator: RabbitMQ users, through the management HTTP API.

Tags::

    rotation-rotator      rabbitmq
    rotation-target       amqp://host[:5672][/vhost][?management=http://host:15672]
                          amqps://host[:5671][/vhost][?management=https://host:15671]
    rotation-strategy     single (default) | alternating
    rotation-admin-secret {"username": ..., "password": ...} of a management user with the
                          ``administrator`` tag

The AMQP part of the target is where :meth:`verify` logs in; its path is the virtual host
(URL-encoded as in AMQP URIs: ``/%2F`` or nothing for ``/``, ``/prod`` for ``prod``). The
``management`` query parameter is the management API's base URL (a path prefix is allowed);
without it, ``http://<amqp host>:15672`` (``https://<host>:15671`` for ``amqps``). Neither URL
may carry credentials. The management plugin must be enabled (see ``.ci/rabbitmq-setup.sh``).

Strategies:

* ``single``: ``PUT /api/users/{user}`` with the new password and the user's current tags
  (read first: a PUT without tags would strip them). The old password stops working at once.
* ``alternating``: two users, ``user`` and ``user_clone``. Each rotation sets the password of
  the one not in use; the clone is created on first use with the tags of ``user``, and its
  vhost permissions and topic permissions are made the same as those of ``user`` on every
  rotation (user limits are not copied).

TLS: AMQP's PLAIN login and the management API's HTTP Basic authentication both carry the
password itself. So ``amqp://`` and an ``http://`` management URL are accepted only for a
loopback host; any other host needs ``amqps://`` and ``https://``, whose certificates and
host names are verified against the ``rotation-tls-ca`` tag (an absolute path to a CA file,
or ``system``), else the ``ROTATION_TLS_CA_FILE`` app setting, else the system trust store.
A certificate that does not verify is a ``ConfigurationError`` naming ``rotation-tls-ca``.
Management calls never follow redirects (a redirect could carry the Basic credentials away).

The user (``user`` under alternating) must exist: this rotator does not create it. Requests
use the process's proxy settings like any ``requests`` client: keep the broker's hosts in
``NO_PROXY`` when an ``HTTP(S)_PROXY`` is set.
"""

from __future__ import annotations

import logging
from typing import Any

import pika
import pika.exceptions
import requests

from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import ConfigurationError
from rotation.policy import PasswordPolicy
from rotation.rotator import RotatorContext, Strategy, alternate_username, base_username
from rotation.tls import client_context, trust_anchor
from rotators import _rabbitmq_wire as W
from rotators._base import ServerSettings, TargetRotator, refuse_ca, refuse_plain, require_username
from rotators._rabbitmq_wire import BodyT, RabbitTarget, json_body, parse_target, segment, user_tags

__all__ = ["RabbitMqRotator", "RabbitTarget", "parse_target"]

log = logging.getLogger(__name__)

#: Seconds: (connect, read) for HTTP; socket and handshake timeouts for AMQP.
HTTP_TIMEOUT = (5.0, 15.0)
AMQP_TIMEOUT = 5.0
Secrets = tuple[Credential, ...]


class RabbitMqRotator(TargetRotator[RabbitTarget]):
    """Rotates a RabbitMQ user's password (see the module docstring for the tags).

    Passwords: no character is unsafe beyond the engine's own refusals (the management API
    takes the password as a JSON string, AMQP PLAIN as bytes after a NUL separator; spaces,
    quotes, ``%``, ``\\`` and ``:`` verified against RabbitMQ 3.x). No length limit in
    RabbitMQ; a PLAIN response must fit one frame (frame_max is at least 4 KiB), so the base
    class's 1 KiB is safe (verified against the local broker).
    """

    kind = "rabbitmq"
    strategies = (Strategy.SINGLE, Strategy.ALTERNATING)
    reapply_on_resume = True  # a stopped run may leave the clone without its permissions
    #: URL-safe symbols only, so consumers can put the password in an amqp:// URL unquoted.
    default_policy = PasswordPolicy(length=40, symbols=2, symbol_set="-_.~")

    @classmethod
    def parse_server(cls, context: RotatorContext) -> ServerSettings[RabbitTarget]:
        """The target and, if either endpoint uses TLS, the trust anchor (no network I/O).

        Refuses a plain endpoint (``amqp://``, ``http://``) on a host that is not loopback,
        since both logins carry the password itself, and ``rotation-tls-ca`` when neither
        endpoint uses TLS.
        """
        target = parse_target(context.target, secret=context.secret_name)
        why = "the login sends the password itself, so use amqps:// and https:// (verified TLS)"
        if not target.tls:
            refuse_plain(context, target.host, "amqp:// (AMQP PLAIN)", why)
        if not target.management_tls:
            refuse_plain(context, target.management_host, "an http:// management URL", why)
        if target.tls or target.management_tls:
            return ServerSettings(target, trust_anchor(context))
        refuse_ca(context, "neither endpoint uses TLS", tag=T.TARGET)
        return ServerSettings(target, None)

    # -- engine steps -----------------------------------------------------------------------

    def apply(self, current: Credential, candidate: Credential) -> Credential:
        """Set the candidate user's password (keeping its tags). Idempotent.

        Alternating: a candidate naming the clone creates it if needed and mirrors the
        permissions of the base user onto it; ``current`` is never changed.
        """
        secrets, user = (current, candidate), self._username(candidate)
        if self.context.strategy is Strategy.SINGLE:
            if current.username != candidate.username:
                raise ConfigurationError(
                    "the single strategy keeps one user: current and new name different users",
                    secret=self.context.secret_name,
                )
            tags = user_tags(self._get_user(user, secrets))
            self._put_user(user, candidate.password, tags, secrets)
            return candidate
        current_user = self._username(current)
        if user not in (current_user, alternate_username(current_user)):
            raise ConfigurationError(
                "the alternating strategy switches between 'user' and 'user_clone' only",
                secret=self.context.secret_name,
            )
        base = base_username(user)
        self._put_user(user, candidate.password, user_tags(self._get_user(base, secrets)), secrets)
        if user != base:
            self._mirror_permissions(base, user, secrets)
        return candidate

    def verify(self, credential: Credential) -> None:
        """Open and close an AMQP connection as ``credential`` to the target's vhost.

        ``ACCESS_REFUSED`` raises ``VerificationFailed``; an unreachable broker raises
        ``TargetUnavailable``. A login the broker accepts but whose user may not open the vhost
        (``NOT_ALLOWED``) counts as verified, with a warning: the password works, and this
        rotator does not manage permissions.
        """
        user, target, url = self._username(credential), self.target, self.target.amqp_url
        tls = None
        if target.tls and self.anchor is not None:
            tls = client_context(self.anchor, secret=self.context.secret_name)
        fields = {"where": f"RabbitMQ at {url}", "url": url, "user": user}
        with self._translating(W.PARAMETER_RULES, credential, **fields):
            parameters = W.amqp_parameters(target, user, credential.password, tls, AMQP_TIMEOUT)
        with self._translating(W.LOGIN_RULES, credential, **fields):
            try:
                connection = pika.BlockingConnection(parameters)
            except pika.exceptions.ProbableAccessDeniedError:
                message = "rabbitmq: user '%s' logged in but may not open vhost '%s' on %s"
                log.warning(message, user, target.vhost, url)
                return
        try:
            connection.close()
        except pika.exceptions.AMQPError:
            pass  # logged in already; a failed close does not change the verdict

    _session: requests.Session | None = None

    def close(self) -> None:
        """Close the HTTP session, if one was opened."""
        if self._session is not None:
            self._session.close()
            self._session = None

    # -- management API ---------------------------------------------------------------------

    def _username(self, credential: Credential) -> str:
        message = "the secret must name its RabbitMQ user (a JSON value with 'username')"
        return require_username(credential, message, secret=self.context.secret_name)

    def _get_user(self, user: str, secrets: Secrets) -> dict[str, Any]:
        body = self._read(f"users/{segment(user)}", secrets, dict)
        if body is None:
            raise ConfigurationError(
                f"RabbitMQ user '{user}' does not exist "
                "(the rabbitmq rotator changes passwords of existing users)",
                secret=self.context.secret_name,
            )
        return body

    def _put_user(self, user: str, password: str, tags: str, secrets: Secrets) -> None:
        body = {"password": password, "tags": tags}
        self._request("PUT", f"users/{segment(user)}", secrets, json=body)
        log.info("rabbitmq: set the password of user '%s' via %s", user, self.target.management_url)

    def _mirror_permissions(self, base: str, clone: str, secrets: Secrets) -> None:
        """Make ``clone``'s vhost and topic permissions equal to ``base``'s."""
        for kind, key_fields in (
            ("permissions", ("configure", "write", "read")),
            ("topic-permissions", ("exchange", "write", "read")),
        ):
            wanted = self._list(f"users/{segment(base)}/{kind}", secrets)
            have = self._list(f"users/{segment(clone)}/{kind}", secrets)
            wanted_vhosts = {str(p["vhost"]) for p in wanted}
            for entry in wanted:
                body = {k: entry[k] for k in key_fields}
                path = f"{kind}/{segment(str(entry['vhost']))}/{segment(clone)}"
                self._request("PUT", path, secrets, json=body)
            for vhost in {str(p["vhost"]) for p in have} - wanted_vhosts:
                path = f"{kind}/{segment(vhost)}/{segment(clone)}"
                self._request("DELETE", path, secrets, missing_ok=True)

    def _list(self, path: str, secrets: Secrets) -> list[dict[str, Any]]:
        body = self._read(path, secrets, list) or []
        return [entry for entry in body if isinstance(entry, dict)]

    def _read(self, path: str, secrets: Secrets, shape: type[BodyT]) -> BodyT | None:
        """The JSON body of ``GET path`` as a ``shape``, ``None`` for a 404."""
        response = self._request("GET", path, secrets, missing_ok=True)
        return None if response is None else json_body(response, shape)

    def _http(self) -> requests.Session:
        if self._session is None:
            message = "rabbitmq needs an admin credential with a username (rotation-admin-secret)"
            admin = self._admin_credential(message)
            self._session = session = requests.Session()
            session.auth = (admin.username or "", admin.password)
            session.headers["Accept"] = "application/json"
        return self._session

    def _request(
        self,
        method: str,
        path: str,
        secrets: Secrets,
        *,
        json: dict[str, Any] | None = None,
        missing_ok: bool = False,
    ) -> requests.Response | None:
        """One management API call; ``None`` for a 404 when ``missing_ok``; an answer that
        is not a success raises (:func:`rotators._rabbitmq_wire.refuse_status`)."""
        url = f"{self.target.management_url}/api/{path}"
        where = f"{method} {self.target.management_url}/api/{path.split('/')[0]}"
        # verify is passed per request: a Session's own verify loses to REQUESTS_CA_BUNDLE.
        verify: str | bool = self.anchor.cafile if self.anchor is not None else True
        with self._translating(W.REQUEST_RULES, *secrets, where=f"management API {where}"):
            response = self._http().request(
                method, url, json=json, timeout=HTTP_TIMEOUT, verify=verify, allow_redirects=False
            )
        if response.status_code == 404 and missing_ok:
            return None
        if response.ok:
            return response
        hide = self._secrets(*secrets)
        W.refuse_status(response, where, hide, secret=self.context.secret_name)
