"""HTTP calls of a profile, with the error mapping every step shares.

:meth:`ApiClient.send` renders a :class:`RequestSpec`, sends it with ``requests`` (timeouts,
no redirects) and returns an :class:`ApiResponse`. It raises only
:class:`rotation.errors.TargetUnavailable` (connection errors, timeouts, 5xx, and 429 after
honouring one bounded ``Retry-After``) and :class:`rotation.errors.ConfigurationError` (a
placeholder without a value, a redirect, an unusable header). Every other status is returned
for the caller to interpret.

Nothing secret is ever logged or put in a message: logs name the method and the path
*template* (never the rendered URL, whose query may hold a key), and error texts pass through
:func:`rotation.sanitize.redact` with every known secret.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

import requests
import urllib3

from rotation import http_body
from rotation import tags as T
from rotation.errors import ConfigurationError, TargetUnavailable
from rotation.retry_after import retry_delay
from rotation.sanitize import redact, sanitize_error
from rotation.tls import CA_TAG, verification_failure
from rotators.http_api_key.profile import PROFILE_TAG, Profile, RequestSpec
from rotators.http_api_key.templates import MissingValue, render, render_json

log = logging.getLogger(__name__)


#: A query string inside a URL in a message (a profile may send a key in the query).
_QUERY = re.compile(r"\?[^\s\"')]*")


def _with_encodings(values: Iterable[str | None]) -> list[str | None]:
    """``values`` plus their percent-encoded forms, as they appear inside a URL."""
    result: list[str | None] = []
    for value in values:
        result.append(value)
        if value:
            result.extend({quote(value, safe=""), quote_plus(value)} - {value})
    return result


class _HideQueryFilter(logging.Filter):
    """Drops the query string from urllib3's request log lines (a key may sit in a query)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "?" in message:
            record.msg = _QUERY.sub("?[query hidden]", message)
            record.args = None
        return True


def _hide_urllib3_queries() -> None:
    """Install :class:`_HideQueryFilter` on urllib3's connection-pool logger (idempotent)."""
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _HideQueryFilter) for f in logger.filters):
        logger.addFilter(_HideQueryFilter())


_hide_urllib3_queries()

#: Statuses retried once when the response says when (``Retry-After``).
RETRYABLE_WITH_DELAY = frozenset({429, 503})
#: Headers read, in order, for how long to wait before retrying a 429/503.
DELAY_HEADERS = ("Retry-After", "X-RateLimit-Reset")
MAX_ERROR_EXCERPT = 200
#: The largest answer read (a key, or an error); a larger one is a configuration error.
MAX_BODY_BYTES = 1_048_576


@dataclass(frozen=True)
class ApiResponse:
    """Status, parsed JSON body (``None`` if not JSON) and, for non-2xx answers only, a short
    excerpt of the body with known secrets redacted (safe to put in a message)."""

    status: int
    body: Any
    excerpt: str

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300


