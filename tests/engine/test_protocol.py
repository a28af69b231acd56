"""Unit tests of the rotation protocol against an in-memory vault and a fake target.

These pin the engine's logic (every crash point, every decision) quickly; tests/e2e runs the
same protocol through the real SDKs, the emulators and real database servers.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, ClassVar

import pytest

from rotation import tags as T
from rotation.credential import Credential
from rotation.engine import EngineSettings, RotationEngine
from rotation.errors import (
    CompanionDeleted,
    ConfigurationError,
    LockBusy,
    LockLost,
    RotationConflict,
    RotationError,
    VerificationFailed,
    VerificationPending,
)
from rotation.fleet import FleetContext, vault_status
from rotation.lock import HeldLock, InProcessLocks
from rotation.outcome import RotationRequest, Status, Trigger
from rotation.registry import RotatorRegistry
from rotation.rotator import alternate_username
from rotation.staging import committed, needs_work
from rotation.status import secret_status
from rotation.vault import staging_name
from tests.engine.fakes import NOW, FakeRotator, FakeTarget, MemoryStore

NAME = "app-db"


class SimulatedCrash(BaseException):
    """The process died here (a BaseException: no handler in the app may catch a death)."""


@pytest.fixture
def target() -> Iterator[FakeTarget]:
    state = FakeTarget(logins={"app": {"initial-password"}})
    FakeRotator.target_state = state
    yield state
    FakeRotator.target_state = FakeTarget()


def make_store(
    strategy: str = "single", expires_in_days: float = 10, **extra_tags: str
) -> MemoryStore:
    store = MemoryStore()
    tags = {T.ROTATOR: "fake", T.TARGET: "fake-host", T.STRATEGY: strategy, **extra_tags}
    store.put_login(
        NAME, "app", "initial-password", tags=tags, expires_on=NOW + timedelta(days=expires_in_days)
    )
    return store


def make_engine(
    store: Any,
    *,
    registry: RotatorRegistry | None = None,
    verify_attempts: int = 2,
    **kwargs: Any,
) -> RotationEngine:
    """An engine on ``store`` with the test clock, no sleeping, and ``registry`` (default:
    one with :class:`FakeRotator`)."""
    if registry is None:
        registry = RotatorRegistry()
        registry.register(FakeRotator)
    return RotationEngine(
        lambda url: store,
        registry,
        InProcessLocks(),
        settings=EngineSettings(verify_attempts=verify_attempts, verify_backoff_seconds=0),
        clock=lambda: NOW,
        sleep=lambda s: None,
        **kwargs,
    )


def request(store: MemoryStore, **kwargs: Any) -> RotationRequest:
    return RotationRequest(vault_url=store.vault_url, secret_name=NAME, **kwargs)


def current_credential(store: MemoryStore) -> Credential:
    return Credential.from_value(store.current_value(NAME), json_format=True)


def test_single_rotation_commits_a_working_version_and_kills_the_old(target: FakeTarget) -> None:
    store = make_store()
    first = store.versions(NAME)[0]

    outcome = make_engine(store).run(request(store, trigger=Trigger.SWEEP))

    assert outcome.status is Status.ROTATED
    versions = store.versions(NAME)
    assert len(versions) == 2
    new = versions[-1]
    assert target.works(current_credential(store))
    assert not target.works(Credential("initial-password", "app"))
    assert new.expires_on == NOW + timedelta(days=90)
    assert new.tags[T.ROTATOR] == "fake" and new.tags[T.TARGET] == "fake-host"
    assert new.tags[T.PREVIOUS_VERSION] == first.version
    assert new.tags[T.ROTATION_ID] == outcome.rotation_id
    assert new.tags[T.STATE] == "completed"
    assert new.content_type == "application/json"
    # Nothing is written to the companion after the commit: the committed version's tags
    # say that its only candidate is committed (and that candidate is the current value).
    staged = store.versions(staging_name(NAME))
    assert len(staged) == 1
    assert committed(staged[0].tags, new.tags) and not needs_work(staged[0].tags, new.tags)
    same = staged[0].value == store.current_value(NAME)
    assert same, "the companion's candidate is not the committed value"


def test_alternating_switches_login_and_keeps_the_old_one_alive(target: FakeTarget) -> None:
    store = make_store("alternating")
    make_engine(store).run(request(store))
    new = current_credential(store)
    assert new.username == "app_clone" and target.works(new)
    assert target.works(Credential("initial-password", "app"))

    make_engine(store).run(request(store, force=True))
    back = current_credential(store)
    assert back.username == "app" and target.works(back)
    assert target.works(new)


def test_multiple_strategy_retires_the_old_password(target: FakeTarget) -> None:
    store = make_store("multiple")
    make_engine(store).run(request(store))
    assert target.works(current_credential(store))
    assert target.logins["app"] == {current_credential(store).password}


def test_stale_version_is_acknowledged_without_work(target: FakeTarget) -> None:
    store = make_store()
    outcome = make_engine(store).run(request(store, expected_version="0" * 32, event_due=True))
    assert outcome.status is Status.STALE
    assert len(store.versions(NAME)) == 1


def test_not_due_unless_forced(target: FakeTarget) -> None:
    store = make_store(expires_in_days=200)
    assert make_engine(store).run(request(store)).status is Status.NOT_DUE
    assert len(store.versions(NAME)) == 1
    assert make_engine(store).run(request(store, force=True)).status is Status.ROTATED
    assert len(store.versions(NAME)) == 2


def test_dry_run_changes_nothing(target: FakeTarget) -> None:
    store = make_store()
    outcome = make_engine(store).run(request(store, dry_run=True, force=True))
    assert outcome.status is Status.DRY_RUN
    assert len(store.versions(NAME)) == 1
    assert staging_name(NAME) not in store.secrets
    assert target.logins == {"app": {"initial-password"}}
    assert any("logs in on the target: yes" in step for step in outcome.steps)


def test_single_candidate_not_yet_effective_is_kept_and_committed_later(
    target: FakeTarget,
) -> None:
    """Replication lag: the target took the password but refuses it for now. Discarding it
    would lose the credential once the change lands, so it stays staged until it works."""
    target.refuse_new = True
    store = make_store()
    with pytest.raises(VerificationPending):
        make_engine(store).run(request(store))
    assert len(store.versions(NAME)) == 1
    staged = store.versions(staging_name(NAME))[-1]
    assert staged.enabled and staged.tags[T.STAGE] == "pending"

    target.logins["app"] = {target.late["app"]}  # the change lands on the target
    outcome = make_engine(store).run(request(store))
    assert outcome.status is Status.ROTATED
    assert target.works(current_credential(store))


@pytest.mark.parametrize("strategy", ["alternating", "multiple"])
def test_refused_candidate_is_removed_and_discarded_while_current_works(
    target: FakeTarget, strategy: str
) -> None:
    target.refuse_logins = True
    store = make_store(strategy)
    with pytest.raises(VerificationFailed):
        make_engine(store).run(request(store))
    assert len(store.versions(NAME)) == 1
    assert target.works(current_credential(store))
    staged = store.versions(staging_name(NAME))[-1]
    assert staged.tags[T.STAGE] == "discarded" and not staged.enabled
    # Nothing of the refused candidate stays live on the target.
    assert target.logins["app"] == {"initial-password"}


def test_forced_rotation_while_consumers_lag_is_refused_with_the_reason(
    target: FakeTarget,
) -> None:
    store = make_store()
    make_engine(store).run(request(store))
    latest = store.versions(NAME)[-1]
    latest.tags[T.STATE] = "awaiting-consumers"
    latest.tags[T.CONSUMERS] = "slow-app"

    class Lagging:
        def validate(self, config: Any) -> None:
            pass

        def check(self, *args: Any) -> Any:
            from rotation.consumers import ConsumerReport

            return ConsumerReport(moved=False, seen={"slow-app": None})

    with pytest.raises(RotationConflict, match="consumers still use"):
        make_engine(store, consumers=Lagging()).run(request(store, force=True))
    assert len(store.versions(NAME)) == 2


def test_a_differently_spelled_name_resumes_the_same_staged_candidate(
    target: FakeTarget,
) -> None:
    target.refuse_new = True
    store = make_store()
    with pytest.raises(VerificationPending):
        make_engine(store).run(request(store))
    target.logins["app"] = {target.late["app"]}
    target.refuse_new = False
    shouting = RotationRequest(vault_url=store.vault_url, secret_name=NAME.upper())
    outcome = make_engine(store).run(shouting)
    assert outcome.status is Status.ROTATED
    assert target.works(current_credential(store))


@pytest.mark.parametrize(
    ("tags", "tag"),
    [
        ({T.STRATEGY: "sometimes"}, T.STRATEGY),
        ({T.VALIDITY_DAYS: "20"}, T.VALIDITY_DAYS),
        ({T.VALIDITY_DAYS: "ninety"}, T.VALIDITY_DAYS),
        ({T.VALIDITY_DAYS: "\u0669\u0660"}, T.VALIDITY_DAYS),
        ({T.VALIDITY_DAYS: "+90"}, T.VALIDITY_DAYS),
        ({T.ADMIN_SECRET: "missing-admin"}, T.ADMIN_SECRET),
        ({T.ADMIN_SECRET: NAME.upper()}, T.ADMIN_SECRET),
        ({T.PASSWORD_POLICY: "length=4"}, T.PASSWORD_POLICY),
        ({T.ROTATOR: "teleporter"}, T.ROTATOR),
    ],
)
def test_bad_configuration_names_secret_and_tag_and_changes_nothing(
    target: FakeTarget, tags: dict[str, str], tag: str
) -> None:
    store = make_store()
    store.secrets[NAME][0].tags.update(tags)
    with pytest.raises(ConfigurationError) as caught:
        make_engine(store).run(request(store))
    assert NAME in str(caught.value) and tag in str(caught.value)
    assert len(store.versions(NAME)) == 1
    assert target.logins == {"app": {"initial-password"}}


def test_too_many_tags_is_refused_before_anything_happens(target: FakeTarget) -> None:
    store = make_store()
    store.secrets[NAME][0].tags.update({f"owner-{i}": "x" for i in range(8)})
    with pytest.raises(ConfigurationError, match="remove"):
        make_engine(store).run(request(store))
    assert target.logins == {"app": {"initial-password"}}


def test_concurrent_requests_make_exactly_one_version(target: FakeTarget) -> None:
    store = make_store()
    engine = make_engine(store)
    version = store.versions(NAME)[0].version
    barrier = threading.Barrier(20)
    results: list[object] = []

    def trigger(i: int) -> None:
        barrier.wait()
        kinds: list[dict[str, Any]] = [
            dict(trigger=Trigger.EVENT, expected_version=version, event_due=True),
            dict(trigger=Trigger.SWEEP, expected_version=version),
            dict(trigger=Trigger.MANUAL, expected_version=version, force=True),
        ]
        try:
            results.append(engine.run(request(store, **kinds[i % 3])).status)
        except LockBusy as error:
            results.append(error)

    threads = [threading.Thread(target=trigger, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.versions(NAME)) == 2
    assert results.count(Status.ROTATED) == 1
    assert target.works(current_credential(store))


# ---------------------------------------------------------------- crash at every step


def hit(counter: dict[str, Any], label: str, call: Callable[[], Any]) -> Any:
    """Count one call; die before or after it when it is the chosen one."""
    counter["n"] += 1
    counter["labels"].append(label)
    chosen = counter["n"] == counter["crash_at"]
    if chosen and counter["when"] == "before":
        raise SimulatedCrash(label)
    try:
        result = call()
    finally:
        # Dying after a call is dying after it, whether it answered or raised.
        if chosen and counter["when"] == "after":
            raise SimulatedCrash(label)
    return result


class CrashingStore:
    """A MemoryStore whose every call may be the one where the process dies."""

    def __init__(self, inner: MemoryStore, counter: dict[str, Any]) -> None:
        self.inner = inner
        self.counter = counter
        self.vault_url = inner.vault_url

    def read(self, name: str, version: str | None = None) -> Any:
        return hit(self.counter, f"read {name}", lambda: self.inner.read(name, version))

    def read_if_enabled(self, name: str) -> Any:
        return hit(self.counter, f"read {name}", lambda: self.inner.read_if_enabled(name))

    def write(self, name: str, value: str, **kwargs: Any) -> Any:
        return hit(self.counter, f"write {name}", lambda: self.inner.write(name, value, **kwargs))

    def update(self, name: str, version: str, **kwargs: Any) -> Any:
        return hit(
            self.counter, f"update {name}", lambda: self.inner.update(name, version, **kwargs)
        )

    def list(self) -> Any:
        return hit(self.counter, "list", lambda: list(self.inner.list()))

    def properties(self, name: str) -> Any:
        return hit(self.counter, f"properties {name}", lambda: self.inner.properties(name))

    def deleted(self, name: str) -> Any:
        return hit(self.counter, f"deleted {name}", lambda: self.inner.deleted(name))

    def list_deleted(self) -> Any:
        return hit(self.counter, "list deleted", lambda: list(self.inner.list_deleted()))


def crashing_rotator(counter: dict[str, Any]) -> type[FakeRotator]:
    class CrashingRotator(FakeRotator):
        def apply(self, current: Credential, candidate: Credential) -> Credential:
            applied: Credential = hit(
                counter, "apply", lambda: super(CrashingRotator, self).apply(current, candidate)
            )
            return applied

        def verify(self, credential: Credential) -> None:
            hit(counter, "verify", lambda: super(CrashingRotator, self).verify(credential))

        def retire(self, old: Credential, new: Credential) -> None:
            hit(counter, "retire", lambda: super(CrashingRotator, self).retire(old, new))

    return CrashingRotator


def crash_run(
    strategy: str, crash_at: int, when: str
) -> tuple[MemoryStore, FakeTarget, dict[str, Any], Callable[[], RotationEngine]]:
    target = FakeTarget(logins={"app": {"initial-password"}})
    FakeRotator.target_state = target
    store = make_store(strategy)
    counter: dict[str, Any] = {"n": 0, "crash_at": crash_at, "when": when, "labels": []}
    crashing = CrashingStore(store, counter)
    registry = RotatorRegistry()
    registry.register(crashing_rotator(counter))

    def engine() -> RotationEngine:
        return make_engine(crashing, registry=registry, verify_attempts=1)

    return store, target, counter, engine


@pytest.mark.parametrize("strategy", ["single", "alternating", "multiple"])
@pytest.mark.parametrize("when", ["before", "after"])
def test_a_crash_at_any_step_converges_after_a_retry(strategy: str, when: str) -> None:
    """Crash before/after every vault and target call of a rotation, then retry twice
    (the event again, then a sweep): the vault's value always works, and exactly one new
    version exists."""
    crash_points = 0
    crash_at = 1
    try:
        while True:
            store, target, counter, engine = crash_run(strategy, crash_at, when)
            original = store.versions(NAME)[0]
            event = request(
                store, trigger=Trigger.EVENT, expected_version=original.version, event_due=True
            )
            try:
                engine().run(event)
            except SimulatedCrash:
                crashed = True
            else:
                crashed = False
            if not crashed:
                break
            crash_points += 1
            counter["crash_at"] = -1
            for retry in (event, request(store, trigger=Trigger.SWEEP)):
                try:
                    engine().run(retry)
                except RotationError as error:  # pragma: no cover - would fail below
                    pytest.fail(f"retry after crash at {counter['labels'][crash_at - 1]}: {error}")
            label = counter["labels"][crash_at - 1]
            current = current_credential(store)
            assert target.works(current), f"vault value dead after crash at {label}"
            committed = [v for v in store.versions(NAME) if v.tags.get(T.PREVIOUS_VERSION)]
            assert len(committed) == 1, f"{len(committed)} new versions after crash at {label}"
            assert store.versions(NAME)[-1].tags[T.STATE] == "completed", label
            latest_tags = store.versions(NAME)[-1].tags
            open_staged = [
                v.version
                for v in store.versions(staging_name(NAME))
                if v.enabled and needs_work(v.tags, latest_tags)
            ]
            assert not open_staged, f"staged candidate left open after crash at {label}"
            crash_at += 1
    finally:
        FakeRotator.target_state = FakeTarget()
    assert crash_points >= 8, "the protocol has fewer steps than expected"


@pytest.mark.parametrize(
    ("admin_tags", "named"),
    [
        ({}, "rotation-admin-for"),
        ({T.ADMIN_FOR: "other-db"}, "rotation-admin-for"),
        ({T.ADMIN_FOR: "*", T.TARGET: "another-host"}, "another-host"),
    ],
)
def test_admin_secret_serves_only_the_secrets_and_target_it_names(
    target: FakeTarget, admin_tags: dict[str, str], named: str
) -> None:
    """Editing one secret's tags must not be enough to send an admin credential anywhere."""
    store = make_store()
    store.put_login("db-admin", "root", "admin-password", tags=admin_tags)
    store.secrets[NAME][0].tags[T.ADMIN_SECRET] = "db-admin"
    with pytest.raises(ConfigurationError, match=named):
        make_engine(store).run(request(store))
    assert len(store.versions(NAME)) == 1 and target.logins == {"app": {"initial-password"}}

    store.secrets["db-admin"][0].tags = {T.ADMIN_FOR: f"x, {NAME}", T.TARGET: "fake-host"}
    assert make_engine(store).run(request(store)).status is Status.ROTATED


