"""A small Microsoft Graph v1.0 client for one application's client secrets.

:class:`GraphClient` reads an application (``GET /applications/{id}`` or
``/applications(appId='{appId}')``), adds a password (``POST .../addPassword``) and removes one
(``POST .../removePassword``), with a bearer token for ``<graph>/.default`` from the function
app's own credential (its managed identity). It raises only :mod:`rotation.errors`:

- no token, 401 -> ``ConfigurationError`` (the identity);
- 403 -> ``ConfigurationError`` naming the permission and the ownership it needs;
- 404 -> ``ConfigurationError`` naming ``rotation-target``;
- other 4xx -> ``ConfigurationError`` with Graph's code and message;
- 429, 5xx, connection errors, timeouts -> ``TargetUnavailable``.

Reads are retried (429/5xx, honouring a ``Retry-After`` of up to 10 s; a longer one is
``TargetUnavailable`` at once, and broken connections); writes are not: ``addPassword`` is
made safe to repeat by the rotator (display-name markers), not by this client. Messages are
redacted of every secret the client was told about; ``secretText`` is never logged.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from rotation import tags as T
from rotation.errors import ConfigurationError, RotationError, TargetUnavailable
from rotation.retry_after import retry_delay
from rotation.sanitize import redact, sanitize_error

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

PERMISSION = "Application.ReadWrite.OwnedBy"
TIMEOUT_S = 20.0
#: The longest ``Retry-After`` a read waits for; a longer one is ``TargetUnavailable`` at once
#: (the engine retries the rotation later rather than hold a function instance).
MAX_RETRY_AFTER_S = 10.0


#: Tries of a read answered 429 or 5xx (pausing ``Retry-After``, else 0.5 s, 1 s, ...).
READ_ATTEMPTS = 3
#: Broken connections of a read are retried by urllib3 (never those of a write).
#: (Statuses are left to ``_send``: urllib3 would otherwise honour any Retry-After itself.)
_READ_RETRY = Retry(
    total=2,
    backoff_factor=0.2,
    allowed_methods=frozenset({"GET"}),
    respect_retry_after_header=False,
    raise_on_status=False,
)
_RETRYABLE = frozenset({429, 500, 502, 503, 504})


def app_credential() -> TokenCredential:
    """The function app's identity: ``DefaultAzureCredential`` with ``AZURE_CLIENT_ID`` as
    its user-assigned managed identity (as the other Azure-facing rotator)."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=os.environ.get("AZURE_CLIENT_ID"))


@dataclass(frozen=True)
class PasswordInfo:
    """One ``passwordCredential`` as Graph lists it (never with its secret)."""

    key_id: str
    display_name: str | None
    end: str | None


@dataclass(frozen=True)
class AppInfo:
    """An application's ids, its client secrets and the directory's time of the answer."""

    object_id: str
    app_id: str
    passwords: tuple[PasswordInfo, ...]
    #: Graph's ``Date`` header (the directory's clock), else the local time.
    server_time: datetime


