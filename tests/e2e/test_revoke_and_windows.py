"""Revoke now (single, alternating, refused) and rotation windows, on the local stack with
the real scram PostgreSQL and the emulators' movable clock."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest

import composition
from rotation import tags as T
from rotation.sweep import DueSecret
from rotation.windows import DAY_NAMES
from rotation.workqueue import encode_message
from tests.e2e.conftest import AppUnderTest, pg_logs_in
from tests.e2e.test_postgres_rotation import current, put_alternating_secret, put_managed_secret
from tests.support.pg_cluster import ScramCluster


def test_revoke_single_kills_the_old_password_and_publishes_revoked(
    app: AppUnderTest, scram_postgres: ScramCluster, pg_login: Any, caplog: Any
) -> None:
    user, old = pg_login()
    put_managed_secret(app, "leaked-single", user, old, scram_postgres, expires_in_days=80)
    caplog.set_level(logging.INFO)
    status, body = app.api("POST", "leaked-single", revoke="true")
    assert status == 200, body
    assert body["status"] == "revoked"
    value, props = current(app, "leaked-single")
    assert pg_logs_in(scram_postgres, user, value["password"])
    assert not pg_logs_in(scram_postgres, user, old)
    assert props.tags[T.STATE] == "completed"
    assert len(app.versions("leaked-single")) == 2
    assert "KeyVault.Rotation.Revoked" in caplog.text
    assert old not in caplog.text and value["password"] not in json.dumps(body)


def test_revoke_alternating_leaves_no_old_password_alive(
    app: AppUnderTest, scram_postgres: ScramCluster, pg_login: Any
) -> None:
    user, old = pg_login()
    put_alternating_secret(app, "leaked-alt", (user, old), scram_postgres, expires_in_days=80)
    # A normal rotation first: the clone holds a password and the original stays alive.
    status, _ = app.api("POST", "leaked-alt")
    assert status == 200
    clone_value, _ = current(app, "leaked-alt")
    assert clone_value["username"] == f"{user}_clone"
    assert pg_logs_in(scram_postgres, user, old), "alternating keeps the old login alive"

    status, body = app.api("POST", "leaked-alt", revoke="true")
    assert status == 200, body
    assert body["status"] == "revoked"
    value, props = current(app, "leaked-alt")
    assert pg_logs_in(scram_postgres, value["username"], value["password"])
    for leaked_user, leaked_password in ((user, old), (f"{user}_clone", clone_value["password"])):
        assert not pg_logs_in(scram_postgres, leaked_user, leaked_password)
    assert props.tags[T.STATE] == "completed"
    # Every password that works is one Key Vault holds (the current and the one before).
    versions = sorted(app.versions("leaked-alt"), key=lambda p: p.created_on)
    previous = json.loads(app.client.get_secret("leaked-alt", versions[-2].version).value or "")
    assert pg_logs_in(scram_postgres, previous["username"], previous["password"])


def test_revoke_is_refused_where_nothing_can_retire(app: AppUnderTest) -> None:
    app.client.set_secret("shared-key", "v1", tags={T.ROTATOR: "random"})
    status, body = app.api("POST", "shared-key", revoke="true")
    assert status == 409
    assert body["error"]["code"] == "RevokeRefused"
    assert "no target" in body["error"]["message"]
    assert len(app.versions("shared-key")) == 1
    status, body = app.api("POST", "shared-key", revoke="perhaps")
    assert status == 400


def window_away_from(app: AppUnderTest, days_ahead: int) -> tuple[str, Any]:
    """A one-hour window ``days_ahead`` days from the emulated now, and its opening."""
    now = app.vault.stack.clock.now()
    day = now + timedelta(days=days_ahead)
    opening = day.replace(hour=3, minute=0, second=0, microsecond=0)
    return f"{DAY_NAMES[day.weekday()].title()} 03:00-04:00 UTC", opening


def put_windowed_login(
    app: AppUnderTest,
    name: str,
    username: str,
    password: str,
    cluster: ScramCluster,
    window: str,
    *,
    expires_in_days: float,
) -> None:
    """A postgres login on ``cluster`` as secret ``name``, with ``rotation-window`` ``window``
    and an expiry ``expires_in_days`` after the emulators' now (not the machine's)."""
    app.client.set_secret(
        name,
        json.dumps({"username": username, "password": password}),
        content_type="application/json",
        expires_on=app.vault.stack.clock.now() + timedelta(days=expires_in_days),
        tags={T.ROTATOR: "postgres", T.TARGET: cluster.target, T.WINDOW: window},
    )


@pytest.fixture
def clocked(app: AppUnderTest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The production service with the emulators' clock as the engine's clock."""
    monkeypatch.setenv("ROTATION_SWEEP_SPREAD_SECONDS", "0")
    return composition.build_service(clock=app.vault.stack.clock.now)


