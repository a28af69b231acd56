"""Session-wide fixtures: the local Azure stack (emulators/), Azurite, and a PostgreSQL
cluster that demands passwords (the machine's own server trusts every local login), a
private stack per module for the tests that change its state (tests/support/own_stack.py),
a throwaway sshd (tests/support/sshd.py) and an HTTP server whose answers tests set
(tests/support/answer_server.py), each started on first use."""

from __future__ import annotations

pytest_plugins = [
    "emulators.pytest_plugin",
    "tests.support.pg_cluster",
    "tests.support.own_stack",
    "tests.support.sshd",
    "tests.support.answer_server",
]
