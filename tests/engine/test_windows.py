"""The rotation-window tag: parsing (hostile input is a ConfigurationError) and decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rotation.errors import ConfigurationError
from rotation.windows import decide, next_due, parse_windows

# A Wednesday.
NOW = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)


def test_parses_days_ranges_several_windows_and_midnight() -> None:
    windows = parse_windows("s", "Sat,Sun 02:00-05:00 UTC; Mon-Fri 22:00-02:00; * 12:00-12:30")
    assert [w.describe() for w in windows] == [
        "Sat,Sun 02:00-05:00 UTC",
        "Mon,Tue,Wed,Thu,Fri 22:00-02:00 UTC",
        "Mon,Tue,Wed,Thu,Fri,Sat,Sun 12:00-12:30 UTC",
    ]
    assert parse_windows("s", "") == ()
    assert parse_windows("s", "friday 00:00-24:00")[0].length_minutes == 24 * 60


@pytest.mark.parametrize(
    "raw",
    [
        "Someday 01:00-02:00",
        "Mon 25:00-26:00",
        "Mon 01:60-02:00",
        "Mon 01:00-02:00 CET",
        "Mon 01:00",
        "<script>alert(1)</script>",
        "Mon \u0661:\u0660\u0660-\u0662:\u0660\u0660",  # Arabic-Indic digits
        "Mon 01:00-02:00\x00",
        "x" * 300,
        ";".join(["Mon 01:00-02:00"] * 17),
    ],
)
def test_malformed_windows_are_configuration_errors_naming_the_tag(raw: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_windows("orders-db", raw)
    assert "rotation-window" in str(caught.value)
    assert "\x00" not in str(caught.value)


def test_decisions_defer_run_inside_and_override_near_expiry() -> None:
    weekend = parse_windows("s", "Sat,Sun 02:00-05:00 UTC")
    deferred = decide(weekend, NOW, NOW + timedelta(days=20))
    assert not deferred.run_now
    assert deferred.next_window == datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
    assert decide(weekend, datetime(2026, 12, 5, 3, 0, tzinfo=UTC), None).run_now
    forced = decide(weekend, NOW, NOW + timedelta(days=2))
    assert forced.run_now and "outside the rotation window" in forced.reason
    assert decide((), NOW, None) == decide((), NOW, NOW)
    assert next_due(weekend, NOW, NOW + timedelta(days=30)) == deferred.next_window
    assert next_due(weekend, NOW, NOW + timedelta(hours=5)) == NOW
