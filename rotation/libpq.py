"""libpq settings the ``postgres`` rotator and the ``postgres-sessions`` consumer check share:
time bounds on every connection, so that no server (or lock) can hold a run forever.

``connect_timeout`` bounds the login; the server-side ``statement_timeout`` and
``lock_timeout`` bound each statement (an ``ALTER ROLE`` waits for any open transaction that
touched the role); TCP keepalives and ``tcp_user_timeout`` notice a server that stopped
answering mid-statement. A statement cut short is ``psycopg.errors.QueryCanceled`` or
``LockNotAvailable``, both ``OperationalError``: unavailability, retried later.
"""

from __future__ import annotations

from typing import Any, Final

#: Seconds a login may take.
CONNECT_TIMEOUT_S: Final = 5
#: Milliseconds one statement may run, and wait for a lock, on the server.
STATEMENT_TIMEOUT_MS: Final = 15_000
LOCK_TIMEOUT_MS: Final = 10_000

#: Keyword arguments for ``psycopg.connect``.
TIME_BOUNDS: Final[dict[str, Any]] = {
    "connect_timeout": CONNECT_TIMEOUT_S,
    "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={LOCK_TIMEOUT_MS}",
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": STATEMENT_TIMEOUT_MS + 5_000,
}