class _LostLocks:
    """Locks whose lease lapses at once (renewal failed)."""

    @contextlib.contextmanager
    def hold(self, vault_url: str, secret_name: str) -> Iterator[HeldLock]:
        held = HeldLock(secret_name)
        held.mark_lost()
        yield held


def test_a_lapsed_lock_stops_the_run_before_any_change(target: FakeTarget) -> None:
    store = make_store()
    registry = RotatorRegistry()
    registry.register(FakeRotator)
    engine = RotationEngine(lambda url: store, registry, _LostLocks(), clock=lambda: NOW)
    with pytest.raises(LockLost):
        engine.run(request(store))
    assert len(store.versions(NAME)) == 1
    assert staging_name(NAME) not in store.secrets
    assert target.logins == {"app": {"initial-password"}}


def test_a_commit_that_raced_another_instance_is_restaged_and_finished(
    target: FakeTarget,
) -> None:
    """Another instance committed while this one verified (its lock had lapsed unnoticed):
    the candidate this run applied is what the target holds, so it must not be lost."""
    store = make_store()
    raced: list[bool] = []

    class RacingRotator(FakeRotator):
        def verify(self, credential: Credential) -> None:
            super().verify(credential)
            if not raced:
                raced.append(True)
                store.write(
                    NAME,
                    store.current_value(NAME),
                    tags=dict(store.versions(NAME)[-1].tags),
                    content_type="application/json",
                )

    registry = RotatorRegistry()
    registry.register(RacingRotator)
    engine = RotationEngine(
        lambda url: store, registry, InProcessLocks(), clock=lambda: NOW, sleep=lambda s: None
    )
    with pytest.raises(LockLost):
        engine.run(request(store))
    assert not target.works(current_credential(store))  # the race left a stale value...
    outcome = engine.run(request(store, force=True))
    assert outcome.status is Status.ROTATED
    assert target.works(current_credential(store))  # ...which the next run repairs


