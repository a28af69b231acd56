"""A fake MySQL server that asks every client for its password in clear, and records it all.

It speaks just enough of the MySQL client/server protocol (handshake v10 without TLS, then an
AuthSwitchRequest to ``mysql_clear_password``, as a server with LDAP or PAM authentication
does) and keeps every byte each client sent. A test proves with it that a client did, or did
not, send a password: a client that answers the switch sends ``password + NUL``.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from typing import Self

from emulators.lifecycle import Lifecycle

#: CLIENT_LONG_PASSWORD | CONNECT_WITH_DB | PROTOCOL_41 | TRANSACTIONS | SECURE_CONNECTION |
#: PLUGIN_AUTH; no CLIENT_SSL: this server offers no TLS.
_CAPABILITIES = 0x1 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x80000


def _packet(seq: int, payload: bytes) -> bytes:
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


def _handshake() -> bytes:
    salt = b"abcdefgh" + b"ijklmnopqrst"
    return (
        b"\x0a5.5.5-10.11.0-fake-cleartext\x00"
        + struct.pack("<I", 7)
        + salt[:8]
        + b"\x00"
        + struct.pack("<H", _CAPABILITIES & 0xFFFF)
        + b"\x2d"  # utf8mb4
        + struct.pack("<H", 2)
        + struct.pack("<H", _CAPABILITIES >> 16)
        + bytes([21])
        + b"\x00" * 10
        + salt[8:]
        + b"\x00"
        + b"mysql_native_password\x00"
    )


class CleartextAskingServer(Lifecycle):
    """Listens on 127.0.0.1:<port>; :attr:`received` holds each connection's bytes."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                self.received.append(self._talk(conn))

    @staticmethod
    def _talk(conn: socket.socket) -> bytes:
        conn.settimeout(3)
        seen = bytearray()
        try:
            conn.sendall(_packet(0, _handshake()))
            seen += conn.recv(65536)  # HandshakeResponse41 (user name, native scramble)
            conn.sendall(_packet(2, b"\xfemysql_clear_password\x00"))
            while chunk := conn.recv(65536):  # a client that complies sends password + NUL
                seen += chunk
                conn.sendall(_packet(4, b"\xff\x15\x04#28000Access denied (fake server)"))
        except OSError:
            pass
        return bytes(seen)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[bytes]:
        """:attr:`received` once ``count`` connections ended (they are recorded at close)."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.received)

    def start(self) -> Self:
        """Serve on a background thread (``with`` calls this)."""
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()
