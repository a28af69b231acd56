"""The ``scram_postgres`` fixture: a PostgreSQL cluster that demands passwords.

The PostgreSQL on these machines trusts every local connection, so login tests run against
a throwaway cluster made by :mod:`emulators.postgres_cluster` instead.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulators.postgres_cluster import ScramCluster, start_scram_cluster, stop_scram_cluster

__all__ = ["ScramCluster", "scram_postgres"]


@pytest.fixture(scope="session")
def scram_postgres() -> Iterator[ScramCluster]:
    """A password-demanding PostgreSQL cluster for the whole test session."""
    cluster = start_scram_cluster()
    try:
        yield cluster
    finally:
        stop_scram_cluster(cluster)
