"""The sweep: the same due set as the straightforward scan, streamed, many vaults at once."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from rotation import tags as T
from rotation.config import is_managed
from rotation.errors import TargetUnavailable
from rotation.staging import needs_work
from rotation.states import OPEN_STAGES, UNFINISHED_STATES
from rotation.sweep import (
    DELETED_COMPANION,
    UNFINISHED_ROTATION,
    _Scan,
    deleted_companions,
    find_due,
    sweep,
)
from rotation.vault import SecretListing, staging_name
from tests.engine.fakes import MemoryStore

NOW = datetime(2026, 6, 1, tzinfo=UTC)
STATES = [*sorted(UNFINISHED_STATES), "done", None]
STAGES = [*sorted(OPEN_STAGES), "committed", "discarded"]


def is_due(expires_on: datetime | None) -> bool:
    return expires_on is None or expires_on - NOW <= timedelta(days=30)


def reference_find_due(
    vault_url: str, listings: Iterable[SecretListing]
) -> tuple[list[tuple[str, str | None, str]], int, int]:
    """The sweep's rules as first written: everything kept in memory, then sorted. A
    companion schedules its secret while its candidate is open and not committed by the
    secret's current version (rotation id and previous version)."""
    companions: dict[str, SecretListing] = {}
    managed: dict[str, SecretListing] = {}
    listed = 0
    for item in listings:
        listed += 1
        staged_for = item.tags.get(T.STAGED_FOR)
        if staged_for:
            if item.enabled and item.tags.get(T.STAGE) in OPEN_STAGES:
                companions[staged_for.lower()] = item
            continue
        if item.enabled and is_managed(item.tags):
            managed[item.name] = item
    due: list[tuple[str, str | None, str]] = []
    for name, item in sorted(managed.items()):
        companion = companions.get(name.lower())
        if companion is not None and needs_work(companion.tags, item.tags):
            reason = "unfinished rotation"
        elif item.tags.get(T.STATE) in UNFINISHED_STATES:
            reason = f"rotation {item.tags[T.STATE]}"
        elif is_due(item.expires_on):
            reason = "no expiry" if item.expires_on is None else "near expiry"
        else:
            continue
        due.append((name, item.version, reason))
    return due, listed, len(managed)


def random_vault(rng: random.Random, count: int) -> list[SecretListing]:
    """Managed and unmanaged secrets, some disabled, some with staged companions (open or
    closed, committed by the current version or not, some listed without their secret),
    names that prefix each other, long names."""
    stems = ["app", "app-1", "app-10", "api", "db", "db-rotation", "x" * 100, "y" * 120]
    names: set[str] = set()
    while len(names) < count:
        stem = rng.choice(stems)
        names.add(stem if rng.random() < 0.3 else f"{stem}-{rng.randrange(50)}")
    items: list[SecretListing] = []
    for name in names:
        tags: dict[str, str] = {}
        if rng.random() < 0.8:
            tags[T.ROTATOR] = "random"
        state = rng.choice(STATES)
        if state is not None and rng.random() < 0.3:
            tags[T.STATE] = state
        if rng.random() < 0.6:  # rotated before: its commit tags
            tags[T.ROTATION_ID] = f"r{rng.randrange(3)}"
            tags[T.PREVIOUS_VERSION] = f"p{rng.randrange(3)}"
        expires = rng.choice([None, NOW + timedelta(days=5), NOW + timedelta(days=200)])
        items.append(
            SecretListing(name, f"v-{name}", tags, rng.random() < 0.9, expires, content_type=None)
        )
        if rng.random() < 0.5:
            staged = {T.STAGED_FOR: name.upper() if rng.random() < 0.2 else name}
            staged[T.STAGE] = rng.choice(STAGES)
            staged[T.ROTATION_ID] = f"r{rng.randrange(3)}"
            staged[T.STAGED_FROM_VERSION] = f"p{rng.randrange(3)}"
            items.append(
                SecretListing(staging_name(name), "v-s", staged, rng.random() < 0.9, None, None)
            )
    for orphan in range(rng.randrange(3)):  # a candidate whose secret is gone
        items.append(
            SecretListing(
                f"gone-{orphan}-rotation-staged",
                "v",
                {T.STAGED_FOR: f"gone-{orphan}", T.STAGE: sorted(OPEN_STAGES)[0]},
                True,
                None,
                None,
            )
        )
    return items


