"""A throwaway MariaDB server with TLS on, for the ``mysql`` rotator's TLS tests.

``mariadb-install-db`` makes a fresh data directory in a temporary directory; ``mariadbd``
runs on a free port of 127.0.0.1 (``--no-defaults``, so nothing of the machine's own server
is shared) with ``ssl-ca``/``ssl-cert``/``ssl-key`` from a :class:`ServerCA`, as the
``mysql`` OS user when the tests run as root. Test code administers it as ``root`` over its
Unix socket; the rotator reaches it over TCP and TLS. The PAM plugin (``auth_pam_v1``) is
loaded with ``pam_use_cleartext_plugin``, so an account ``IDENTIFIED VIA pam`` makes the
server ask for ``mysql_clear_password``, as LDAP/PAM setups do; ``log_warnings=4`` logs every
aborted or denied login in ``error.log``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pymysql

from emulators.postgres_cluster import _free_port
from tests.support.local_targets import run_sql
from tests.support.tls import CERT_HOST, ServerCA

OS_USER = "mysql"
_START_TIMEOUT_S = 60


@dataclass
class MariaDbServer:
    """A running server: its port, socket and process."""

    port: int
    root: Path
    process: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return (self.root / "error.log").read_text(errors="replace")

    @property
    def socket_path(self) -> Path:
        return self.root / "mysqld.sock"

    def target(self, host: str = CERT_HOST) -> str:
        """The ``rotation-target`` tag value, naming the server by ``host``."""
        return f"{host}:{self.port}"

    def admin(self) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
        """Test-side root connection over the Unix socket."""
        return pymysql.connect(
            unix_socket=str(self.socket_path), user="root", password="", autocommit=True
        )

    def sql(self, statement: str, args: tuple[str, ...] | None = None) -> list[tuple[object, ...]]:
        return run_sql(self.admin, statement, args)


def _owned(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, OS_USER, OS_USER)


def start_mariadb(ca: ServerCA) -> MariaDbServer:
    """Install a data directory and start ``mariadbd``; returns when it accepts logins."""
    root = Path(tempfile.mkdtemp(prefix="tls-mariadb-"))
    _owned(root)
    try:
        return _start(root, ca)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _start(root: Path, ca: ServerCA) -> MariaDbServer:
    data = root / "data"
    user = ["--user=" + OS_USER] if os.geteuid() == 0 else []
    subprocess.run(
        ["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--skip-test-db",
         "--auth-root-authentication-method=normal", "--skip-name-resolve", *user],
        check=True,
        capture_output=True,
        timeout=_START_TIMEOUT_S,
    )  # fmt: skip
    files = ca.write_server_files(root / "tls", owner=OS_USER)
    port = _free_port()
    process = subprocess.Popen(
        ["mariadbd", "--no-defaults", f"--datadir={data}", f"--port={port}",
         "--bind-address=127.0.0.1", f"--socket={root / 'mysqld.sock'}",
         f"--pid-file={root / 'mysqld.pid'}", f"--log-error={root / 'error.log'}",
         f"--ssl-ca={files.ca}", f"--ssl-cert={files.cert}", f"--ssl-key={files.key}",
         "--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=16M",
         "--performance-schema=OFF", "--max-connections=40", "--log-warnings=4",
         "--plugin-load-add=auth_pam_v1.so", "--pam-use-cleartext-plugin=ON", *user],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    server = MariaDbServer(port=port, root=root, process=process)
    deadline = time.monotonic() + _START_TIMEOUT_S
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            server.admin().close()
            return server
        except (OSError, pymysql.err.MySQLError):
            if process.poll() is not None or time.monotonic() > deadline:
                log_file = root / "error.log"
                log = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
                stop_mariadb(server)
                raise RuntimeError(f"mariadbd did not start:\n{log}") from None
            time.sleep(0.1)


def stop_mariadb(server: MariaDbServer) -> None:
    """Kill the server and delete its directory (never raises)."""
    if server.process.poll() is None:
        server.process.kill()
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover - a stuck server
            pass
    shutil.rmtree(server.root, ignore_errors=True)
