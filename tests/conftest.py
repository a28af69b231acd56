"""Session-wide fixtures: the local Azure stack (emulators/), Azurite, and a PostgreSQL
cluster that demands passwords (the machine's own server trusts every local login), a
private stack per module for the tests that change its state (tests/support/own_stack.py),
and a throwaway sshd (tests/support/sshd.py), each started on first use."""

from __future__ import annotations

pytest_plugins = [
    "emulators.pytest_plugin",
    "tests.support.pg_cluster",
    "tests.support.own_stack",
    "tests.support.sshd",
]
