"""libpq settings the ``postgres`` rotator and the ``postgres-sessions`` consumer check share:
time bounds on every connection, so that no server (or lock) can hold a run forever.

``connect_timeout`` bounds the login; the server-side ``statement_timeout`` and
``lock_timeout`` bound each statement (an ``ALTER ROLE`` waits for any open transaction that
touched the role); TCP keepalives and ``tcp_user_timeout`` notice a server that stopped
answering mid-statement. A statement cut short is ``psycopg.errors.QueryCanceled`` or
``LockNotAvailable``, both ``OperationalError``: unavailability, retried later.

Connection poolers such as PgBouncer refuse the ``options`` startup parameter that carries
the server-side bounds; :func:`connect` then connects again without it (the client-side
bounds stay), and logs that statements are not time-bounded on that target.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import psycopg

log = logging.getLogger(__name__)

#: Seconds a login may take.
CONNECT_TIMEOUT_S: Final = 5
#: Milliseconds one statement may run, and wait for a lock, on the server.
STATEMENT_TIMEOUT_MS: Final = 15_000
LOCK_TIMEOUT_MS: Final = 10_000

#: Client-side bounds: keyword arguments for ``psycopg.connect`` that every server accepts.
CLIENT_BOUNDS: Final[dict[str, Any]] = {
    "connect_timeout": CONNECT_TIMEOUT_S,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": STATEMENT_TIMEOUT_MS + 5_000,
}
#: The server-side bounds, as the ``options`` startup parameter.
SERVER_BOUNDS: Final = (
    f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={LOCK_TIMEOUT_MS}"
)


def connect(**conninfo: Any) -> psycopg.Connection[Any]:
    """``psycopg.connect(**conninfo)`` with :data:`CLIENT_BOUNDS` and :data:`SERVER_BOUNDS`,
    or without the latter when the server (a pooler) refuses the ``options`` parameter.
    Errors are psycopg's."""
    try:
        return psycopg.connect(**conninfo, **CLIENT_BOUNDS, options=SERVER_BOUNDS)
    except psycopg.OperationalError as error:
        if "unsupported startup parameter" not in str(error):
            raise
    log.warning(
        "%s:%s refuses the 'options' startup parameter (a connection pooler?): statements "
        "there have no server-side time limit",
        conninfo.get("host"),
        conninfo.get("port"),
    )
    return psycopg.connect(**conninfo, **CLIENT_BOUNDS)
