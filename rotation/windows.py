"""Rotation windows: the ``rotation-window`` tag, and when a due rotation may run.

Syntax: one or more windows separated by ``;``, each ``DAYS HH:MM-HH:MM [UTC]``::

    Sat,Sun 02:00-05:00 UTC
    Mon-Fri 22:00-02:00 UTC; Sun 00:00-24:00

``DAYS`` is a comma-separated list of day names (``Mon`` .. ``Sun``, any case, full names
too) or ranges (``Mon-Fri``), or ``*`` / ``daily`` for every day. A window whose end is not
after its start runs past midnight into the next day. Only UTC is supported (say ``UTC`` or
nothing): fixed local times drift with daylight saving, which a credential schedule should not.

Semantics (:func:`decide`): a rotation that sweeps and events find due is deferred until the
next window opens, unless the secret would expire before that window opens (plus
:data:`rotation.defaults.WINDOW_EXPIRY_MARGIN_HOURS`, the time a rotation and its consumers
need): then it runs at once and says why. Manual rotations (HTTP ``POST``, the CLI) ignore
windows, and so do runs that finish an unfinished rotation (a staged candidate, consumers
still to confirm): windows keep *new* changes out of business hours, they never strand one.

A malformed tag is a :class:`~rotation.errors.ConfigurationError` naming the secret and the
tag (permanent: 400, acknowledged, reported by the status API).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from rotation import defaults as D
from rotation import tags as T
from rotation.errors import ConfigurationError
from rotation.names import shown

Refuse = Callable[[str], ConfigurationError]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FULL_DAY_NAMES = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
MAX_WINDOWS = 16
MAX_TAG_LENGTH = 256
_WINDOW = re.compile(
    r"^(?P<days>[A-Za-z*,\- ]+?)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})"
    r"(?:\s+(?P<zone>[A-Za-z]+))?$",
    re.ASCII,
)


@dataclass(frozen=True)
class Window:
    """Weekdays (0 = Monday) on which the window opens, and its start and length in minutes."""

    days: frozenset[int]
    start_minute: int
    length_minutes: int

    def describe(self) -> str:
        end = (self.start_minute + self.length_minutes) % (24 * 60) or (
            24 * 60 if self.length_minutes == 24 * 60 else 0
        )
        days = ",".join(DAY_NAMES[d].title() for d in sorted(self.days))
        return f"{days} {_hhmm(self.start_minute)}-{_hhmm(end)} UTC"

    def openings(self, around: datetime) -> list[tuple[datetime, datetime]]:
        """(start, end) of this window's occurrences from the day before ``around`` on, a week
        ahead: enough to find the current and the next one."""
        midnight = around.replace(hour=0, minute=0, second=0, microsecond=0)
        found = []
        for offset in range(-1, 8):
            day = midnight + timedelta(days=offset)
            if day.weekday() in self.days:
                start = day + timedelta(minutes=self.start_minute)
                found.append((start, start + timedelta(minutes=self.length_minutes)))
        return found


@dataclass(frozen=True)
class Decision:
    """Whether a due rotation runs now; ``reason`` says why, for the outcome and logs."""

    run_now: bool
    reason: str = ""
    next_window: datetime | None = None


def parse_windows(secret_name: str, raw: str | None) -> tuple[Window, ...]:
    """The windows of a ``rotation-window`` tag (empty: none, always allowed)."""
    text = (raw or "").strip()
    if not text:
        return ()

    def refuse(message: str) -> ConfigurationError:
        return ConfigurationError(message, secret=secret_name, tag=T.WINDOW)

    if len(text) > MAX_TAG_LENGTH:
        raise refuse(f"is longer than {MAX_TAG_LENGTH} characters")
    parts = [p.strip() for p in text.split(";") if p.strip()]
    if len(parts) > MAX_WINDOWS:
        raise refuse(f"has {len(parts)} windows; at most {MAX_WINDOWS}")
    windows = []
    for part in parts:
        match = _WINDOW.match(part)
        if match is None:
            raise refuse(
                f"'{shown(part)}' is not a window like 'Sat,Sun 02:00-05:00 UTC' "
                "(days, start-end in 24-hour UTC)"
            )
        zone = (match.group("zone") or "UTC").upper()
        if zone not in {"UTC", "Z", "GMT"}:
            raise refuse(f"time zone '{shown(zone)}' is not supported; write times in UTC")
        days = _parse_days(match.group("days"), refuse)
        start = _parse_minute(match.group("start"), refuse, allow_24=False)
        end = _parse_minute(match.group("end"), refuse, allow_24=True)
        length = end - start if end > start else end + 24 * 60 - start
        windows.append(Window(days, start, length))
    return tuple(windows)


def _parse_days(raw: str, refuse: Refuse) -> frozenset[int]:
    days: set[int] = set()
    for token in (t.strip().lower() for t in raw.split(",")):
        if token in {"*", "daily"}:
            days.update(range(7))
            continue
        first, sep, last = token.partition("-")
        a = _day(first.strip())
        b = _day(last.strip()) if sep else a
        if a is None or b is None:
            raise refuse(f"unknown day '{shown(token)}' (Mon..Sun, ranges like Mon-Fri, or *)")
        day = a
        days.add(day)
        while day != b:
            day = (day + 1) % 7
            days.add(day)
    if not days:
        raise refuse("names no day")
    return frozenset(days)


def _day(token: str) -> int | None:
    if token in DAY_NAMES:
        return DAY_NAMES.index(token)
    if token in FULL_DAY_NAMES:
        return FULL_DAY_NAMES.index(token)
    return None


def _parse_minute(raw: str, refuse: Refuse, *, allow_24: bool) -> int:
    hours, minutes = (int(x) for x in raw.split(":"))
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes or not allow_24)):
        raise refuse(f"'{raw}' is not a time of day (00:00-23:59, or 24:00 as an end)")
    return hours * 60 + minutes


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def current_or_next(windows: tuple[Window, ...], now: datetime) -> tuple[datetime, bool] | None:
    """(start of the window open at ``now``, True) or (start of the next one, False); None
    without windows."""
    if not windows:
        return None
    best: datetime | None = None
    for window in windows:
        for start, end in window.openings(now):
            if start <= now < end:
                return start, True
            if start > now and (best is None or start < best):
                best = start
    if best is None:  # pragma: no cover - every window has a day, so a week holds one
        return None
    return best, False


def decide(
    windows: tuple[Window, ...],
    now: datetime,
    expires_on: datetime | None,
    *,
    margin: timedelta = timedelta(hours=D.WINDOW_EXPIRY_MARGIN_HOURS),
) -> Decision:
    """May a due (not manual) rotation run at ``now``? See the module docs."""
    found = current_or_next(windows, now)
    if found is None:
        return Decision(True)
    start, open_now = found
    if open_now:
        return Decision(True, f"inside rotation window (opened {start:%Y-%m-%d %H:%M} UTC)")
    if expires_on is not None and expires_on - margin <= start:
        return Decision(
            True,
            f"rotating outside the rotation window: the secret expires "
            f"{expires_on:%Y-%m-%d %H:%M} UTC, too close to the next window "
            f"({start:%Y-%m-%d %H:%M} UTC)",
            start,
        )
    return Decision(
        False, f"deferred to the next rotation window ({start:%Y-%m-%d %H:%M} UTC)", start
    )


def next_due(
    windows: tuple[Window, ...],
    due_at: datetime | None,
    expires_on: datetime | None,
    *,
    margin: timedelta = timedelta(hours=D.WINDOW_EXPIRY_MARGIN_HOURS),
) -> datetime | None:
    """When a secret that becomes due at ``due_at`` will be rotated by a sweep: ``due_at``
    itself, or the first window at or after it, or earlier if the expiry forces it."""
    if due_at is None:
        return None
    found = current_or_next(windows, due_at)
    if found is None:
        return due_at
    start, open_now = found
    if open_now:
        return due_at
    if expires_on is not None and expires_on - margin <= start:
        return due_at
    return start
