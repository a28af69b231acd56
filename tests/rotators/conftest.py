"""Fixtures for the rotator tests.

The password-demanding PostgreSQL cluster (``scram_postgres``) comes from
``tests/support/pg_cluster.py``, loaded as a plugin by ``tests/conftest.py``; it is not
re-exported here, which would start a second cluster in the same session.

The TLS tests' servers (a PostgreSQL cluster with ssl=on, MariaDB, Redis, and an HTTPS
proxy in front of the RabbitMQ management API) are session fixtures defined here, each
started on a spare port with certificates from one local CA and removed at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.https_proxy import HttpsReverseProxy
from tests.support.mariadb_tls import MariaDbServer, start_mariadb, stop_mariadb
from tests.support.pg_tls import TlsCluster, start_tls_cluster, stop_tls_cluster
from tests.support.redis_tls import TlsRedis, start_redis, stop_redis
from tests.support.tls import ServerCA

RABBIT_MANAGEMENT = ("127.0.0.1", 15672)


@pytest.fixture(scope="session")
def server_ca(tmp_path_factory: pytest.TempPathFactory) -> ServerCA:
    """The local CA that signs every TLS test server's certificate (for ``localhost``)."""
    return ServerCA(tmp_path_factory.mktemp("server-ca"))


@pytest.fixture(scope="session")
def wrong_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The certificate of another CA, which signed none of the servers."""
    return ServerCA(tmp_path_factory.mktemp("wrong-ca")).ca_path


@pytest.fixture(scope="session")
def tls_postgres(server_ca: ServerCA) -> Iterator[TlsCluster]:
    """A PostgreSQL cluster with ssl=on (see tests/support/pg_tls.py)."""
    cluster = start_tls_cluster(server_ca)
    try:
        yield cluster
    finally:
        stop_tls_cluster(cluster)


@pytest.fixture(scope="session")
def tls_mariadb(server_ca: ServerCA) -> Iterator[MariaDbServer]:
    """A MariaDB server with TLS (see tests/support/mariadb_tls.py)."""
    server = start_mariadb(server_ca)
    try:
        yield server
    finally:
        stop_mariadb(server)


@pytest.fixture(scope="session")
def tls_redis_server(server_ca: ServerCA) -> Iterator[TlsRedis]:
    """A TLS-only redis-server (see tests/support/redis_tls.py)."""
    server = start_redis(server_ca)
    try:
        yield server
    finally:
        stop_redis(server)


@pytest.fixture(scope="session")
def rabbit_https(server_ca: ServerCA) -> Iterator[HttpsReverseProxy]:
    """The local RabbitMQ management API behind an HTTPS reverse proxy (local CA)."""
    with HttpsReverseProxy(server_ca, *RABBIT_MANAGEMENT) as proxy:
        yield proxy
