"""A throwaway PostgreSQL cluster with TLS on, for the rotator TLS and password-exchange tests.

Like :mod:`emulators.postgres_cluster` (same binaries, same ``postgres`` OS user when run as
root), plus ``ssl=on`` with a certificate for ``localhost`` from a :class:`ServerCA`, and
``pg_hba.conf`` lines that make two roles ask for weaker password exchanges:

* :data:`CLEARTEXT_ROLE` — method ``password``: the server asks for the password in clear;
* :data:`MD5_ROLE` — method ``md5`` (its password is stored as MD5, so no SCRAM upgrade);
* every other role — ``scram-sha-256``.

``log_connections`` is on, so the server log shows every authorised login and every failed
password check: a test reads it to prove that a role's password never arrived.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from emulators.postgres_cluster import (
    SUPERUSER,
    _bin_dir,
    _free_port,
    init_data_dir,
    pg_ctl_start,
    pg_ctl_stop,
    write_hba,
)
from tests.support.tls import CERT_HOST, ServerCA

CLEARTEXT_ROLE = "pw_clear"
MD5_ROLE = "pw_md5"


@dataclass(frozen=True)
class TlsCluster:
    """A running TLS cluster: its port, superuser login, and where its log is."""

    port: int
    password: str = field(repr=False)
    root: Path
    #: Passwords of :data:`CLEARTEXT_ROLE` and :data:`MD5_ROLE` (the right ones).
    weak_role_password: str = field(repr=False)
    dbname: str = "postgres"

    def target(self, host: str = CERT_HOST) -> str:
        """The ``rotation-target`` tag value, naming the server by ``host``."""
        return f"{host}:{self.port}/{self.dbname}"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def connect(
        self, user: str = SUPERUSER, password: str | None = None
    ) -> psycopg.Connection[tuple[object, ...]]:
        """A test-side connection (TLS required, not verified: test code only)."""
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            dbname=self.dbname,
            user=user,
            password=self.password if password is None else password,
            sslmode="require",
            connect_timeout=5,
            autocommit=True,
        )


def start_tls_cluster(ca: ServerCA) -> TlsCluster:
    """initdb, write certificate and pg_hba.conf, start on a free port; returns when ready."""
    bindir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="tls-pg-"))
    try:
        return _start(bindir, root, ca)
    except BaseException:
        _stop(bindir, root)
        raise


def _start(bindir: Path, root: Path, ca: ServerCA) -> TlsCluster:
    password = init_data_dir(bindir, root)
    data = root / "data"
    files = ca.write_server_files(data / "tls", owner=SUPERUSER)
    write_hba(
        data,
        f"host all {CLEARTEXT_ROLE} 127.0.0.1/32 password\n"
        f"host all {MD5_ROLE} 127.0.0.1/32 md5\n"
        "host all all 127.0.0.1/32 scram-sha-256\n",
    )
    port = _free_port()
    options = (
        f"-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
        f"-c ssl=on -c ssl_cert_file={files.cert} -c ssl_key_file={files.key} "
        "-c log_connections=on -c password_encryption=scram-sha-256 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=30"
    )
    pg_ctl_start(bindir, root, options)
    weak = secrets.token_urlsafe(18)
    cluster = TlsCluster(port=port, password=password, root=root, weak_role_password=weak)
    with cluster.connect() as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(CLEARTEXT_ROLE), sql.Literal(weak)
            )
        )
        conn.execute("SET password_encryption = 'md5'")
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(MD5_ROLE), sql.Literal(weak)
            )
        )
    return cluster


def stop_tls_cluster(cluster: TlsCluster) -> None:
    """Stop the server at once and delete its directory (never raises)."""
    _stop(_bin_dir(), cluster.root)


def _stop(bindir: Path, root: Path) -> None:
    if (root / "data" / "postmaster.pid").exists():
        pg_ctl_stop(bindir, root / "data")
    shutil.rmtree(root, ignore_errors=True)