def as_tuples(result: tuple[list, int, int]) -> tuple[list[tuple[str, str | None, str]], int, int]:  # type: ignore[type-arg]
    due, listed, managed = result
    return [(d.secret_name, d.version, d.reason) for d in due], listed, managed


@pytest.mark.parametrize("seed", range(40))
def test_streamed_scan_finds_what_the_full_scan_finds(seed: int) -> None:
    rng = random.Random(seed)
    items = random_vault(rng, rng.randrange(5, 120))
    in_name_order = sorted(items, key=lambda i: i.name.lower())  # as Key Vault lists
    expected = reference_find_due("https://v", in_name_order)

    def relist() -> list[SecretListing]:
        raise AssertionError("a listing in name order is read once")

    assert as_tuples(find_due("https://v", iter(in_name_order), is_due, relist)) == expected


@pytest.mark.parametrize("seed", range(20))
def test_any_listing_order_still_finds_every_due_secret(seed: int) -> None:
    rng = random.Random(1000 + seed)
    items = random_vault(rng, rng.randrange(5, 80))
    rng.shuffle(items)  # the fakes list in insertion order
    expected, listed, managed = reference_find_due("https://v", items)
    relisted = 0

    def relist() -> list[SecretListing]:
        nonlocal relisted
        relisted += 1
        return items

    assert as_tuples(find_due("https://v", iter(items), is_due, relist)) == (
        expected,
        listed,
        managed,
    )
    assert relisted <= 1


def test_the_scan_keeps_only_what_is_due() -> None:
    """Memory flat in N: 20,000 not-due secrets leave nothing behind but a short path."""
    scan = _Scan("https://v", is_due)

    def listing() -> Iterator[SecretListing]:
        for i in range(20_000):
            yield SecretListing(
                f"s{i:06d}", "v", {T.ROTATOR: "random"}, True, NOW + timedelta(days=99), None
            )
        yield SecretListing("z-due", "v", {T.ROTATOR: "random"}, True, None, None)

    for item in listing():
        scan.add(item)
    assert len(scan.path) <= 1 and not scan.remembered and not scan.open_candidates
    due, listed, managed = scan.result()
    assert [d.secret_name for d in due] == ["z-due"] and (listed, managed) == (20_001, 20_001)


def _rotated(i: int, *, days: int = 99) -> list[SecretListing]:
    """A managed secret rotated once, and its companion holding the committed candidate."""
    owner = {T.ROTATOR: "random", T.ROTATION_ID: f"r{i}", T.PREVIOUS_VERSION: f"p{i}"}
    staged = {
        T.STAGED_FOR: f"s{i:06d}",
        T.STAGE: "pending",
        T.ROTATION_ID: f"r{i}",
        T.STAGED_FROM_VERSION: f"p{i}",
    }
    return [
        SecretListing(f"s{i:06d}", None, owner, True, NOW + timedelta(days=days), None),
        SecretListing(staging_name(f"s{i:06d}"), None, staged, True, None, None),
    ]


def test_finished_companions_schedule_nothing_and_are_not_kept() -> None:
    """Every secret rotated once: each companion still says ``pending`` (nothing is written
    after a commit), and the owner's commit tags finish it; the scan keeps none of them."""
    scan = _Scan("https://v", is_due)
    for i in range(10_000):
        for item in _rotated(i):
            scan.add(item)
    assert len(scan.path) <= 1 and not scan.remembered and not scan.open_candidates
    due, listed, managed = scan.result()
    assert (due, listed, managed) == ([], 20_000, 10_000)


def test_a_companion_that_needs_work_schedules_its_secret() -> None:
    """Same rotation id but staged from the current version (re-staged after a moved
    commit), another rotation id, and a candidate listed before its (hashed) secret."""
    restaged = _rotated(1)
    restaged[1].tags[T.STAGED_FROM_VERSION] = "v-current"  # type: ignore[index]
    other = _rotated(2)
    other[1].tags[T.ROTATION_ID] = "r-other"  # type: ignore[index]
    long_name = "y" * 120
    hashed = [
        SecretListing(
            staging_name(long_name),
            None,
            {T.STAGED_FOR: long_name, T.STAGE: "applied", T.ROTATION_ID: "r9"},
            True,
            None,
            None,
        ),
        SecretListing(long_name, None, {T.ROTATOR: "random"}, True, NOW + timedelta(99), None),
    ]
    items = sorted([*restaged, *other, *_rotated(3), *hashed], key=lambda i: i.name.lower())
    due, _, _ = find_due("https://v", iter(items), is_due)
    assert [(d.secret_name, d.reason) for d in due] == [
        ("s000001", UNFINISHED_ROTATION),
        ("s000002", UNFINISHED_ROTATION),
        (long_name, UNFINISHED_ROTATION),
    ]


