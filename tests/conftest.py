"""Session-wide fixtures: the local Azure stack (emulators/), Azurite, and a PostgreSQL
cluster that demands passwords (the machine's own server trusts every local login)."""

from __future__ import annotations

pytest_plugins = ["emulators.pytest_plugin", "tests.support.pg_cluster"]
