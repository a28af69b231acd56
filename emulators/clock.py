"""A clock the tests can move, shared by every emulated service."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class Clock:
    """Wall-clock time plus an offset that tests move forward with :meth:`advance`.

    Emulated services read time only through :meth:`now`, so that "30 days before expiry"
    can be reached in a test without waiting. Token lifetimes keep using real time.
    """

    def __init__(self) -> None:
        self._offset = timedelta()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The emulated current time, timezone-aware UTC."""
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> None:
        """Move emulated time forward by ``delta`` (negative deltas are refused)."""
        if delta < timedelta():
            raise ValueError("the emulated clock only moves forward")
        with self._lock:
            self._offset += delta