# ------------------------------------------------------------ issue 14: fewer calls, same guards


def _rotate_once(store: MemoryStore) -> str:
    """One completed rotation; returns the companion's name."""
    outcome = make_engine(store).run(request(store, force=True))
    assert outcome.status is Status.ROTATED
    return staging_name(NAME)


def test_a_committed_candidate_is_left_alone_and_a_stale_one_discarded(target: FakeTarget) -> None:
    """The next rotation finds the previous one's candidate enabled with an open stage: the
    current version's tags say it is committed, so it is neither resumed nor rewritten. A
    candidate that is open and not committed by the current version (a crashed run's, from
    a version an operator replaced since) is discarded and disabled, as before."""
    store = make_store()
    companion = _rotate_once(store)
    finished = store.versions(companion)[-1]
    outcome = make_engine(store).run(request(store, force=True))
    assert outcome.status is Status.ROTATED
    assert not any("stale" in step or "resumed" in step for step in outcome.steps)
    first, second = store.versions(companion)
    assert first.version == finished.version and first.tags == finished.tags and first.enabled
    assert committed(second.tags, store.versions(NAME)[-1].tags)
    assert target.works(current_credential(store))

    # A crashed run's candidate, then an operator's own new version.
    store.put_candidate(
        NAME,
        "crashed-candidate",
        rotation_id="crashed",
        from_version=store.versions(NAME)[-1].version,
    )
    latest = store.versions(NAME)[-1]
    store.write(
        NAME, latest.value, tags=latest.tags, content_type=latest.content_type, expires_on=None
    )
    outcome = make_engine(store).run(request(store, force=True))
    assert any("discarded the stale staged candidate" in step for step in outcome.steps)
    stale = store.versions(companion)[2]
    assert stale.tags[T.STAGE] == "discarded" and not stale.enabled


