"""The RabbitMQ protocol layer of the ``rabbitmq`` rotator (no I/O here).

The ``rotation-target`` (:func:`parse_target`: the AMQP address and the management API's
URL), how management API paths and bodies are written and read, and what pika's and
``requests``' errors mean (tables of :mod:`rotators._errors`).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pika
import pika.exceptions
import requests

from rotation import tags as T
from rotation.errors import ConfigurationError, TargetUnavailable, VerificationFailed
from rotation.sanitize import redact
from rotators import _errors as E
from rotators._base import refuse_target, split_url_target

BodyT = TypeVar("BodyT", dict, list)  # type: ignore[type-arg]
#: How much of an error body goes into a message (after redaction).
BODY_EXCERPT = 200
EXPECTED_TARGET = "amqp[s]://host[:port][/vhost][?management=http[s]://host:port]"

#: Building pika's connection parameters, which validates every one of them.
PARAMETER_RULES = (
    E.misconfigured(E.is_(TypeError, ValueError), "{where}: cannot log in as '{user}': {detail}"),
)
#: An AMQP login with the credential under test: a refused one is a failed verification.
LOGIN_RULES = (
    E.Rule(
        E.is_(pika.exceptions.ProbableAuthenticationError, pika.exceptions.AuthenticationError),
        VerificationFailed,
        "{where} refused the login of user '{user}'",
    ),
    E.TLS_REFUSED,
    E.unavailable(
        E.is_(pika.exceptions.AMQPError, OSError), "AMQP connection to {url} failed: {detail}"
    ),
    E.CANNOT_LOG_IN,
)
#: A management API call that got no answer.
REQUEST_RULES = (
    E.TLS_REFUSED,
    E.unavailable(E.is_(requests.RequestException), "{where} failed: {detail}"),
)


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


def amqp_parameters(
    target: RabbitTarget, user: str, password: str, tls: ssl.SSLContext | None, timeout: float
) -> pika.ConnectionParameters:
    """pika's parameters for one login to ``target``'s vhost (no retry; ``tls`` verifies the
    broker when given). pika validates every value (:data:`PARAMETER_RULES`)."""
    return pika.ConnectionParameters(
        host=target.host,
        port=target.port,
        virtual_host=target.vhost,
        credentials=pika.PlainCredentials(user, password, erase_on_connect=True),
        ssl_options=pika.SSLOptions(tls, server_hostname=target.host) if tls else None,
        connection_attempts=1,
        socket_timeout=timeout,
        stack_timeout=timeout * 2,
        blocked_connection_timeout=timeout,
    )


def segment(value: str) -> str:
    """One URL path segment: every reserved character escaped, ``/`` included."""
    return quote(value, safe="")


def user_tags(user: dict[str, Any]) -> str:
    """The user's tags as the comma-separated string every API version accepts."""
    tags = user.get("tags") or []
    if isinstance(tags, str):
        return tags
    return ",".join(str(t) for t in tags)


def json_body(response: requests.Response, shape: type[BodyT]) -> BodyT:
    """The response's JSON, which must be a ``shape``; ``TargetUnavailable`` if it is not
    JSON (a proxy's error page) or not of that shape."""
    try:
        body = response.json()
    except ValueError:
        raise TargetUnavailable(
            f"the management API answered HTTP {response.status_code} with a body that is not JSON"
        ) from None
    if not isinstance(body, shape):
        raise TargetUnavailable("the management API answered with an unexpected body")
    return body


def refuse_status(
    response: requests.Response, where: str, hide: list[str], *, secret: str
) -> NoReturn:
    """The rotation error for a management API answer that is not a success: 401/403 ->
    ``ConfigurationError`` naming the admin secret, 5xx -> ``TargetUnavailable``, any
    other -> ``ConfigurationError``; with an excerpt of the body, ``hide`` redacted."""
    # Redact before cutting: a password straddling the cut would escape redaction.
    excerpt = redact(" ".join(response.text.split()), hide)[:BODY_EXCERPT]
    status, answer = response.status_code, f"HTTP {response.status_code}"
    if status in (401, 403):
        raise ConfigurationError(
            f"the management API refused the admin credential ({answer} on {where}: "
            f"{excerpt}); it needs a user with the 'administrator' tag",
            secret=secret,
            tag=T.ADMIN_SECRET,
        )
    if status >= 500:
        raise TargetUnavailable(f"management API {where} answered {answer}: {excerpt}")
    raise ConfigurationError(f"management API {where} answered {answer}: {excerpt}", secret=secret)