def test_a_deleted_companion_counts_only_while_its_candidate_needs_work() -> None:
    """The recycle bin's companions are judged by their owner's listing: a committed one is
    left alone, an open one queues its owner with the version it replaces."""
    finished = _rotated(1)
    open_one = _rotated(2)
    open_one[1].tags[T.ROTATION_ID] = "r-crashed"  # type: ignore[index]
    gone = SecretListing(
        staging_name("gone"),
        None,
        {T.STAGED_FOR: "gone", T.STAGE: "applied", T.STAGED_FROM_VERSION: "g1"},
        True,
        None,
        None,
    )
    forged = SecretListing(
        staging_name("forged"),
        None,
        {T.STAGED_FOR: "evil\nsweep: forged line", T.STAGE: "applied"},
        True,
        None,
        None,
    )
    huge = SecretListing(
        staging_name("huge"),
        None,
        {T.STAGED_FOR: "a" * 120 + "\ud800", T.STAGE: "applied"},
        True,
        None,
        None,
    )
    deleted = deleted_companions([finished[1], open_one[1], gone, forged, huge])
    live = sorted([finished[0], open_one[0], *_rotated(3)], key=lambda i: i.name.lower())
    due, _, _ = find_due("https://v", iter(live), is_due, deleted=deleted)
    assert [(d.secret_name, d.version, d.reason) for d in due] == [
        ("gone", "g1", DELETED_COMPANION),
        ("s000002", "p2", DELETED_COMPANION),
    ]


class _Store(MemoryStore):
    def __init__(self, url: str, lister: Callable[[], Iterator[SecretListing]] | None = None):
        super().__init__(url)
        self._lister = lister

    def list(self) -> Iterator[SecretListing]:
        return self._lister() if self._lister else super().list()


def _due_store(url: str, *names: str) -> _Store:
    store = _Store(url)
    for name in names:
        store.write(name, "v", tags={T.ROTATOR: "random"}, content_type=None, expires_on=None)
    return store


def test_a_failing_vault_does_not_stop_the_others() -> None:
    def unavailable() -> Iterator[SecretListing]:
        yield from ()
        raise TargetUnavailable("Key Vault https://down (list): service answered 503")

    def broken() -> Iterator[SecretListing]:
        yield SecretListing("half", "v", {T.ROTATOR: "random"}, True, None, None)
        raise KeyError("a bug")

    stores = [
        _due_store("https://a", "a1", "a2"),
        _Store("https://down", unavailable),
        _Store("https://broken", broken),
        _due_store("https://b", "b1"),
    ]
    report = sweep(iter(stores), is_due)
    assert [(d.vault_url, d.secret_name) for d in report.due] == [
        ("https://a", "a1"),
        ("https://a", "a2"),
        ("https://b", "b1"),
    ]
    assert set(report.failed_vaults) == {"https://down", "https://broken"}
    assert "503" in report.failed_vaults["https://down"]
    assert (report.listed, report.managed) == (3, 3)


def test_vaults_are_listed_concurrently_with_a_bound() -> None:
    running = 0
    peak = 0
    lock = threading.Lock()
    slow_started = threading.Event()
    others_done = threading.Event()
    done = 0

    def counted(body: Callable[[], None]) -> Callable[[], Iterator[SecretListing]]:
        def lister() -> Iterator[SecretListing]:
            nonlocal running, peak, done
            with lock:
                running += 1
                peak = max(peak, running)
            try:
                body()
                yield SecretListing("s", "v", {T.ROTATOR: "random"}, True, None, None)
            finally:
                with lock:
                    running -= 1
                    done += 1
                    if done == 8:
                        others_done.set()

        return lister

    def slow() -> None:
        slow_started.set()
        # Held until every other vault is done: a sequential sweep would never get there.
        assert others_done.wait(10), "the other vaults waited for the slow one"

    def quick() -> None:
        time.sleep(0.02)

    stores = [_Store("https://slow", counted(slow))]
    stores += [_Store(f"https://q{i}", counted(quick)) for i in range(8)]
    report = sweep(stores, is_due)
    assert slow_started.is_set() and not report.failed_vaults
    assert [d.vault_url for d in report.due] == [s.vault_url for s in stores]  # in given order
    assert 2 <= peak <= 4