def _stale_live_candidate(store: MemoryStore, target: FakeTarget, operator_password: str) -> None:
    """A run staged and applied ``live-candidate`` from the current version and stopped
    before its commit; then an operator wrote ``operator_password`` as a new version."""
    first = store.versions(NAME)[-1]
    store.put_candidate(NAME, "live-candidate", rotation_id="r-stopped", from_version=first.version)
    strategy = first.tags[T.STRATEGY]
    if strategy == "single":
        target.logins["app"] = {"live-candidate"}
    elif strategy == "multiple":
        target.logins["app"].add("live-candidate")
    else:  # alternating: the run applied it to the standby login
        target.logins[alternate_username("app")] = {"live-candidate"}
        staged = store.versions(staging_name(NAME))[-1]
        staged.value = json.dumps(
            {"username": alternate_username("app"), "password": "live-candidate"}
        )
    store.put_login(NAME, "app", operator_password, tags=first.tags, expires_on=NOW)


def test_a_stale_candidate_that_holds_the_only_working_password_is_kept(
    target: FakeTarget,
) -> None:
    """The operator's version does not log in, the stale candidate does: discarding it would
    leave the target on a password that only a disabled version holds."""
    store = make_store()
    _stale_live_candidate(store, target, "operator-typo")
    with pytest.raises(RotationConflict, match="target accepts the candidate"):
        make_engine(store).run(request(store, force=True))
    staged = store.versions(staging_name(NAME))[-1]
    assert staged.enabled and staged.tags[T.STAGE] == "applied"
    assert target.logins["app"] == {"live-candidate"}


