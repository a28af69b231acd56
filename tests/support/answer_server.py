"""A real HTTP server on 127.0.0.1 whose answer a test sets: status, headers, body, how fast
the body goes out (``drip``: seconds between bytes) and whether it ever ends (``repeat``),
for servers that stall."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class AnswerServer:
    """Answers every GET and POST with what :meth:`answer` set; counts body bytes sent."""

    def __init__(self, path: str = "/secret-versions") -> None:
        self.path = path
        self.status = 200
        self.body: bytes = b""
        self.headers: dict[str, str] = {}
        self.drip = 0.0
        #: Sent again and again after the body (every ``drip`` seconds) until the client
        #: hangs up: an endless answer. No Content-Length then.
        self.repeat: bytes | None = None
        self.sent = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.send_response(server.status)
                for key, value in server.headers.items():
                    self.send_header(key, value)
                if server.repeat is None:
                    self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                step = 1 if server.drip else 65_536
                try:
                    for index in range(0, len(server.body), step):
                        self.wfile.write(server.body[index : index + step])
                        self.wfile.flush()
                        server.sent += len(server.body[index : index + step])
                        time.sleep(server.drip)
                    while server.repeat is not None:
                        self.wfile.write(server.repeat)
                        self.wfile.flush()
                        server.sent += len(server.repeat)
                        time.sleep(server.drip or 0.01)
                except OSError:  # the client hung up: what tests want to see
                    pass

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return self.base_url + self.path

    def answer(self, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.status = status
        self.headers = headers or {}

    def stop(self) -> None:
        self.drip = 0.0
        self.repeat = None
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def answer_server() -> Iterator[AnswerServer]:
    server = AnswerServer()
    yield server
    server.stop()
