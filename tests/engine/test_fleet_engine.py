"""Engine behaviour for the fleet features against the in-memory vault and fake target:
revoke, rotation windows and the per-target limit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import RevokeRefused, TargetBusy
from rotation.limits import InProcessLimits, target_host
from rotation.outcome import Status, Trigger
from rotation.vault import staging_name
from tests.engine.fakes import NOW, FakeTarget, MemoryStore
from tests.engine.test_protocol import NAME, make_engine, make_store, request, target

__all__ = ["target"]  # the fixture, re-used


def awaiting_multiple(target: FakeTarget) -> MemoryStore:
    """A multiple-strategy secret whose last rotation waits for consumers: v1 and v2 live."""
    store = make_store("multiple")
    first = store.versions(NAME)[0].version
    target.logins["app"] = {"initial-password", "second-password"}
    store.put_login(
        NAME,
        "app",
        "second-password",
        tags={
            T.ROTATOR: "fake",
            T.TARGET: "fake-host",
            T.STRATEGY: "multiple",
            T.STATE: "awaiting-consumers",
            T.PREVIOUS_VERSION: first,
            T.ROTATED_AT: T.format_time(NOW),
        },
        expires_on=NOW + timedelta(days=80),
    )
    return store


def test_revoke_during_an_unfinished_rotation_leaves_only_the_new_password(
    target: FakeTarget,
) -> None:
    store = awaiting_multiple(target)
    events: list[str] = []
    engine = make_engine(store, on_outcome=lambda event, outcome: events.append(event))
    outcome = engine.run(request(store, revoke=True, force=True))
    assert outcome.status is Status.REVOKED
    new = Credential.from_value(store.current_value(NAME), json_format=True)
    assert target.logins["app"] == {new.password}
    assert store.versions(NAME)[-1].tags[T.STATE] == "completed"
    assert events[-1] == "revoked"


def test_revoke_alternating_rotates_twice(target: FakeTarget) -> None:
    store = make_store("alternating", expires_in_days=80)
    outcome = make_engine(store).run(request(store, revoke=True, force=True))
    assert outcome.status is Status.REVOKED
    assert len(store.versions(NAME)) == 3
    assert not target.works(Credential("initial-password", "app"))


def test_revoke_dry_run_changes_nothing(target: FakeTarget) -> None:
    store = make_store("alternating", expires_in_days=80)
    outcome = make_engine(store).run(request(store, revoke=True, dry_run=True, force=True))
    assert outcome.status is Status.DRY_RUN
    assert len(store.versions(NAME)) == 1


def test_revoke_refused_for_a_multiple_rotator_without_retire(
    target: FakeTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rotation.rotator import Rotator
    from tests.engine.fakes import FakeRotator

    monkeypatch.setattr(FakeRotator, "retire", Rotator.retire)
    store = make_store("multiple", expires_in_days=80)
    with pytest.raises(RevokeRefused, match="cannot retire"):
        make_engine(store).run(request(store, revoke=True, force=True))
    assert len(store.versions(NAME)) == 1


def test_window_defers_a_due_rotation_without_writing_anything(target: FakeTarget) -> None:
    closed = (NOW + timedelta(days=2)).strftime("%a") + " 03:00-04:00 UTC"
    store = make_store(expires_in_days=10, **{T.WINDOW: closed})
    outcome = make_engine(store).run(request(store, trigger=Trigger.SWEEP))
    assert outcome.status is Status.DEFERRED
    assert len(store.versions(NAME)) == 1
    assert not store.versions(staging_name(NAME))
    manual = make_engine(store).run(request(store, force=True))
    assert manual.status is Status.ROTATED


def test_a_full_target_raises_target_busy_before_any_change(target: FakeTarget) -> None:
    limits = InProcessLimits()
    store = make_store("single", 10, **{T.MAX_PER_TARGET: "1"})
    with limits.hold(target_host("fake-host"), 1), pytest.raises(TargetBusy):
        make_engine(store, limits=limits).run(request(store, trigger=Trigger.SWEEP))
    assert len(store.versions(NAME)) == 1
    assert not store.versions(staging_name(NAME))
    outcome = make_engine(store, limits=limits).run(request(store, trigger=Trigger.SWEEP))
    assert outcome.status is Status.ROTATED


@pytest.mark.parametrize(
    ("raw", "host"),
    [
        ("db.example.com:5432/app", "db.example.com"),
        ("DB.example.com", "db.example.com"),
        ("db.example.com.:5432/app", "db.example.com"),
        ("https://api.example.com/v1/keys", "api.example.com"),
        ("[::1]:5432/app", "::1"),
        ("/subscriptions/S/resourceGroups/R/providers/Microsoft.Sql/servers/X", None),
        ("[", "["),
    ],
)
def test_target_host(raw: str, host: str | None) -> None:
    assert target_host(raw) == (host or raw.lower())