def test_a_stale_candidate_live_on_the_standby_login_stays_readable(target: FakeTarget) -> None:
    """Alternating: nothing can make the standby login's password stop working before the
    next rotation resets it, so the discarded candidate is not disabled: a vault reader still
    has every password the target accepts."""
    store = make_store("alternating", expires_in_days=200)
    _stale_live_candidate(store, target, "initial-password")
    store.versions(NAME)[-1].expires_on = NOW + timedelta(days=200)
    outcome = make_engine(store).run(request(store, trigger=Trigger.SWEEP))
    assert outcome.status is Status.NOT_DUE, outcome
    staged = store.versions(staging_name(NAME))[-1]
    assert staged.tags[T.STAGE] == "discarded" and staged.enabled
    assert target.logins[alternate_username("app")] == {"live-candidate"}
    assert any("marked discarded, its value left readable" in step for step in outcome.steps)


def test_a_stale_live_candidate_stops_working_before_it_is_discarded(target: FakeTarget) -> None:
    """Multiple: the stale candidate and the operator's version both log in. The candidate is
    removed from the target, then disabled, and the run rotates from the operator's version."""
    store = make_store("multiple")
    _stale_live_candidate(store, target, "initial-password")
    outcome = make_engine(store).run(request(store, force=True))
    assert "discarded the stale staged candidate" in outcome.steps
    assert outcome.status is Status.ROTATED
    assert "live-candidate" not in target.logins["app"]
    assert not [
        v
        for v in store.versions(staging_name(NAME))
        if v.enabled and v.tags.get(T.ROTATION_ID) == "r-stopped"
    ]


