"""The forward proxy: TLS interception for registered hosts only, HTTP/1.1 details."""

from __future__ import annotations

import socket
import ssl
import threading

import pytest
import requests

from emulators.stack import AzureStack
from emulators.wire import Request, Response


class Echo:
    """A test service that answers with what it received."""

    def __init__(self) -> None:
        self.seen: list[Request] = []
        self.lock = threading.Lock()

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.seen.append(request)
        return Response.json(
            200,
            {
                "method": request.method,
                "host": request.host,
                "path": request.path,
                "len": len(request.body),
            },
        )


def test_unregistered_host_is_refused_and_named(azure_stack: AzureStack) -> None:
    with pytest.raises(requests.exceptions.ProxyError) as info:
        requests.get("https://example.com/", timeout=10)
    assert "403" in str(info.value)
    with socket.create_connection(("127.0.0.1", azure_stack.proxy.port), timeout=5) as sock:
        sock.sendall(b"CONNECT www.example.org:443 HTTP/1.1\r\nHost: www.example.org:443\r\n\r\n")
        answer = sock.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 403")
    assert "www.example.org" in answer and "never forwarded" in answer


def test_registered_exact_host_with_keep_alive_and_chunked_body(azure_stack: AzureStack) -> None:
    echo = Echo()
    azure_stack.register_host("echo.test.azure.net", echo)
    with requests.Session() as session:
        first = session.post("https://echo.test.azure.net/a?x=1", data=b"hello", timeout=10)
        chunked = session.post(
            "https://echo.test.azure.net/b", data=iter([b"ab", b"cde"]), timeout=10
        )
    assert first.json() == {"method": "POST", "host": "echo.test.azure.net", "path": "/a", "len": 5}
    assert chunked.json()["len"] == 5
    assert echo.seen[1].body == b"abcde"


def test_certificate_names_the_host_and_chains_to_the_ca(azure_stack: AzureStack) -> None:
    azure_stack.register_host("*.cert.test", Echo())
    context = ssl.create_default_context(cafile=str(azure_stack.ca.ca_path))
    with socket.create_connection(("127.0.0.1", azure_stack.proxy.port), timeout=5) as raw:
        raw.sendall(b"CONNECT one.cert.test:443 HTTP/1.1\r\n\r\n")
        assert raw.recv(4096).startswith(b"HTTP/1.1 200")
        with context.wrap_socket(raw, server_hostname="one.cert.test") as tls:
            assert tls.getpeercert() is not None
            tls.sendall(b"GET /x HTTP/1.1\r\nHost: one.cert.test\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := tls.recv(4096):
                data += chunk
    assert data.startswith(b"HTTP/1.1 200")
    # A name the certificate was not made for fails verification.
    with socket.create_connection(("127.0.0.1", azure_stack.proxy.port), timeout=5) as raw:
        raw.sendall(b"CONNECT two.cert.test:443 HTTP/1.1\r\n\r\n")
        raw.recv(4096)
        with pytest.raises(ssl.SSLCertVerificationError):
            context.wrap_socket(raw, server_hostname="three.cert.test")


def test_garbage_and_dropped_clients_do_not_break_the_proxy(azure_stack: AzureStack) -> None:
    azure_stack.register_host("robust.test", Echo())
    for payload in (
        b"",
        b"NONSENSE\r\n\r\n",
        b"CONNECT robust.test:443 HTTP/1.1\r\n\r\n\x16\x03garbage",
    ):
        with socket.create_connection(("127.0.0.1", azure_stack.proxy.port), timeout=5) as sock:
            sock.sendall(payload)
    with socket.create_connection(("127.0.0.1", azure_stack.proxy.port), timeout=5) as sock:
        sock.sendall(b"CONNECT robust.test:443 HTTP/1.1\r\n\r\n")
        sock.recv(100)
        context = ssl.create_default_context(cafile=str(azure_stack.ca.ca_path))
        with context.wrap_socket(sock, server_hostname="robust.test") as tls:
            tls.sendall(b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nshort")  # then hang up
    assert requests.get("https://robust.test/ok", timeout=10).status_code == 200


def test_expect_100_continue(azure_stack: AzureStack) -> None:
    azure_stack.register_host("continue.test", Echo())
    context = ssl.create_default_context(cafile=str(azure_stack.ca.ca_path))
    with socket.create_connection(("127.0.0.1", azure_stack.proxy.port), timeout=5) as raw:
        raw.sendall(b"CONNECT continue.test:443 HTTP/1.1\r\n\r\n")
        raw.recv(4096)
        with context.wrap_socket(raw, server_hostname="continue.test") as tls:
            tls.sendall(b"PUT /x HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
            assert tls.recv(4096).startswith(b"HTTP/1.1 100 Continue")
            tls.sendall(b"abc")
            answer = b""
            while b"}" not in answer:
                chunk = tls.recv(4096)
                assert chunk, "connection closed before the answer was complete"
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200") and b'"len": 3' in answer
