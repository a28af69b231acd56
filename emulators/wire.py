"""The HTTP request/response types every emulated service handles.

An emulated service is any object with ``handle(request: Request) -> Response``. The proxy
(and the plain HTTP listeners) parse bytes into a :class:`Request`, route it by host name to a
service, and write the :class:`Response` back. Services never see sockets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    """One HTTP request as a service sees it. Header names are lower-cased."""

    method: str
    host: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def path(self) -> str:
        """The path without the query string."""
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        """Query parameters (last value wins), names as sent."""
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.target).query).items()}

    def json(self) -> Any:
        """The body parsed as JSON (raises ``ValueError`` if it is not)."""
        return json.loads(self.body.decode("utf-8")) if self.body else None


@dataclass
class Response:
    """One HTTP response. ``headers`` need not include Content-Length."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        """A JSON response with ``Content-Type: application/json; charset=utf-8``."""
        return cls(
            status,
            json.dumps(payload).encode("utf-8"),
            {"Content-Type": "application/json; charset=utf-8", **(headers or {})},
        )


class Service(Protocol):
    """An emulated service: turns a request into a response. Must be thread-safe."""

    def handle(self, request: Request) -> Response: ...