@pytest.mark.parametrize("force", [True, False], ids=["rotation", "not-due"])
def test_a_soft_deleted_companion_with_an_open_candidate_stops_every_run(
    target: FakeTarget, force: bool
) -> None:
    """The recycle bin is read only after a 404 and only where it matters: a run that stages
    learns of it from the staging write's 409, any other run reads it before returning."""
    store = make_store(expires_in_days=10 if force else 200)
    current = store.versions(NAME)[-1].version
    store.put_candidate(NAME, "applied-candidate", rotation_id="r-open", from_version=current)
    store.soft_delete(staging_name(NAME))
    events: list[str] = []
    engine = make_engine(store, on_outcome=lambda event, outcome: events.append(event))
    with pytest.raises(CompanionDeleted, match="recover"):
        engine.run(request(store, force=force))
    assert events == ["failed"]
    assert len(store.versions(NAME)) == 1 and staging_name(NAME) not in store.secrets
    assert target.logins == {"app": {"initial-password"}}, "the target was touched"


def test_a_soft_deleted_finished_companion_names_the_recover_and_purge_commands(
    target: FakeTarget,
) -> None:
    store = make_store()
    companion = _rotate_once(store)
    store.soft_delete(companion)
    before = dict(target.logins)
    with pytest.raises(ConfigurationError) as raised:
        make_engine(store).run(request(store, force=True))
    assert not isinstance(raised.value, CompanionDeleted)
    message = str(raised.value)
    assert "az keyvault secret recover" in message and "az keyvault secret purge" in message
    assert len(store.versions(NAME)) == 2 and target.logins == before


