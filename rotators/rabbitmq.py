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
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pika
import pika.exceptions
import requests

from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import ConfigurationError, TargetUnavailable, VerificationFailed
from rotation.policy import PasswordPolicy
from rotation.rotator import RotatorContext, Strategy, alternate_username, base_username
from rotation.sanitize import redact, sanitize_error
from rotation.targets import is_loopback
from rotation.tls import client_context, trust_anchor
from rotators._base import ServerSettings, TargetRotator, refuse_ca, refuse_target, split_url_target

log = logging.getLogger(__name__)

TARGET_TAG = T.TARGET
EXPECTED_TARGET = "amqp[s]://host[:port][/vhost][?management=http[s]://host:port]"
#: Seconds: (connect, read) for HTTP; socket and handshake timeouts for AMQP.
HTTP_TIMEOUT = (5.0, 15.0)
AMQP_TIMEOUT = 5.0
#: How much of an error body goes into a message (after redaction).
BODY_EXCERPT = 200


@dataclass(frozen=True)
class RabbitTarget:
    """Where to log in (AMQP) and where to manage users (HTTP API)."""

    host: str
    port: int
    tls: bool
    vhost: str
    management_url: str

    @property
    def management_tls(self) -> bool:
        """Whether the management API is reached over https."""
        return self.management_url.startswith("https://")

    @property
    def management_host(self) -> str:
        """The management API's host name (lower case, no brackets)."""
        return urlsplit(self.management_url).hostname or ""

    @property
    def amqp_url(self) -> str:
        """The AMQP address for messages (no credentials)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (
            f"{'amqps' if self.tls else 'amqp'}://{host}:{self.port}/{quote(self.vhost, safe='')}"
        )


def parse_target(target: str | None, *, secret: str | None = None) -> RabbitTarget:
    """Parse the ``rotation-target`` tag (format in the module docstring).

    Raises ``ConfigurationError`` naming the tag for anything else, including credentials in
    either URL and unknown query parameters.
    """

    def bad(reason: str) -> NoReturn:
        refuse_target(reason, expected=EXPECTED_TARGET, secret=secret)

    parts, port, hostname = split_url_target(
        target, what="RabbitMQ", schemes=("amqp", "amqps"), expected=EXPECTED_TARGET, secret=secret
    )
    if parts.fragment:
        bad("the target must not have a fragment")
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if "/" in path:
        bad("the vhost must be URL-encoded (%2F for '/')")
    vhost = unquote(path) if path else "/"
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    unknown = set(query) - {"management"}
    if unknown:
        bad(f"unknown query parameter(s) {', '.join(sorted(unknown))}")
    tls = parts.scheme == "amqps"
    host = f"[{hostname}]" if ":" in hostname else hostname
    management = (query.get("management") or [""])[-1]
    if not management:
        management = f"https://{host}:15671" if tls else f"http://{host}:15672"
    try:
        mgmt = urlsplit(management)
        mgmt.port  # noqa: B018  (validates the port)
    except ValueError:
        bad("the management URL is not valid")
    if mgmt.scheme not in ("http", "https") or not mgmt.hostname:
        bad("the management URL must be http(s)://host[:port][/prefix]")
    if mgmt.username is not None or mgmt.password is not None:
        bad("the management URL must not contain credentials (use the admin secret)")
    if mgmt.query or mgmt.fragment:
        bad("the management URL must not have a query or fragment")
    return RabbitTarget(
        host=hostname,
        port=port or (5671 if tls else 5672),
        tls=tls,
        vhost=vhost,
        management_url=management.rstrip("/"),
    )


def _segment(value: str) -> str:
    """One URL path segment: every reserved character escaped, ``/`` included."""
    return quote(value, safe="")


def _tags(user: dict[str, Any]) -> str:
    """The user's tags as the comma-separated string every API version accepts."""
    tags = user.get("tags") or []
    if isinstance(tags, str):
        return tags
    return ",".join(str(t) for t in tags)


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
        for plain, host, what in (
            (not target.tls, target.host, "amqp:// (AMQP PLAIN)"),
            (not target.management_tls, target.management_host, "an http:// management URL"),
        ):
            if plain and not is_loopback(host):
                raise ConfigurationError(
                    f"{what} is allowed only for a loopback host: the login sends the password "
                    "itself, so use amqps:// and https:// (verified TLS)",
                    secret=context.secret_name,
                    tag=TARGET_TAG,
                )
        if target.tls or target.management_tls:
            return ServerSettings(target, trust_anchor(context))
        refuse_ca(context, "neither endpoint uses TLS", tag=TARGET_TAG)
        return ServerSettings(target, None)

    # -- engine steps -----------------------------------------------------------------------

    def apply(self, current: Credential, candidate: Credential) -> Credential:
        """Set the candidate user's password (keeping its tags). Idempotent.

        Alternating: a candidate naming the clone creates it if needed and mirrors the
        permissions of the base user onto it; ``current`` is never changed.
        """
        secrets = (current, candidate)
        user = self._username(candidate)
        if self.context.strategy is Strategy.SINGLE:
            if current.username != candidate.username:
                raise ConfigurationError(
                    "the single strategy keeps one user: current and new name different users",
                    secret=self.context.secret_name,
                )
            info = self._get_user(user, secrets)
            self._put_user(user, candidate.password, _tags(info), secrets)
            return candidate
        current_user = self._username(current)
        if user not in (current_user, alternate_username(current_user)):
            raise ConfigurationError(
                "the alternating strategy switches between 'user' and 'user_clone' only",
                secret=self.context.secret_name,
            )
        base = base_username(user)
        base_info = self._get_user(base, secrets)
        self._put_user(user, candidate.password, _tags(base_info), secrets)
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
        user = self._username(credential)
        target = self.target
        ssl_options = None
        if target.tls and self.anchor is not None:
            context = client_context(self.anchor, secret=self.context.secret_name)
            ssl_options = pika.SSLOptions(context, server_hostname=target.host)
        try:
            parameters = pika.ConnectionParameters(
                host=target.host,
                port=target.port,
                virtual_host=target.vhost,
                credentials=pika.PlainCredentials(user, credential.password, erase_on_connect=True),
                ssl_options=ssl_options,
                connection_attempts=1,
                socket_timeout=AMQP_TIMEOUT,
                stack_timeout=AMQP_TIMEOUT * 2,
                blocked_connection_timeout=AMQP_TIMEOUT,
            )
        except (TypeError, ValueError) as error:  # pika validates every parameter
            raise ConfigurationError(
                f"RabbitMQ at {target.amqp_url}: cannot log in as '{user}': "
                f"{sanitize_error(error, self._secrets(credential))}",
                secret=self.context.secret_name,
            ) from None
        try:
            connection = pika.BlockingConnection(parameters)
        except (pika.exceptions.ProbableAuthenticationError, pika.exceptions.AuthenticationError):
            raise VerificationFailed(
                f"RabbitMQ at {target.amqp_url} refused the login of user '{user}'"
            ) from None
        except pika.exceptions.ProbableAccessDeniedError:
            log.warning(
                "rabbitmq: user '%s' logged in but may not open vhost '%s' on %s",
                user,
                target.vhost,
                target.amqp_url,
            )
            return
        except (pika.exceptions.AMQPError, OSError) as error:
            detail = sanitize_error(error, self._secrets(credential))
            self._refuse_unverified(error, f"RabbitMQ at {target.amqp_url}", detail)
            raise TargetUnavailable(
                f"AMQP connection to {target.amqp_url} failed: {detail}"
            ) from None
        except (ValueError, UnicodeError) as error:  # a value pika cannot encode
            raise ConfigurationError(
                f"RabbitMQ at {target.amqp_url}: cannot log in as '{user}': {type(error).__name__}",
                secret=self.context.secret_name,
            ) from None
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
        if not credential.username:
            raise ConfigurationError(
                "the secret must name its RabbitMQ user (a JSON value with 'username')",
                secret=self.context.secret_name,
            )
        return credential.username

    def _get_user(self, user: str, secrets: tuple[Credential, ...]) -> dict[str, Any]:
        response = self._request("GET", f"users/{_segment(user)}", secrets, missing_ok=True)
        if response is None:
            raise ConfigurationError(
                f"RabbitMQ user '{user}' does not exist "
                "(the rabbitmq rotator changes passwords of existing users)",
                secret=self.context.secret_name,
            )
        body = _json_body(response)
        if not isinstance(body, dict):
            raise TargetUnavailable("the management API answered with an unexpected body")
        return body

    def _put_user(
        self, user: str, password: str, tags: str, secrets: tuple[Credential, ...]
    ) -> None:
        self._request(
            "PUT", f"users/{_segment(user)}", secrets, json={"password": password, "tags": tags}
        )
        log.info("rabbitmq: set the password of user '%s' via %s", user, self.target.management_url)

    def _mirror_permissions(self, base: str, clone: str, secrets: tuple[Credential, ...]) -> None:
        """Make ``clone``'s vhost and topic permissions equal to ``base``'s."""
        for kind, key_fields in (
            ("permissions", ("configure", "write", "read")),
            ("topic-permissions", ("exchange", "write", "read")),
        ):
            wanted = self._list(f"users/{_segment(base)}/{kind}", secrets)
            have = self._list(f"users/{_segment(clone)}/{kind}", secrets)
            wanted_vhosts = {str(p["vhost"]) for p in wanted}
            for entry in wanted:
                body = {k: entry[k] for k in key_fields}
                path = f"{kind}/{_segment(str(entry['vhost']))}/{_segment(clone)}"
                self._request("PUT", path, secrets, json=body)
            for vhost in {str(p["vhost"]) for p in have} - wanted_vhosts:
                path = f"{kind}/{_segment(vhost)}/{_segment(clone)}"
                self._request("DELETE", path, secrets, missing_ok=True)

    def _list(self, path: str, secrets: tuple[Credential, ...]) -> list[dict[str, Any]]:
        response = self._request("GET", path, secrets, missing_ok=True)
        if response is None:
            return []
        body = _json_body(response)
        if not isinstance(body, list):
            raise TargetUnavailable("the management API answered with an unexpected body")
        return [entry for entry in body if isinstance(entry, dict)]

    def _http(self) -> requests.Session:
        if self._session is None:
            admin = self._admin_credential(
                "rabbitmq needs an admin credential with a username (rotation-admin-secret)"
            )
            session = requests.Session()
            session.auth = (admin.username or "", admin.password)
            session.headers["Accept"] = "application/json"
            self._session = session
        return self._session

    def _request(
        self,
        method: str,
        path: str,
        secrets: tuple[Credential, ...],
        *,
        json: dict[str, Any] | None = None,
        missing_ok: bool = False,
    ) -> requests.Response | None:
        """One management API call; ``None`` for a 404 when ``missing_ok``.

        Maps failures to rotation errors: 401/403 -> ConfigurationError (admin), other 4xx ->
        ConfigurationError, 5xx and network errors -> TargetUnavailable.
        """
        url = f"{self.target.management_url}/api/{path}"
        where = f"{method} {self.target.management_url}/api/{path.split('/')[0]}"
        # verify is passed per request: a Session's own verify loses to REQUESTS_CA_BUNDLE.
        verify: str | bool = self.anchor.cafile if self.anchor is not None else True
        try:
            response = self._http().request(
                method, url, json=json, timeout=HTTP_TIMEOUT, verify=verify, allow_redirects=False
            )
        except requests.RequestException as error:
            detail = sanitize_error(error, self._secrets(*secrets))
            self._refuse_unverified(error, f"management API {where}", detail)
            raise TargetUnavailable(f"management API {where} failed: {detail}") from None
        if response.status_code == 404 and missing_ok:
            return None
        if response.ok:
            return response
        # Redact before cutting: a password straddling the cut would escape redaction.
        excerpt = redact(" ".join(response.text.split()), self._secrets(*secrets))[:BODY_EXCERPT]
        status = f"HTTP {response.status_code}"
        if response.status_code in (401, 403):
            raise ConfigurationError(
                f"the management API refused the admin credential ({status} on {where}: "
                f"{excerpt}); it needs a user with the 'administrator' tag",
                secret=self.context.secret_name,
                tag=T.ADMIN_SECRET,
            )
        if response.status_code >= 500:
            raise TargetUnavailable(f"management API {where} answered {status}: {excerpt}")
        raise ConfigurationError(
            f"management API {where} answered {status}: {excerpt}",
            secret=self.context.secret_name,
        )


def _json_body(response: requests.Response) -> Any:
    """The response's JSON; ``TargetUnavailable`` if it is not JSON (a proxy's error page)."""
    try:
        return response.json()
    except ValueError:
        raise TargetUnavailable(
            f"the management API answered HTTP {response.status_code} with a body that is not JSON"
        ) from None
