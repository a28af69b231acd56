"""``http-probe``: a service that answers, over HTTP, which version of the secret it uses.

Definition::

    {"kind": "http-probe",
     "url": "https://orders.example.com/internal/secret-versions",
     "json_path": "secrets.orders-db",   # dotted path into a JSON body (default: "version")
     "header": null,                     # or: read the version from this response header
     "timeout_seconds": 5}

The contract for service authors: answer ``GET <url>`` with ``200`` and either a JSON body in
which ``json_path`` leads to a string, or the header named by ``header``. The string is the
Key Vault version id of the secret the service uses now (``secret.properties.version`` in
the Azure SDKs; the last segment of a Key Vault reference's resolved secret URI), or the full
secret identifier ``https://<vault>.vault.azure.net/secrets/<name>/<version>``. An empty
string or JSON ``null`` means "I cannot tell" and counts as not moved. Never return the
secret value or anything derived from it: the version id is all the probe needs.

Redirects are not followed; the body is never logged. The probe sends no credentials: expose
the endpoint on an internal network, or let it answer only with versions (which are not
secret).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
import urllib3

from rotation import defaults as D
from rotation import names
from rotation.consumer_checks.base import (
    CheckEnvironment,
    CheckRequest,
    ConsumerCheck,
    refuse_another_secret,
)
from rotation.consumer_checks.definitions import ConsumerDefinition
from rotation.errors import ConfigurationError, TargetUnavailable
from rotation.http_body import BodyTooLarge, BodyTooSlow, BodyUnreadable, read_bounded

log = logging.getLogger(__name__)

OPTIONS = frozenset({"url", "json_path", "header", "timeout_seconds"})
DEFAULT_JSON_PATH = "version"
#: Largest body read from a probe (bytes).
MAX_BODY = 64 * 1024


class HttpProbeCheck(ConsumerCheck):
    """GETs a URL; the answer names the version of the secret the service uses."""

    kind: ClassVar[str] = "http-probe"

    def __init__(self, definition: ConsumerDefinition, environment: CheckEnvironment) -> None:
        super().__init__(definition, environment)
        definition.reject_unknown(OPTIONS)
        self.url = definition.text("url", required=True) or ""
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise definition.error("must be an http(s) URL", "url")
        if parts.username or parts.password:
            raise definition.error("must not carry credentials", "url")
        self.header = definition.text("header")
        json_path = definition.text("json_path")
        if self.header and json_path:
            raise definition.error("set 'json_path' or 'header', not both")
        self.json_path = [] if self.header else (json_path or DEFAULT_JSON_PATH).split(".")
        if any(not step for step in self.json_path):
            raise definition.error(
                "must be a dotted path such as 'secrets.db.version'", "json_path"
            )
        self.timeout = definition.number(
            "timeout_seconds", default=D.HTTP_PROBE_TIMEOUT_SECONDS, minimum=0.1, maximum=60
        )
        self._session = requests.Session()

    def __repr__(self) -> str:
        return f"HttpProbeCheck({self.name!r}, url={self._where()!r})"

    def _where(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}{parts.path}"

    def observe(self, request: CheckRequest) -> str | None:
        where = f"consumer '{self.name}': probe {self._where()}"
        deadline = time.monotonic() + self.timeout
        try:
            response = self._session.get(
                self.url, timeout=self.timeout, allow_redirects=False, stream=True
            )
        except requests.RequestException as error:
            raise TargetUnavailable(f"{where} failed ({type(error).__name__})") from None
        with response:
            if response.status_code != 200:
                raise TargetUnavailable(f"{where} answered {response.status_code}")
            if self.header:
                reported: Any = response.headers.get(self.header)
                if reported is None:
                    raise ConfigurationError(f"{where}: the answer has no header {self.header}")
            else:
                reported = self._from_json(response, where, deadline)
        if reported is None or reported == "":
            return None
        if not isinstance(reported, str):
            raise ConfigurationError(f"{where}: the version must be a string")
        return _version_of(reported.strip(), request, where)

    def _from_json(self, response: requests.Response, where: str, deadline: float) -> Any:
        try:
            body = read_bounded(response, max_bytes=MAX_BODY, deadline=deadline)
        except BodyTooLarge:
            raise ConfigurationError(
                f"{where}: the answer is larger than {MAX_BODY} bytes"
            ) from None
        except BodyTooSlow:
            raise TargetUnavailable(
                f"{where}: the answer took longer than {self.timeout:g} s"
            ) from None
        except (BodyUnreadable, requests.RequestException, urllib3.exceptions.HTTPError) as error:
            raise TargetUnavailable(
                f"{where}: reading the answer failed ({type(error).__name__})"
            ) from None
        try:
            node: Any = json.loads(body) if body else None
        except ValueError:
            raise ConfigurationError(f"{where}: the answer is not JSON") from None
        for step in self.json_path:
            if not isinstance(node, dict) or step not in node:
                raise ConfigurationError(f"{where}: the answer has no '{'.'.join(self.json_path)}'")
            node = node[step]
        return node

    def close(self) -> None:
        self._session.close()


def _version_of(reported: str, request: CheckRequest, where: str) -> str | None:
    """A bare version id, from a version or a full Key Vault secret identifier.

    ``InvalidName`` for a bare answer that is not a version id: the probe is untrusted and
    what it reports ends up in a tag."""
    if "/" not in reported:
        return names.version(reported, what=f"{where}: the reported version")
    parts = urlsplit(reported)
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) != 3 or segments[0] != "secrets":
        raise ConfigurationError(f"{where}: '{names.shown(reported)}' is not a secret identifier")
    vault = (urlsplit(request.facts.vault_url).hostname or "").lower()
    refuse_another_secret(request, f"{where}: the service", parts.hostname, segments[1], vault)
    return names.version(segments[2], what=f"{where}: the reported version")
