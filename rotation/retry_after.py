"""How long an HTTP server asks a client to wait before trying again."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime


def retry_delay(
    headers: Mapping[str, str],
    now: float | None = None,
    names: Iterable[str] = ("Retry-After",),
) -> float | None:
    """Seconds to wait according to the first usable header of ``names``: a number of
    seconds, or (``Retry-After`` only) an HTTP date; ``None`` when none is usable. Never
    negative, never raises (the headers come from a server)."""
    for name in names:
        value = headers.get(name)
        if value is None:
            continue
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        if name == "Retry-After":
            try:
                when = parsedate_to_datetime(value).timestamp()
            except (TypeError, ValueError):
                continue
            return max(0.0, when - (time.time() if now is None else now))
    return None
