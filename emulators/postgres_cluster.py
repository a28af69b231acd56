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
    """A running cluster: its data directory, where it listens and its superuser login."""

    data_dir: Path
    host: str
    port: int
    superuser: str
    password: str = field(repr=False)
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


def init_data_dir(bindir: Path, root: Path) -> str:
    """Make ``root`` private to the server user and ``initdb`` ``root/data`` with
    scram-sha-256 for every login and a fresh superuser password; returns that password
    (the password file is deleted once ``initdb`` has read it)."""
    root.chmod(0o700)
    _chown_to_server_user(root)
    password = secrets.token_urlsafe(24)
    pwfile = root / "pwfile"
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    _chown_to_server_user(pwfile)
    subprocess.run(
        _as_server_user(
            [str(bindir / "initdb"), "--pgdata", str(root / "data"), "--username", SUPERUSER,
             "--pwfile", str(pwfile), "--auth-host", "scram-sha-256", "--auth-local",
             "scram-sha-256", "--encoding", "UTF8", "--no-sync"]
        ),
        check=True,
        capture_output=True,
    )  # fmt: skip
    pwfile.unlink()
    return password


def write_hba(data_dir: Path, lines: str) -> None:
    """Replace ``pg_hba.conf`` with ``lines``, readable by the server user."""
    hba = data_dir / "pg_hba.conf"
    hba.write_text(lines)
    _chown_to_server_user(hba)


def pg_ctl_start(bindir: Path, root: Path, options: str) -> None:
    """Start the server of ``root/data`` with ``options``, logging to ``root/server.log``;
    returns once ``pg_ctl`` sees it up (raises after ``_START_TIMEOUT_S``)."""
    subprocess.run(
        _as_server_user(
            [str(bindir / "pg_ctl"), "--pgdata", str(root / "data"), "--log",
             str(root / "server.log"), "--options", options, "--wait", "--timeout",
             str(int(_START_TIMEOUT_S)), "start"]
        ),
        check=True,
        capture_output=True,
    )  # fmt: skip


def pg_ctl_stop(bindir: Path, data_dir: Path) -> None:
    """Stop the server of ``data_dir`` at once (``immediate`` mode); never raises for a
    server that is not running."""
    subprocess.run(
        _as_server_user(
            [str(bindir / "pg_ctl"), "--pgdata", str(data_dir), "--mode", "immediate", "stop"]
        ),
        check=False,
        capture_output=True,
    )


def start_scram_cluster(base_dir: Path | None = None) -> ScramCluster:
    """Initialise and start a cluster; returns once it accepts password logins."""
    bindir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="scram-pg-", dir=base_dir))
    password = init_data_dir(bindir, root)
    data_dir = root / "data"
    port = _free_port()
    write_hba(
        data_dir,
        "# written by emulators/postgres_cluster.py: passwords only, TCP only\n"
        "host all all 127.0.0.1/32 scram-sha-256\n"
        "host all all ::1/128 scram-sha-256\n",
    )
    options = (
        f"-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
        "-c password_encryption=scram-sha-256 -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off -c max_connections=50"
    )
    pg_ctl_start(bindir, root, options)
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
    pg_ctl_stop(_bin_dir(), cluster.data_dir)
    shutil.rmtree(cluster.data_dir.parent, ignore_errors=True)
