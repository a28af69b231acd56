"""A small HTTP/1.1 server side: parse requests from a byte stream and write responses.

Used by the proxy (inside a TLS tunnel) and by plain-HTTP listeners. Supports keep-alive,
``Content-Length`` and chunked request bodies. Malformed input ends the connection with a 400;
it never raises into the caller's thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Protocol

from emulators.wire import Request, Response

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024
MAX_HEADERS = 200
MAX_BODY = 16 * 1024 * 1024


class Reader(Protocol):
    """The reading half of a buffered connection (``socket.makefile("rb")``)."""

    def readline(self, size: int | None = -1, /) -> bytes: ...

    def read(self, size: int | None = -1, /) -> bytes: ...


class Writer(Protocol):
    """The writing half of a buffered connection (``socket.makefile("wb")``)."""

    def write(self, data: bytes, /) -> int: ...

    def flush(self) -> None: ...


class BadRequest(Exception):
    """The bytes on the wire are not a request this server accepts."""


class DropConnection(Exception):
    """Raised by a handler to close the connection without writing any response."""


def _read_line(rfile: Reader) -> bytes:
    line = rfile.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise BadRequest("line too long")
    return line


def read_headers(rfile: Reader) -> dict[str, str]:
    """Header lines up to the blank line, names lower-cased (repeated names joined by ', ')."""
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS):
        line = _read_line(rfile)
        if line in (b"\r\n", b"\n"):
            return headers
        if not line:
            raise BadRequest("connection closed inside the headers")
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or not name.strip():
            raise BadRequest("malformed header line")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    raise BadRequest("too many headers")


def _read_chunked(rfile: Reader) -> bytes:
    body = bytearray()
    while True:
        size_line = _read_line(rfile).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError as exc:
            raise BadRequest("bad chunk size") from exc
        if size == 0:
            read_headers(rfile)  # trailers
            return bytes(body)
        if len(body) + size > MAX_BODY:
            raise BadRequest("body too large")
        chunk = rfile.read(size)
        if len(chunk) != size:
            raise BadRequest("connection closed inside a chunk")
        body += chunk
        _read_line(rfile)


def read_request(rfile: Reader, host: str, wfile: Writer | None = None) -> Request | None:
    """The next request on the connection, or ``None`` when the client closed it cleanly.

    ``host`` is the host the connection is for (the CONNECT target or the listener's service);
    the request's own Host header does not override it. With ``wfile`` given, a request that
    sends ``Expect: 100-continue`` is told to continue before its body is read.
    """
    line = _read_line(rfile)
    while line in (b"\r\n", b"\n"):  # tolerate stray CRLF between requests
        line = _read_line(rfile)
    if not line:
        return None
    parts = line.decode("latin-1").rstrip("\r\n").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest("malformed request line")
    method, target, _version = parts
    headers = read_headers(rfile)
    if wfile is not None and headers.get("expect", "").lower() == "100-continue":
        wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        wfile.flush()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _read_chunked(rfile)
    else:
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError as exc:
            raise BadRequest("bad Content-Length") from exc
        if length < 0 or length > MAX_BODY:
            raise BadRequest("bad Content-Length")
        body = rfile.read(length) if length else b""
        if len(body) != length:
            raise BadRequest("connection closed inside the body")
    return Request(method=method.upper(), host=host, target=target, headers=headers, body=body)


def write_response(wfile: Writer, response: Response, *, keep_alive: bool = True) -> None:
    """Serialise ``response`` (adds Content-Length and Connection) and flush."""
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = "Status"
    lines = [f"HTTP/1.1 {response.status} {reason}"]
    for name, value in response.headers.items():
        if name.lower() not in ("content-length", "connection", "transfer-encoding"):
            lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(response.body)}")
    lines.append(f"Connection: {'keep-alive' if keep_alive else 'close'}")
    wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body)
    wfile.flush()


def text_response(status: int, message: str) -> Response:
    """A plain-text response (for errors of the transport itself)."""
    return Response(status, message.encode("utf-8"), {"Content-Type": "text/plain; charset=utf-8"})


def serve_connection(
    rfile: Reader, wfile: Writer, host: str, dispatch: Callable[[Request], Response]
) -> None:
    """Answer requests on one connection until the client closes it or an error ends it.

    ``dispatch`` may raise :class:`DropConnection` to close without answering. Any other
    exception from it becomes a 500 (logged with its type, never with request contents).
    """
    while True:
        try:
            request = read_request(rfile, host, wfile)
        except BadRequest as exc:
            write_response(wfile, text_response(400, f"bad request: {exc}"), keep_alive=False)
            return
        if request is None:
            return
        keep_alive = request.headers.get("connection", "").lower() != "close"
        try:
            response = dispatch(request)
        except DropConnection:
            return
        except Exception as exc:
            log.exception("service for %s failed: %s", host, type(exc).__name__)
            response = text_response(500, "internal error in the emulated service")
        write_response(wfile, response, keep_alive=keep_alive)
        if not keep_alive:
            return
