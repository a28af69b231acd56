"""Subscriptions, filters, retries, dead letters, duplicates and expiry events (in-process)."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta
from typing import Any

import pytest

from emulators.clock import Clock
from emulators.eventgrid import (
    CLOUD_EVENT_SCHEMA,
    SECRET_EXPIRED,
    SECRET_NEAR_EXPIRY,
    SECRET_NEW_VERSION_CREATED,
    EventGridEmulator,
)
from emulators.events import SecretChange

from .conftest import VaultState, in_days


def new_version(
    eventgrid: EventGridEmulator, state: VaultState, vault: str, name: str, v: str
) -> None:
    info = state.put(vault, name, v)
    eventgrid.on_secret_change(SecretChange("SecretNewVersionCreated", info))


def test_nothing_is_delivered_before_flush_and_filters_apply(
    eventgrid: EventGridEmulator, vault_state: VaultState
) -> None:
    seen_a: list[dict[str, Any]] = []
    seen_all: list[dict[str, Any]] = []
    near_only: list[dict[str, Any]] = []
    eventgrid.subscribe("kv-a", event_types=[SECRET_NEW_VERSION_CREATED], handler=seen_a.append)
    eventgrid.subscribe(None, handler=seen_all.append)
    eventgrid.subscribe(None, event_types=[SECRET_NEAR_EXPIRY], handler=near_only.append)

    new_version(eventgrid, vault_state, "kv-a", "s1", "v1")
    new_version(eventgrid, vault_state, "kv-b", "s2", "v1")
    assert seen_a == [] and eventgrid.pending_count() == 3

    assert eventgrid.flush() == 3
    assert [e["data"]["VaultName"] for e in seen_a] == ["kv-a"]
    assert sorted(e["data"]["VaultName"] for e in seen_all) == ["kv-a", "kv-b"]
    assert near_only == []
    assert eventgrid.pending_count() == 0


def test_only_events_after_subscribing_are_delivered(
    eventgrid: EventGridEmulator, vault_state: VaultState
) -> None:
    new_version(eventgrid, vault_state, "kv", "early", "v1")
    seen: list[dict[str, Any]] = []
    eventgrid.subscribe("kv", handler=seen.append)
    new_version(eventgrid, vault_state, "kv", "late", "v1")
    eventgrid.flush()
    assert [e["subject"] for e in seen] == ["late"]
    assert [e["subject"] for e in eventgrid.published("kv")] == ["early", "late"]


def test_cloud_event_subscription_gets_cloud_events(
    eventgrid: EventGridEmulator, vault_state: VaultState
) -> None:
    seen: list[dict[str, Any]] = []
    eventgrid.subscribe("kv", schema=CLOUD_EVENT_SCHEMA, handler=seen.append)
    new_version(eventgrid, vault_state, "kv", "s", "v9")
    eventgrid.flush()
    (event,) = seen
    assert event["specversion"] == "1.0"
    assert event["type"] == SECRET_NEW_VERSION_CREATED
    assert event["source"] == eventgrid.vault_topic("kv")
    assert event["data"]["Version"] == "v9"


def test_failing_handler_is_retried_then_succeeds(
    eventgrid: EventGridEmulator, vault_state: VaultState
) -> None:
    calls: list[str] = []

    def flaky(event: dict[str, Any]) -> None:
        calls.append(event["id"])
        if len(calls) < 3:
            raise ConnectionError("target not ready")

    sub = eventgrid.subscribe("kv", handler=flaky, max_attempts=5)
    new_version(eventgrid, vault_state, "kv", "s", "v1")
    eventgrid.flush()
    assert len(calls) == 3 and len(set(calls)) == 1
    assert [(r.attempt, r.result.ok) for r in sub.attempts] == [(1, False), (2, False), (3, True)]
    assert sub.attempts[0].result.error == "ConnectionError"
    assert sub.delivered_ids() == [calls[0]]
    assert eventgrid.dead_letters == []


def test_handler_that_always_fails_is_dead_lettered_after_max_attempts(
    eventgrid: EventGridEmulator, vault_state: VaultState
) -> None:
    def broken(_event: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    sub = eventgrid.subscribe("kv", handler=broken, max_attempts=4)
    new_version(eventgrid, vault_state, "kv", "s", "v1")
    eventgrid.flush()
    assert len(sub.attempts) == 4
    (letter,) = eventgrid.dead_letters
    assert letter.dead_letter_reason == "MaxDeliveryAttemptsExceeded"
    assert letter.delivery_attempts == 4
    assert letter.event["subject"] == "s"
    assert sub.delivered == []


def test_retries_follow_the_scaled_backoff(clock: Clock, vault_state: VaultState) -> None:
    eventgrid = EventGridEmulator(
        clock, versions_source=vault_state.current, retry_schedule=[0.05, 0.1], retry_scale=1.0
    )
    stamps: list[float] = []

    def broken(_event: dict[str, Any]) -> None:
        stamps.append(time.monotonic())
        raise RuntimeError("boom")

    eventgrid.subscribe("kv", handler=broken, max_attempts=4)
    new_version(eventgrid, vault_state, "kv", "s", "v1")
    # Without waiting, only the first attempt happens; the retry stays queued.
    eventgrid.flush(wait_for_retries=False)
    assert len(stamps) == 1 and eventgrid.pending_count() == 1
    eventgrid.flush()
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert len(gaps) == 3
    assert gaps[0] >= 0.045 and gaps[1] >= 0.095 and gaps[2] >= 0.095


def test_duplicate_every_redelivers_with_the_same_id(
    eventgrid: EventGridEmulator, vault_state: VaultState
) -> None:
    seen: list[str] = []
    sub = eventgrid.subscribe("kv", handler=lambda e: seen.append(e["id"]), duplicate_every=2)
    for i in range(4):
        new_version(eventgrid, vault_state, "kv", f"s{i}", "v1")
    eventgrid.flush()
    assert len(seen) == 6
    ids = [e["id"] for e in eventgrid.published("kv")]
    assert sorted(seen) == sorted([*ids, ids[1], ids[3]])
    assert sum(r.duplicate for r in sub.attempts) == 2


def test_deliver_duplicate_on_demand(eventgrid: EventGridEmulator, vault_state: VaultState) -> None:
    seen: list[str] = []
    other: list[str] = []
    eventgrid.subscribe("kv", handler=lambda e: seen.append(e["id"]))
    eventgrid.subscribe("other-vault", handler=lambda e: other.append(e["id"]))
    new_version(eventgrid, vault_state, "kv", "s", "v1")
    eventgrid.flush()
    (event_id,) = seen
    assert eventgrid.deliver_duplicate(event_id) == 1
    assert eventgrid.deliver_duplicate("no-such-event") == 0
    eventgrid.flush()
    assert seen == [event_id, event_id] and other == []


def test_batches_for_handlers(eventgrid: EventGridEmulator, vault_state: VaultState) -> None:
    batches: list[list[dict[str, Any]]] = []
    eventgrid.subscribe("kv", handler=batches.append, max_events_per_batch=2)
    for i in range(3):
        new_version(eventgrid, vault_state, "kv", f"s{i}", "v1")
    eventgrid.flush()
    assert [len(b) for b in batches] == [2, 1]


def test_near_expiry_and_expired_once_per_version(
    eventgrid: EventGridEmulator, vault_state: VaultState, clock: Clock
) -> None:
    seen: list[dict[str, Any]] = []
    eventgrid.subscribe("kv", event_types=[SECRET_NEAR_EXPIRY, SECRET_EXPIRED], handler=seen.append)
    vault_state.put("kv", "db", "v1", expires=in_days(clock, 45))
    vault_state.put("kv", "no-expiry", "v1")
    vault_state.put("kv", "disabled", "v1", expires=in_days(clock, 1), enabled=False)

    assert eventgrid.check_expiry() == []
    clock.advance(timedelta(days=14))
    assert eventgrid.check_expiry() == []  # 31 days left
    clock.advance(timedelta(days=2))
    (near,) = eventgrid.check_expiry()
    assert near["eventType"] == SECRET_NEAR_EXPIRY and near["data"]["Version"] == "v1"
    assert eventgrid.check_expiry() == []  # not repeated
    clock.advance(timedelta(days=30))
    (expired,) = eventgrid.check_expiry()
    assert expired["eventType"] == SECRET_EXPIRED
    assert eventgrid.check_expiry() == []
    eventgrid.flush()
    assert [e["eventType"] for e in seen] == [SECRET_NEAR_EXPIRY, SECRET_EXPIRED]

    # A new version (rotation) gets its own events.
    vault_state.put("kv", "db", "v2", expires=in_days(clock, 10))
    (near_v2,) = eventgrid.check_expiry()
    assert near_v2["data"]["Version"] == "v2"


def test_version_first_seen_already_expired_raises_both(
    eventgrid: EventGridEmulator, vault_state: VaultState, clock: Clock
) -> None:
    vault_state.put("kv", "old", "v1", expires=in_days(clock, 5))
    clock.advance(timedelta(days=6))
    assert [e["eventType"] for e in eventgrid.check_expiry()] == [
        SECRET_NEAR_EXPIRY,
        SECRET_EXPIRED,
    ]


def test_background_delivery_and_expiry_ticker(
    eventgrid: EventGridEmulator, vault_state: VaultState, clock: Clock
) -> None:
    seen: list[dict[str, Any]] = []
    eventgrid.subscribe("kv", handler=seen.append)
    vault_state.put("kv", "db", "v1", expires=in_days(clock, 3))
    eventgrid.start(interval_s=0.01)
    try:
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        eventgrid.stop()
    assert [e["eventType"] for e in seen] == [SECRET_NEAR_EXPIRY]


def test_bad_subscriptions_are_refused(eventgrid: EventGridEmulator) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        eventgrid.subscribe("kv")
    with pytest.raises(ValueError, match="unknown event types"):
        eventgrid.subscribe("kv", event_types=["SecretNearExpiry"], handler=print)
    with pytest.raises(ValueError, match="unknown schema"):
        eventgrid.subscribe("kv", schema="CustomInputSchema", handler=print)
    with pytest.raises(ValueError, match="max_attempts"):
        eventgrid.subscribe("kv", handler=print, max_attempts=0)
