"""A throwaway ``redis-server`` that speaks only TLS, with a certificate from a ServerCA.

It listens on a free port of 127.0.0.1 (``--port 0 --tls-port N``), asks clients for no
certificate (``--tls-auth-clients no``), keeps nothing on disk, and runs in a temporary
directory removed by :func:`stop_redis`.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from emulators.postgres_cluster import _free_port
from tests.support.tls import CERT_HOST, ServerCA

_START_TIMEOUT_S = 15


@dataclass
class TlsRedis:
    """A running TLS-only server."""

    port: int
    root: Path
    ca_file: Path
    process: subprocess.Popen[bytes]

    def target(self, host: str = CERT_HOST) -> str:
        """The ``rotation-target`` tag value (``rediss://``), naming the server by ``host``."""
        return f"rediss://{host}:{self.port}"

    def client(self) -> redis.Redis:
        """Test-side client as the default user (no password), verifying the local CA."""
        return redis.Redis(
            host=CERT_HOST,
            port=self.port,
            ssl=True,
            ssl_ca_certs=str(self.ca_file),
            decode_responses=True,
        )


def start_redis(ca: ServerCA) -> TlsRedis:
    """Start the server; returns once it accepts TLS connections."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed")
    root = Path(tempfile.mkdtemp(prefix="tls-redis-"))
    files = ca.write_server_files(root / "tls")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(files.cert), "--tls-key-file", str(files.key),
         "--tls-ca-cert-file", str(files.ca), "--tls-auth-clients", "no",
         "--save", "", "--appendonly", "no", "--dir", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    server = TlsRedis(port=port, root=root, ca_file=files.ca, process=process)
    deadline = time.monotonic() + _START_TIMEOUT_S
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop_redis(server)
                raise RuntimeError("the TLS redis-server did not start") from None
            time.sleep(0.05)


def stop_redis(server: TlsRedis) -> None:
    """Stop the server and delete its directory (never raises)."""
    if server.process.poll() is None:
        server.process.kill()
        server.process.wait(timeout=10)
    shutil.rmtree(server.root, ignore_errors=True)
