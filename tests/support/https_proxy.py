"""A small HTTPS reverse proxy: TLS terminated with a LocalCA certificate, requests forwarded.

The RabbitMQ management API on these machines speaks plain HTTP on 127.0.0.1:15672, and
switching the machine's broker to HTTPS would change a shared service. So the rotator's
"management over verified https" path is tested through this proxy: it presents a
certificate for ``localhost`` signed by the test's CA and forwards each request, headers and
body unchanged, to the plain upstream. The rotator then verifies exactly what it verifies in
production (chain to the configured CA, host name), only the last hop differs.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

from emulators.ca import LocalCA
from emulators.lifecycle import Lifecycle

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


class HttpsReverseProxy(Lifecycle):
    """Serves ``https://127.0.0.1:<port>`` (certificate for ``cert_host``) in a thread."""

    def __init__(
        self, ca: LocalCA, upstream_host: str, upstream_port: int, *, cert_host: str = "localhost"
    ) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: requests carry Basic credentials in headers (never logged)."""

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port,
                                                      timeout=30)  # fmt: skip
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                    self.send_response(answer.status, answer.reason)
                    for key, value in answer.getheaders():
                        if key.lower() not in _HOP_BY_HOP | {"content-length"}:
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    upstream.close()
                proxy.requests += 1

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.requests = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        context = ca.server_context(cert_host)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, host: str = "localhost") -> str:
        """The management URL to give the rotator, naming the proxy by ``host``."""
        return f"https://{host}:{self.port}"

    def start(self) -> Self:
        """Serve on a background thread (``with`` calls this)."""
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