def work(app: AppUnderTest, name: str) -> str:
    return encode_message(DueSecret(app.vault.url, name, None, "test"))


def test_window_defers_queue_and_sweep_work_until_it_opens(
    app: AppUnderTest, scram_postgres: ScramCluster, pg_login: Any, clocked: Any
) -> None:
    user, old = pg_login()
    window, opening = window_away_from(app, 2)
    clock = app.vault.stack.clock
    put_windowed_login(app, "windowed", user, old, scram_postgres, window, expires_in_days=20)
    outcome = clocked.on_work_message(work(app, "windowed"))
    assert outcome.status == "deferred"
    assert "next rotation window" in outcome.detail
    assert len(app.versions("windowed")) == 1
    assert pg_logs_in(scram_postgres, user, old)

    clock.advance(opening - clock.now() + timedelta(minutes=10))
    outcome = clocked.on_work_message(work(app, "windowed"))
    assert outcome.status == "rotated"
    assert any("inside rotation window" in step for step in outcome.steps)
    assert len(app.versions("windowed")) == 2


def test_expiry_before_the_next_window_rotates_anyway_and_says_why(
    app: AppUnderTest, scram_postgres: ScramCluster, pg_login: Any, clocked: Any
) -> None:
    user, old = pg_login()
    window, _ = window_away_from(app, 3)
    put_windowed_login(app, "expiring", user, old, scram_postgres, window, expires_in_days=1)
    outcome = clocked.on_work_message(work(app, "expiring"))
    assert outcome.status == "rotated"
    assert "outside the rotation window" in outcome.detail
    assert any("outside the rotation window" in step for step in outcome.steps)
    value, _ = current(app, "expiring")
    assert pg_logs_in(scram_postgres, user, value["password"])


def test_manual_rotation_ignores_the_window_and_bad_windows_are_400(
    app: AppUnderTest, scram_postgres: ScramCluster, pg_login: Any
) -> None:
    user, old = pg_login()
    window, _ = window_away_from(app, 2)
    put_managed_secret(app, "manual", user, old, scram_postgres, tags={T.WINDOW: window})
    status, body = app.api("POST", "manual")
    assert status == 200 and body["status"] == "rotated"
    put_managed_secret(
        app, "bad-window", user, old, scram_postgres, tags={T.WINDOW: "<script>x</script>"}
    )
    status, body = app.api("POST", "bad-window")
    assert status == 400
    assert T.WINDOW in body["error"]["message"]


def test_sweep_spreads_enqueued_work_over_the_period(
    app: AppUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROTATION_SWEEP_SPREAD_SECONDS", "600")
    service = composition.build_service()
    for index in range(3):
        app.client.set_secret(f"spread-{index}", "v", tags={T.ROTATOR: "random"})
    report = service.on_timer()
    assert len(report.due) == 3
    visible = list(app.queue().receive_messages(max_messages=32, visibility_timeout=1))
    assert len(visible) == 1, "only the first is visible at once; the rest come later"
    assert app.queue().get_queue_properties().approximate_message_count == 3


def test_sweep_leaves_a_windowed_secret_alone_without_reading_its_value(
    app: AppUnderTest, clocked: Any
) -> None:
    from emulators.faults import FaultRule

    window, opening = window_away_from(app, 2)
    clock = app.vault.stack.clock
    for name, tags in (("wait-for-window", {T.WINDOW: window}), ("no-window", {})):
        app.client.set_secret(
            name,
            "v",
            expires_on=clock.now() + timedelta(days=20),
            tags={T.ROTATOR: "random", **tags},
        )
    reads = app.vault.stack.faults.add(FaultRule(operation="get_secret", times=None))
    report = clocked.on_timer()
    assert [d.secret_name for d in report.due] == ["no-window"]
    assert app.vault.stack.faults.fired(reads) == 0
    (message,) = list(app.queue().receive_messages(max_messages=32))
    assert json.loads(message.content)["secret_name"] == "no-window"
    app.queue().delete_message(message)

    clock.advance(opening - clock.now() + timedelta(minutes=5))
    report = clocked.on_timer()
    assert {d.secret_name for d in report.due} == {"wait-for-window", "no-window"}