class ApiClient:
    """Sends a profile's requests to ``base_url``. One instance per rotator; not thread-safe.

    ``secrets`` are redacted from every message this client builds. ``sleep`` is injectable
    for tests of the ``Retry-After`` path.
    """

    def __init__(
        self,
        profile: Profile,
        base_url: str,
        *,
        secret_name: str,
        secrets: Iterable[str | None] = (),
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        verify: str | bool = True,
    ) -> None:
        self.profile = profile
        #: ``requests``' ``verify`` for every call: a CA file path, or ``True`` for the
        #: process's default (``REQUESTS_CA_BUNDLE``, else certifi). Never ``False``.
        self._verify: str | bool = verify or True
        self.base_url = base_url.rstrip("/")
        self.secret_name = secret_name
        self._secrets: list[str | None] = _with_encodings(secrets)
        self._session = session or requests.Session()
        self._sleep = sleep
        #: When the answer of the request in flight must have arrived (time.monotonic).
        self._deadline = 0.0

    def add_secret(self, value: str | None) -> None:
        """Also redact ``value`` (and its URL-encoded forms) from messages from now on."""
        self._secrets.extend(_with_encodings([value]))

    def close(self) -> None:
        """Close the underlying HTTP session."""
        self._session.close()

    def send(
        self,
        step: str,
        spec: RequestSpec,
        values: Mapping[str, str],
        *,
        extra_headers: Mapping[str, str] | None = None,
    ) -> ApiResponse:
        """Render and send ``spec``; see the module docstring for what it raises."""
        try:
            path = render(spec.path, {k: quote(v, safe="") for k, v in values.items()})
            query = {render(k, values): render(v, values) for k, v in spec.query.items()}
            headers = {render(k, values): render(v, values) for k, v in spec.headers.items()}
            body = render_json(spec.body, values) if spec.body is not None else None
        except MissingValue as exc:
            raise self._config(f"{step}: no value for placeholder '{{{exc.name}}}'") from None
        all_headers = {**(extra_headers or {}), **headers}
        response = self._send_once(step, spec, path, query, all_headers, body)
        if response.status_code in RETRYABLE_WITH_DELAY:
            delay = retry_delay(response.headers, names=DELAY_HEADERS)
            response.close()
            if delay is None or delay > self.profile.max_retry_after_seconds:
                raise self._unavailable(step, spec, response.status_code, delay)
            log.info(
                "profile %s: %s %s got HTTP %d, retrying once in %.1f s",
                self.profile.name,
                spec.method,
                spec.path,
                response.status_code,
                delay,
            )
            self._sleep(delay)
            response = self._send_once(step, spec, path, query, all_headers, body)
            if response.status_code in RETRYABLE_WITH_DELAY:
                response.close()
                raise self._unavailable(step, spec, response.status_code, None)
        if response.status_code >= 500:
            response.close()
            raise self._unavailable(step, spec, response.status_code, None)
        if 300 <= response.status_code < 400:
            response.close()
            raise self._config(
                f"{step}: {spec.method} {spec.path} was redirected (HTTP "
                f"{response.status_code}); redirects are not followed, check the base URL"
            )
        return self._wrap(step, spec, response)

    def _send_once(
        self,
        step: str,
        spec: RequestSpec,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: Any,
    ) -> requests.Response:
        timeout = self.profile.timeout_seconds
        self._deadline = time.monotonic() + 2 * timeout  # connect, then the whole answer
        try:
            response = self._session.request(
                spec.method,
                self.base_url + path,
                params=dict(query) or None,
                headers=dict(headers),
                json=body,
                timeout=(timeout, timeout),
                stream=True,
                allow_redirects=False,
                verify=self._verify,  # per call: a Session's verify loses to REQUESTS_CA_BUNDLE
            )
        except requests.exceptions.InvalidHeader:
            raise self._config(f"{step}: a header value is not allowed in HTTP") from None
        except requests.exceptions.SSLError as exc:
            if not verification_failure(exc):
                raise self._unreachable(step, spec, exc) from None
            raise self._config(
                f"{step}: the server's TLS certificate did not verify (check rotation-tls-ca "
                "and the host name in the base URL)",
                tag=CA_TAG,
            ) from None
        except requests.RequestException as exc:
            raise self._unreachable(step, spec, exc) from None
        log.debug(
            "profile %s: %s %s -> HTTP %d",
            self.profile.name,
            spec.method,
            spec.path,
            response.status_code,
        )
        return response

    def _unreachable(
        self, step: str, spec: RequestSpec, exc: requests.RequestException
    ) -> TargetUnavailable:
        reason = _QUERY.sub("?[query hidden]", sanitize_error(exc, self._secrets))
        return TargetUnavailable(
            f"secret '{self.secret_name}': profile '{self.profile.name}' {step}: "
            f"{spec.method} {spec.path} failed: {reason}"
        )

    def _wrap(self, step: str, spec: RequestSpec, response: requests.Response) -> ApiResponse:
        try:
            raw = http_body.read_bounded(
                response, max_bytes=MAX_BODY_BYTES, deadline=self._deadline
            )
        except http_body.BodyTooLarge:
            raise self._config(
                f"{step}: {spec.method} {spec.path} answered more than {MAX_BODY_BYTES} bytes"
            ) from None
        except (
            http_body.BodyTooSlow,
            http_body.BodyUnreadable,
            requests.RequestException,
            urllib3.exceptions.HTTPError,
        ) as exc:
            raise TargetUnavailable(
                f"secret '{self.secret_name}': profile '{self.profile.name}' {step}: "
                f"{spec.method} {spec.path}: reading the answer failed ({type(exc).__name__})"
            ) from None
        text = http_body.body_text(response, raw)
        try:
            body: Any = json.loads(text) if text else None
        except ValueError:
            body = None
        # A 2xx body may hold a new key: only error bodies are kept as (redacted) text.
        excerpt = ""
        if not 200 <= response.status_code < 300:
            excerpt = " ".join(redact(text, self._secrets).split())[:MAX_ERROR_EXCERPT]
        return ApiResponse(status=response.status_code, body=body, excerpt=excerpt)

    def _unavailable(
        self, step: str, spec: RequestSpec, status: int, delay: float | None
    ) -> TargetUnavailable:
        hint = f" (asked to retry after {delay:g} s)" if delay is not None else ""
        return TargetUnavailable(
            f"secret '{self.secret_name}': profile '{self.profile.name}' {step}: "
            f"{spec.method} {spec.path} answered HTTP {status}{hint}"
        )

    def _config(self, message: str, tag: str = PROFILE_TAG) -> ConfigurationError:
        return ConfigurationError(
            f"profile '{self.profile.name}' {message}", secret=self.secret_name, tag=tag
        )

    def refused(self, step: str, spec: RequestSpec, response: ApiResponse) -> ConfigurationError:
        """The error for a management call the API refused (401/403: the admin credential;
        anything else: the profile or the target)."""
        if response.status in (401, 403):
            return self._config(
                f"{step}: the admin credential was refused (HTTP {response.status}); check the "
                "admin secret and its permissions",
                tag=T.ADMIN_SECRET,
            )
        return self._config(
            f"{step}: {spec.method} {spec.path} answered HTTP {response.status}: "
            f"{response.excerpt or '(empty body)'}"
        )
