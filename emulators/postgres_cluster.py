"""A throwaway PostgreSQL cluster that demands passwords (scram-sha-256).

The PostgreSQL on these machines trusts every local connection, so a login test against it
proves nothing. :func:`start_scram_cluster` makes a fresh cluster with ``initdb`` in a temporary
directory, on a free port of 127.0.0.1, with ``pg_hba.conf`` allowing only scram-sha-256 over
TCP (and no Unix socket at all), and a superuser password set at ``initdb`` time.

``initdb`` refuses to run as root, so when the tests run as root the server runs as the
``postgres`` OS user (``runuser -u postgres --``); otherwise as the current user.

Tests use the session fixture ``scram_postgres`` (tests/support/pg_cluster.py); the local demo
(``python -m demo``) starts one too.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

SUPERUSER = "postgres"
_START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ScramCluster:
    """A running cluster: where it listens and its superuser login."""

    host: str
    port: int
    superuser: str
    password: str = field(repr=False)
    data_dir: Path
    dbname: str = "postgres"

    @property
    def target(self) -> str:
        """The ``rotation-target`` tag value for the ``postgres`` rotator."""
        return f"{self.host}:{self.port}/{self.dbname}"

    def connect(
        self, user: str | None = None, password: str | None = None, *, autocommit: bool = True
    ) -> psycopg.Connection[tuple[object, ...]]:
        """A connection as ``user`` (default: the superuser)."""
        return psycopg.connect(
            host=self.host,
            port=self.port,
            dbname=self.dbname,
            user=user or self.superuser,
            password=self.password if password is None else password,
            connect_timeout=5,
            autocommit=autocommit,
        )


def _bin_dir() -> Path:
    """The newest installed ``/usr/lib/postgresql/<version>/bin``."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    if not found:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", SUPERUSER, "--", *argv]
    return argv


def _chown_to_server_user(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, SUPERUSER, SUPERUSER)


def start_scram_cluster(base_dir: Path | None = None) -> ScramCluster:
    """Initialise and start a cluster; returns once it accepts password logins."""
    bindir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="scram-pg-", dir=base_dir))
    root.chmod(0o700)
    _chown_to_server_user(root)
    data_dir = root / "data"
    password = secrets.token_urlsafe(24)
    pwfile = root / "pwfile"
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    _chown_to_server_user(pwfile)
    subprocess.run(
        _as_server_user(
            [
                str(bindir / "initdb"),
                "--pgdata",
                str(data_dir),
                "--username",
                SUPERUSER,
                "--pwfile",
                str(pwfile),
                "--auth-host",
                "scram-sha-256",
                "--auth-local",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )
    pwfile.unlink()
    port = _free_port()
    hba = data_dir / "pg_hba.conf"
    hba.write_text(
        "# written by emulators/postgres_cluster.py: passwords only, TCP only\n"
        "host all all 127.0.0.1/32 scram-sha-256\n"
        "host all all ::1/128 scram-sha-256\n"
    )
    _chown_to_server_user(hba)
    options = (
        f"-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
        "-c password_encryption=scram-sha-256 -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off -c max_connections=50"
    )
    subprocess.run(
        _as_server_user(
            [
                str(bindir / "pg_ctl"),
                "--pgdata",
                str(data_dir),
                "--log",
                str(root / "server.log"),
                "--options",
                options,
                "--wait",
                "--timeout",
                str(int(_START_TIMEOUT_S)),
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    cluster = ScramCluster(
        host="127.0.0.1", port=port, superuser=SUPERUSER, password=password, data_dir=data_dir
    )
    _wait_ready(cluster)
    return cluster


def _wait_ready(cluster: ScramCluster) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while True:
        try:
            with cluster.connect():
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def stop_scram_cluster(cluster: ScramCluster) -> None:
    """Stop the server at once and delete its directory."""
    subprocess.run(
        _as_server_user(
            [
                str(_bin_dir() / "pg_ctl"),
                "--pgdata",
                str(cluster.data_dir),
                "--mode",
                "immediate",
                "stop",
            ]
        ),
        check=False,
        capture_output=True,
    )
    shutil.rmtree(cluster.data_dir.parent, ignore_errors=True)
