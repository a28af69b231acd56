"""The local forward proxy that puts emulated services at real Azure host names.

Clients get ``HTTPS_PROXY=http://127.0.0.1:<port>``. For ``CONNECT host:443`` with ``host``
registered, the proxy answers 200, terminates TLS with a certificate for ``host`` from the
:class:`~emulators.ca.LocalCA`, and hands each HTTP/1.1 request in the tunnel to the host's
service. Any other host is refused with 403 and a body naming it: nothing is ever forwarded to
the internet. :class:`PlainListener` serves one service over plain HTTP (the identity endpoint).
"""

from __future__ import annotations

import fnmatch
import logging
import socket
import socketserver
import ssl
import threading
import time
from typing import Any

from emulators.ca import LocalCA
from emulators.faults import DescribesOperations, FaultInjector
from emulators.http11 import (
    MAX_BODY,
    BadRequest,
    DropConnection,
    read_headers,
    serve_connection,
    text_response,
    write_response,
)
from emulators.wire import Request, Response, Service

log = logging.getLogger(__name__)

SOCKET_TIMEOUT = 300.0


class HostRegistry:
    """Services by host name: exact names first, then ``fnmatch`` patterns in added order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._exact: dict[str, Service] = {}
        self._patterns: list[tuple[str, Service]] = []

    def register(self, host_or_pattern: str, service: Service) -> None:
        """Serve ``host_or_pattern`` (``"management.azure.com"`` or ``"*.vault.azure.net"``)."""
        key = host_or_pattern.lower().strip()
        if not key:
            raise ValueError("empty host name")
        with self._lock:
            if any(ch in key for ch in "*?["):
                self._patterns.append((key, service))
            else:
                self._exact[key] = service

    def lookup(self, host: str) -> Service | None:
        """The service for ``host`` (no port), or ``None`` when nothing serves it."""
        host = host.lower()
        with self._lock:
            if host in self._exact:
                return self._exact[host]
            for pattern, service in self._patterns:
                if fnmatch.fnmatchcase(host, pattern):
                    return service
        return None


def dispatch(service: Service, faults: FaultInjector, request: Request) -> Response:
    """Apply the first matching fault rule to ``request``, then let ``service`` answer it."""
    operation = service.describe(request) if isinstance(service, DescribesOperations) else None
    rule = faults.take(request.host, request.method, operation)
    if rule is not None:
        if rule.latency > 0:
            time.sleep(rule.latency)
        if rule.drop:
            raise DropConnection
        injected = rule.response()
        if injected is not None:
            return injected
    return service.handle(request)


def _split_host_port(authority: str) -> tuple[str, int]:
    host, sep, port = authority.rpartition(":")
    if not sep or not port.isdigit():
        return authority.strip("[]").lower(), 443
    return host.strip("[]").lower(), int(port)


def _refusal(host: str) -> Response:
    return text_response(
        403,
        f"emulators proxy: host {host!r} is not served by the local Azure emulators; "
        "requests are never forwarded to the internet.\n",
    )


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, port: int, handler: type[socketserver.BaseRequestHandler]) -> None:
        super().__init__(("127.0.0.1", port), handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients drop connections; that is not worth a traceback on stderr.
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class _Listening:
    """Start/stop plumbing shared by the proxy and the plain listeners."""

    _server: _Server

    def _start_thread(self, name: str) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        """The TCP port listened on (127.0.0.1)."""
        return int(self._server.server_address[1])

    def stop(self) -> None:
        """Stop accepting connections and close the listening socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class ProxyServer(_Listening):
    """A forward proxy on ``127.0.0.1:port`` (a free port when ``port`` is 0). Starts at once."""

    def __init__(
        self, ca: LocalCA, faults: FaultInjector, hosts: HostRegistry, port: int = 0
    ) -> None:
        self.ca = ca
        self.faults = faults
        self.hosts = hosts
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                proxy._handle(self)

        self._server = _Server(port, Handler)
        self._start_thread(f"emulators-proxy-{self.port}")

    @property
    def url(self) -> str:
        """The value for ``HTTPS_PROXY``."""
        return f"http://127.0.0.1:{self.port}"

    def _handle(self, h: socketserver.StreamRequestHandler) -> None:
        sock: socket.socket = h.request
        sock.settimeout(SOCKET_TIMEOUT)
        line = h.rfile.readline(8192).decode("latin-1").rstrip("\r\n")
        if not line:
            return
        parts = line.split(" ")
        try:
            headers = read_headers(h.rfile)
        except BadRequest as exc:
            write_response(h.wfile, text_response(400, f"bad request: {exc}"), keep_alive=False)
            return
        if len(parts) != 3:
            write_response(h.wfile, text_response(400, "malformed request line"), keep_alive=False)
            return
        method, target, _ = parts
        if method.upper() == "CONNECT":
            self._tunnel(h, sock, target)
            return
        # Absolute-form plain HTTP through the proxy: answered only for registered hosts.
        host = target.split("://", 1)[-1].split("/", 1)[0]
        name, _port = _split_host_port(host)
        service = self.hosts.lookup(name)
        if service is None or not target.lower().startswith("http://"):
            write_response(h.wfile, _refusal(name), keep_alive=False)
            return
        path = "/" + target.split("://", 1)[1].partition("/")[2]
        try:
            length = int(headers.get("content-length", "0") or "0")
        except ValueError:
            write_response(h.wfile, text_response(400, "bad Content-Length"), keep_alive=False)
            return
        body = h.rfile.read(min(length, MAX_BODY)) if length > 0 else b""
        request = Request(method.upper(), name, path, headers, body)
        try:
            response = dispatch(service, self.faults, request)
        except DropConnection:
            return
        write_response(h.wfile, response, keep_alive=False)

    def _tunnel(
        self, h: socketserver.StreamRequestHandler, sock: socket.socket, target: str
    ) -> None:
        host, _port = _split_host_port(target)
        service = self.hosts.lookup(host)
        if service is None:
            log.info("refused CONNECT to unregistered host %s", host)
            write_response(h.wfile, _refusal(host), keep_alive=False)
            return
        h.wfile.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        h.wfile.flush()
        try:
            tls = self.ca.server_context(host).wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError):
            log.debug("TLS handshake for %s failed", host, exc_info=True)
            return
        try:
            with tls.makefile("rb") as rfile, tls.makefile("wb") as wfile:
                serve_connection(rfile, wfile, host, lambda r: dispatch(service, self.faults, r))
        except (OSError, ssl.SSLError):
            log.debug("tunnel to %s ended", host, exc_info=True)
        finally:
            tls.close()


class PlainListener(_Listening):
    """One service over plain HTTP on ``127.0.0.1:port``, with the same fault injection."""

    def __init__(
        self, service: Service, faults: FaultInjector, host_name: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.service = service
        self.faults = faults
        listener = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.request.settimeout(SOCKET_TIMEOUT)
                try:
                    serve_connection(
                        self.rfile,
                        self.wfile,
                        host_name,
                        lambda r: dispatch(listener.service, listener.faults, r),
                    )
                except OSError:
                    log.debug("plain connection ended", exc_info=True)

        self._server = _Server(port, Handler)
        self._start_thread(f"emulators-http-{self.port}")

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"
