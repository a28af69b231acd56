"""Fixtures for the rotator tests.

The password-demanding PostgreSQL cluster (``scram_postgres``) comes from
``tests/support/pg_cluster.py``, loaded as a plugin by ``tests/conftest.py``; it is not
re-exported here, which would start a second cluster in the same session.

The TLS tests' servers (a PostgreSQL cluster with ssl=on, MariaDB, Redis, an OpenLDAP slapd,
and an HTTPS proxy in front of the RabbitMQ management API) are session fixtures defined here, each
started on a spare port with certificates from one local CA and removed at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support.https_proxy import HttpsReverseProxy
from tests.support.mariadb_tls import start_mariadb, stop_mariadb
from tests.support.pg_tls import start_tls_cluster, stop_tls_cluster
from tests.support.redis_tls import start_redis, stop_redis
from tests.support.slapd import start_slapd, stop_slapd
from tests.support.tls import ServerCA

RABBIT_MANAGEMENT = ("127.0.0.1", 15672)
T = TypeVar("T")


@pytest.fixture(scope="session")
def server_ca(tmp_path_factory: pytest.TempPathFactory) -> ServerCA:
    """The local CA that signs every TLS test server's certificate (for ``localhost``)."""
    return ServerCA(tmp_path_factory.mktemp("server-ca"))


@pytest.fixture(scope="session")
def wrong_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The certificate of another CA, which signed none of the servers."""
    return ServerCA(tmp_path_factory.mktemp("wrong-ca")).ca_path


def _session_server(
    name: str, start: Callable[[ServerCA], T], stop: Callable[[T], None], doc: str
) -> Any:
    """A session fixture ``name``: ``start(server_ca)``, then ``stop`` it at the end."""

    def server(server_ca: ServerCA) -> Iterator[T]:
        started = start(server_ca)
        try:
            yield started
        finally:
            stop(started)

    server.__doc__ = doc
    return pytest.fixture(scope="session", name=name)(server)


tls_postgres = _session_server(
    "tls_postgres",
    start_tls_cluster,
    stop_tls_cluster,
    "A PostgreSQL cluster with ssl=on (see tests/support/pg_tls.py).",
)
tls_mariadb = _session_server(
    "tls_mariadb",
    start_mariadb,
    stop_mariadb,
    "A MariaDB server with TLS (see tests/support/mariadb_tls.py).",
)
tls_redis_server = _session_server(
    "tls_redis_server",
    start_redis,
    stop_redis,
    "A TLS-only redis-server (see tests/support/redis_tls.py).",
)
slapd = _session_server(
    "slapd",
    start_slapd,
    stop_slapd,
    "A throwaway OpenLDAP slapd, ldap:// and ldaps:// (see tests/support/slapd.py).",
)


@pytest.fixture(scope="session")
def rabbit_https(server_ca: ServerCA) -> Iterator[HttpsReverseProxy]:
    """The local RabbitMQ management API behind an HTTPS reverse proxy (local CA)."""
    with HttpsReverseProxy(server_ca, *RABBIT_MANAGEMENT) as proxy:
        yield proxy