def test_retire_uses_the_value_read_at_the_start(target: FakeTarget) -> None:
    """Alternating: the version a rotation replaced is the one it read first, and a version's
    value never changes, so retire does not read it again."""
    store = make_store("alternating")
    reads: list[tuple[str, str | None]] = []
    original = store.read

    def counting(name: str, version: str | None = None) -> Any:
        reads.append((name, version))
        return original(name, version)

    store.read = counting  # type: ignore[method-assign]
    outcome = make_engine(store).run(request(store))
    assert outcome.status is Status.ROTATED
    assert [r for r in reads if r[0] == NAME and r[1] is not None] == []
    assert target.works(current_credential(store))


def test_status_readers_take_a_committed_candidate_as_finished(target: FakeTarget) -> None:
    """The single-secret status and the fleet page see the companion the last rotation left
    (enabled, stage still open) as finished; a candidate that needs work still shows."""
    store = make_store()
    _rotate_once(store)
    registry = RotatorRegistry()
    registry.register(FakeRotator)
    context = FleetContext(registry=registry, now=NOW)

    def fleet_row() -> dict[str, Any]:
        page = vault_status(store, context)
        assert page["orphan_staged"] == []
        return next(e for e in page["secrets"] if e["secret_name"] == NAME)

    assert "staged" not in secret_status(store, NAME, registry)
    row = fleet_row()
    assert row["staged"] is None and row["health"] != "failing"

    current = store.versions(NAME)[-1]
    store.put_candidate(NAME, "unfinished", rotation_id="r-next", from_version=current.version)
    staged = secret_status(store, NAME, registry)["staged"]
    assert staged["rotation_id"] == "r-next" and staged["current"] is True
    row = fleet_row()
    assert row["staged"]["rotation_id"] == "r-next" and row["health"] == "failing"


class _Propagating(FakeRotator):
    """A target that refuses a new credential for its first ``refusals`` logins (an
    identity provider replicating a new client secret), with a rotator that says so."""

    kind = "propagating"
    verify_patience_seconds = 20.0
    refusals: ClassVar[int] = 0

    def verify(self, credential: Credential) -> None:
        if credential.password != "initial-password" and type(self).refusals > 0:
            type(self).refusals -= 1
            raise VerificationFailed("not yet")
        super().verify(credential)


def backing_off(
    store: MemoryStore, registry: RotatorRegistry, sleeps: list[float]
) -> RotationEngine:
    """An engine that verifies twice at least, backing off from 0.5 s into ``sleeps``."""
    return RotationEngine(
        lambda url: store,
        registry,
        InProcessLocks(),
        settings=EngineSettings(verify_attempts=2, verify_backoff_seconds=0.5),
        clock=lambda: NOW,
        sleep=sleeps.append,
    )


def test_a_rotator_s_patience_keeps_a_propagating_candidate(target: FakeTarget) -> None:
    """Multiple strategy, two attempts configured: the candidate is accepted on the sixth
    login, after 15.5 s of back-off, inside the rotator's 20 s of patience. Without it the
    candidate would be discarded (and a new one minted by the next run)."""
    store = make_store("multiple", 10, **{T.ROTATOR: "propagating"})
    registry = RotatorRegistry()
    registry.register(_Propagating)
    _Propagating.refusals = 5
    sleeps: list[float] = []
    engine = backing_off(store, registry, sleeps)
    outcome = engine.run(request(store, trigger=Trigger.SWEEP))
    assert outcome.status is Status.ROTATED, outcome
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert "verified the candidate by logging in (attempt 6)" in outcome.steps

    _Propagating.refusals = 1_000
    target.logins["app"] = {"initial-password"}
    store = make_store("multiple", 10, **{T.ROTATOR: "propagating"})
    sleeps.clear()
    engine = backing_off(store, registry, sleeps)
    with pytest.raises(VerificationFailed):
        engine.run(request(store, trigger=Trigger.SWEEP))
    assert sum(sleeps) >= _Propagating.verify_patience_seconds and max(sleeps) <= 30