class GraphClient:
    """Calls Graph for one application (``app_path`` such as ``applications/<id>``)."""

    def __init__(
        self,
        credential: TokenCredential,
        *,
        graph_url: str,
        app_path: str,
        secret_name: str,
        hide: Iterable[str | None] = (),
    ) -> None:
        self._credential = credential
        self._base = graph_url.rstrip("/")
        self._url = f"{self._base}/v1.0/{app_path}"
        self._where = app_path
        self._secret_name = secret_name
        self._hide = list(hide)
        # Reads retry (429/5xx/broken connections); writes never: a POST whose connection
        # broke may have been done, and only the rotator can tell (by its marker).
        self._reads, self._writes = requests.Session(), requests.Session()
        self._reads.mount("https://", HTTPAdapter(max_retries=_READ_RETRY))
        self._writes.mount("https://", HTTPAdapter(max_retries=0))

    def hide(self, *values: str | None) -> None:
        """More values to redact from messages (a minted secret)."""
        self._hide.extend(values)

    def close(self) -> None:
        """Close the HTTP session."""
        self._reads.close()
        self._writes.close()

    def application(self) -> AppInfo:
        """The application with its client secrets."""
        response = self._send("GET", "", "read the application")
        body = _json(response)
        passwords = tuple(
            PasswordInfo(str(p.get("keyId")), p.get("displayName"), p.get("endDateTime"))
            for p in body.get("passwordCredentials") or ()
            if isinstance(p, dict) and p.get("keyId")
        )
        return AppInfo(
            str(body.get("id", "")), str(body.get("appId", "")), passwords, _server_time(response)
        )

    def add_password(self, display_name: str, end: datetime) -> dict[str, Any]:
        """Mint a client secret; returns Graph's ``passwordCredential`` (with ``secretText``)."""
        payload = {
            "passwordCredential": {
                "displayName": display_name,
                "endDateTime": end.astimezone(UTC).isoformat(timespec="seconds"),
            }
        }
        body = _json(self._send("POST", "/addPassword", "add a client secret", payload))
        self.hide(body.get("secretText") if isinstance(body.get("secretText"), str) else None)
        return body

    def remove_password(self, key_id: str) -> None:
        """Remove the client secret ``key_id`` (the caller checks that it exists)."""
        self._send("POST", "/removePassword", "remove a client secret", {"keyId": key_id})

    # -- plumbing ---------------------------------------------------------------------------

    def _token(self) -> str:
        from azure.core.exceptions import AzureError

        try:
            return self._credential.get_token(f"{self._base}/.default").token
        except AzureError as error:
            raise ConfigurationError(
                "the function app's identity got no token for Microsoft Graph "
                f"({sanitize_error(error, self._hide)}); check the managed identity and "
                "AZURE_CLIENT_ID",
                secret=self._secret_name,
            ) from None

    def _send(
        self, method: str, suffix: str, what: str, payload: dict[str, Any] | None = None
    ) -> requests.Response:
        """One call; a read answered 429/5xx is tried :data:`READ_ATTEMPTS` times."""
        attempts = READ_ATTEMPTS if method == "GET" else 1
        for attempt in range(1, attempts + 1):
            response = self._send_once(method, suffix, what, payload)
            if response.status_code not in _RETRYABLE or attempt == attempts:
                break
            wait = retry_delay(response.headers)
            if wait is None:
                wait = 0.5 * 2 ** (attempt - 1)
            if wait > MAX_RETRY_AFTER_S:
                break
            time.sleep(wait)
        if response.status_code >= 300:
            raise self._refused(response, what)
        return response

    def _send_once(
        self, method: str, suffix: str, what: str, payload: dict[str, Any] | None
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {self._token()}", "Accept": "application/json"}
        try:
            session = self._reads if method == "GET" else self._writes
            response = session.request(
                method,
                self._url + suffix,
                json=payload,
                headers=headers,
                timeout=TIMEOUT_S,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            raise TargetUnavailable(
                f"cannot reach Microsoft Graph to {what} of {self._where}: "
                f"{sanitize_error(error, self._hide)}"
            ) from None
        return response

    def _refused(self, response: requests.Response, what: str) -> RotationError:
        status = response.status_code
        code, message = _graph_error(response)
        detail = redact(f"HTTP {status} {code}: {message}", self._hide)
        where, secret = self._where, self._secret_name
        if status == 429 or status >= 500:
            return TargetUnavailable(f"Microsoft Graph could not {what} of {where} now ({detail})")
        if status == 401:
            return ConfigurationError(
                f"Microsoft Graph refused the identity's token to {what} of {where} ({detail})",
                secret=secret,
            )
        if status == 403:
            return ConfigurationError(
                f"not allowed to {what} of {where}: the function app's identity needs the "
                f"Graph application permission {PERMISSION} and must be an owner of the "
                f"application ({detail})",
                secret=secret,
            )
        if status == 404:
            return ConfigurationError(
                f"cannot {what}: {where} was not found ({detail})", secret=secret, tag=T.TARGET
            )
        return ConfigurationError(
            f"Microsoft Graph refused to {what} of {where}: {detail}", secret=secret
        )


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise TargetUnavailable(
            f"Microsoft Graph answered HTTP {response.status_code} without JSON"
        )
    return body


def _graph_error(response: requests.Response) -> tuple[str, str]:
    """Graph's ``error.code`` and ``error.message`` (shortened), or placeholders."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, dict):
        error = {}
    return str(error.get("code", "unknown"))[:100], str(error.get("message", ""))[:300]


def _server_time(response: requests.Response) -> datetime:
    header = response.headers.get("Date")
    if header:
        try:
            return parsedate_to_datetime(header).astimezone(UTC)
        except (TypeError, ValueError):
            pass
    return datetime.now(UTC)
