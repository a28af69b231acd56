"""Fixtures for the Event Grid emulator tests: a clock, an emulator, a local webhook server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from emulators.clock import Clock
from emulators.eventgrid import EventGridEmulator
from emulators.events import SecretVersionInfo


@dataclass
class VaultState:
    """The current versions a fake-free test hands to ``versions_source``: plain data."""

    versions: dict[tuple[str, str], SecretVersionInfo] = field(default_factory=dict)

    def put(
        self,
        vault: str,
        name: str,
        version: str,
        *,
        expires: datetime | None = None,
        not_before: datetime | None = None,
        enabled: bool = True,
    ) -> SecretVersionInfo:
        info = SecretVersionInfo(vault, name, version, enabled, not_before, expires)
        self.versions[(vault, name)] = info
        return info

    def current(self) -> list[SecretVersionInfo]:
        return list(self.versions.values())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def vault_state() -> VaultState:
    return VaultState()


@pytest.fixture
def eventgrid(clock: Clock, vault_state: VaultState) -> EventGridEmulator:
    return EventGridEmulator(clock, versions_source=vault_state.current)


@dataclass
class Received:
    """One request the webhook server got."""

    method: str
    headers: dict[str, str]
    body: Any


@dataclass
class WebhookServer:
    """A local HTTP endpoint whose answers a test scripts.

    ``respond`` decides the answer to each notification (status code); handshakes follow
    ``validate`` (answer the Event Grid code / allow the CloudEvents origin) or not.
    """

    url: str
    requests: list[Received] = field(default_factory=list)
    respond: Callable[[Received], int] = lambda _r: 200
    validate: bool = True
    delay_s: float = 0.0

    def notifications(self) -> list[Received]:
        return [
            r
            for r in self.requests
            if r.method == "POST" and r.headers.get("aeg-event-type") == "Notification"
        ]


@pytest.fixture
def webhook() -> Iterator[WebhookServer]:
    state: dict[str, WebhookServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _record(self, body: Any) -> Received:
            server = state["server"]
            received = Received(self.command, {k.lower(): v for k, v in self.headers.items()}, body)
            server.requests.append(received)
            return received

        def do_OPTIONS(self) -> None:
            self._record(None)
            self.send_response(200 if state["server"].validate else 403)
            origin = self.headers.get("WebHook-Request-Origin", "")
            if state["server"].validate and origin:
                self.send_header("WebHook-Allowed-Origin", origin)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            server = state["server"]
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received = self._record(json.loads(raw))
            if self.headers.get("aeg-event-type") == "SubscriptionValidation":
                code = received.body[0]["data"]["validationCode"]
                answer = {"validationResponse": code if server.validate else "wrong"}
                payload = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            if server.delay_s:
                time.sleep(server.delay_s)
            self.send_response(server.respond(received))
            self.send_header("Content-Length", "0")
            self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state["server"] = WebhookServer(url=f"http://127.0.0.1:{httpd.server_address[1]}/api/updates")
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state["server"]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def in_days(clock: Clock, days: float) -> datetime:
    """A moment ``days`` after the clock's now, rounded to whole seconds like Key Vault."""
    return (clock.now() + timedelta(days=days)).replace(microsecond=0).astimezone(UTC)