@pytest.mark.parametrize("applied", [True, False], ids=["on-the-target", "not-applied"])
def test_a_resumed_candidate_that_today_s_rules_refuse_is_committed_only_if_it_logs_in(
    target: FakeTarget, applied: bool
) -> None:
    """A ``pending`` candidate staged before the rules refused ``\u00b2``: if the target
    already runs on it (single: the current version is dead), it is committed; if not, it is
    refused as a new candidate would be, and nothing changes."""
    store = make_store()
    first = store.versions(NAME)[-1]
    odd = "Abcdefgh12345678\u00b2xyz"
    store.put_candidate(NAME, odd, rotation_id="r-old-rules", from_version=first.version)
    staged = store.versions(staging_name(NAME))[-1]
    staged.tags[T.STAGE] = "pending"
    if applied:
        target.logins["app"] = {odd}
        outcome = make_engine(store).run(request(store, force=True))
        assert outcome.status is Status.ROTATED
        assert current_credential(store).password == odd
    else:
        with pytest.raises(ConfigurationError, match="U\\+00B2"):
            make_engine(store).run(request(store, force=True))
        assert target.logins["app"] == {"initial-password"}
        assert len(store.versions(NAME)) == 1


def test_a_stale_candidate_is_kept_when_nothing_logs_in(target: FakeTarget) -> None:
    """Neither the stale candidate nor the hand-written version works: the candidate may still
    be propagating to the target, so it is kept (not disabled) for an operator."""
    store = make_store()
    first = store.versions(NAME)[-1]
    store.put_candidate(NAME, "maybe-later", rotation_id="r-stopped", from_version=first.version)
    target.logins["app"] = {"what-the-target-has"}
    store.put_login(NAME, "app", "operator-typo", tags=first.tags, expires_on=NOW)
    with pytest.raises(RotationConflict, match="candidate is kept"):
        make_engine(store).run(request(store, force=True))
    staged = store.versions(staging_name(NAME))[-1]
    assert staged.enabled and staged.tags[T.STAGE] == "applied"


class _LapsingLocks:
    """Locks whose lease lapses while the rotator is inside ``apply`` (renewals failed)."""

    held: ClassVar[HeldLock | None] = None

    @contextlib.contextmanager
    def hold(self, vault_url: str, secret_name: str) -> Iterator[HeldLock]:
        held = HeldLock(secret_name)
        _LapsingLocks.held = held
        yield held


class _SlowMinter(FakeRotator):
    """A target that issues the credential (an API key) and answers after the lease lapsed."""

    kind = "slow-minter"

    def apply(self, current: Credential, candidate: Credential) -> Credential:
        minted = Credential(password="minted-key", username="app", extra={"key_id": "k1"})
        self.target_state.logins.setdefault("app", set()).add(minted.password)
        assert _LapsingLocks.held is not None
        _LapsingLocks.held.mark_lost()
        return minted

    def discard(self, candidate: Credential, current: Credential) -> None:
        self.target_state.logins["app"].discard(candidate.password)


def test_a_credential_issued_after_the_lock_lapsed_is_revoked(target: FakeTarget) -> None:
    """Another run may own the rotation now, so the minted key cannot be staged; it must
    not be left live with no vault version holding it: the rotator revokes it."""
    store = make_store("multiple", 10, **{T.ROTATOR: "slow-minter"})
    registry = RotatorRegistry()
    registry.register(_SlowMinter)
    engine = RotationEngine(lambda url: store, registry, _LapsingLocks(), clock=lambda: NOW)
    with pytest.raises(LockLost):
        engine.run(request(store, trigger=Trigger.SWEEP))
    assert target.logins["app"] == {"initial-password"}
    assert len(store.versions(NAME)) == 1
