"""Key Vault calls per rotation, per strategy, counted by the emulator (issue 14): counts and
their order, never timings. Near-expiry events through function_app, no consumers.

The sequence is the protocol's (see README, "The protocol" and "Benchmark"; docs/rotators.md
"Key Vault calls per rotation"), and each call is there for a reason the hardening (issue 10)
gives, so a change to it must be deliberate and update these numbers:

1. ``get``: the current version;
2. ``get:staged``: the companion (ownership check, a candidate to resume); a 404 does not
   lead to the recycle bin, since the staging write below answers 409 exactly when the
   companion is soft-deleted;
3. ``set:staged``: the candidate, durable before the target sees it;
4. ``get:staged``: the read-back that fences a lapsed lock (the newest candidate is ours);
5. ``get``: just before the commit (operator tags carried, the version unchanged);
6. ``set``: the commit, with the final state when nothing remains to confirm.

Nothing is written to the companion after the commit (the committed version's tags say
the candidate is committed), and the version a rotation replaced is not read again, so the
second and later rotations cost what the first does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from azure.functions.timer import TimerRequest

from emulators.stack import AzureStack
from rotation import tags as T
from rotation.credential import Credential
from rotation.rotator import Strategy
from rotation.vault import staging_name
from tests.e2e.catalogue_support import deliver_near_expiry, put_secret
from tests.e2e.conftest import AppUnderTest
from tests.e2e.consumer_support import WebAppConsumer, define_consumers, web_app_consumer
from tests.engine.fakes import FakeRotator, FakeTarget

SINGLE = ["get", "get:staged", "set:staged", "get:staged", "get", "set"]
#: Alternating and multiple commit the ``committed`` state, retire the previous credential
#: (its value is the one the run read first, so it is not read again), then write the end
#: state.
TWO_LOGINS = [*SINGLE, "update"]
#: What the protocol may cost at most, per strategy (issue 14: six for a single rotation).
MOST = {Strategy.SINGLE: 6, Strategy.ALTERNATING: 7, Strategy.MULTIPLE: 7}


class CountedRotator(FakeRotator):
    """An in-memory target, so that only Key Vault calls are counted."""

    kind = "counted"
    target_state: ClassVar[FakeTarget] = FakeTarget()


@pytest.fixture
def counted(app: AppUnderTest) -> Iterator[None]:
    CountedRotator.target_state = FakeTarget(logins={"app": {"initial-password"}})
    CountedRotator.target_state.logins["app_clone"] = {"initial-password"}
    app.service().registry.register(CountedRotator)
    yield
    CountedRotator.target_state = FakeTarget()


def _short(call: Any, name: str) -> str:
    op = {"get_secret": "get", "set_secret": "set", "update_secret": "update"}.get(
        call.operation, call.operation.replace("_secret", "")
    )
    return op if call.secret == name else f"{op}:staged"


def _rotate(app: AppUnderTest, name: str, versions: int) -> list[str]:
    """The calls of the rotation that makes ``versions`` versions: Key Vault's clock moves
    15 days at a time until the current version's near-expiry event comes (the engine dates
    a new version by the real clock, so a later rotation can take a few moves)."""
    calls: list[Any] = []
    for _ in range(8):
        with app.vault.stack.keyvault.recording() as recorded:
            deliver_near_expiry(app)
        calls += recorded
        if len(app.versions(name)) >= versions:
            break
    assert len(app.versions(name)) == versions, "the rotation must have happened"
    return [_short(c, name) for c in calls if not c.challenge and c.operation]


def test_a_random_secret_rotates_in_six_calls_every_time(app: AppUnderTest) -> None:
    put_secret(app, "counted-random", "initial-value", tags={T.ROTATOR: "random"})
    for rotation in (1, 2, 3):
        assert _rotate(app, "counted-random", rotation + 1) == SINGLE, f"rotation {rotation}"


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (Strategy.SINGLE, SINGLE),
        (Strategy.ALTERNATING, TWO_LOGINS),
        (Strategy.MULTIPLE, TWO_LOGINS),
    ],
)
def test_calls_per_strategy(
    app: AppUnderTest, counted: None, strategy: Strategy, expected: list[str]
) -> None:
    """The first and the second rotation of a secret cost the same (the second finds the
    first's committed candidate in the companion and leaves it)."""
    name = f"counted-{strategy.value}"
    value = {"username": "app", "password": "initial-password"}
    put_secret(app, name, value, tags={T.ROTATOR: "counted", T.TARGET: "t", T.STRATEGY: strategy})
    for rotation in (1, 2):
        calls = _rotate(app, name, rotation + 1)
        assert calls == expected, f"rotation {rotation}"
        assert len(calls) <= MOST[strategy]
        current = json.loads(app.client.get_secret(name).value or "{}")
        assert CountedRotator.target_state.works(Credential(**current)), f"rotation {rotation}"


def test_a_soft_deleted_companion_costs_a_call_only_when_the_write_meets_it(
    app: AppUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Key Vault answers the staging write 409 ``ObjectIsDeletedButRecoverable`` exactly when
    the companion is in the recycle bin; only then is the bin read. A finished candidate
    there schedules no sweep work; a rotation stops with the recover and purge commands and
    writes nothing; once purged, the rotation goes through."""
    name = "counted-deleted"
    put_secret(app, name, "initial-value", tags={T.ROTATOR: "random"})
    assert _rotate(app, name, 2) == SINGLE
    companion = staging_name(name)
    app.client.begin_delete_secret(companion).wait()

    monkeypatch.setenv("ROTATION_SWEEP_MODE", "inline")
    with app.vault.stack.keyvault.recording() as recorded:
        app.function("sweep")(TimerRequest(past_due=False))
    reads = [c.secret for c in recorded if c.operation == "get_secret"]
    assert reads == [], "a committed candidate in the recycle bin is no work"

    with app.vault.stack.keyvault.recording() as recorded:
        status, body = app.api("POST", name)
    calls = [(_short(c, name), c.status) for c in recorded if not c.challenge and c.operation]
    assert calls == [
        ("get", 200),
        ("get:staged", 404),
        ("set:staged", 409),
        ("get_deleted:staged", 200),
    ]
    assert status == 400, body
    message = body["error"]["message"]
    assert f"az keyvault secret recover --name {companion}" in message
    assert f"az keyvault secret purge --name {companion}" in message
    assert len(app.versions(name)) == 2

    app.client.purge_deleted_secret(companion)
    status, body = app.api("POST", name)
    assert status == 200, body
    assert len(app.versions(name)) == 3


#: With consumers the commit writes ``committed`` and the consumer check then writes the
#: state it found (an App Service check calls ARM, not Key Vault): one ``update`` more.
WITH_CONSUMER = [*SINGLE, "update"]
#: A later run (the sweep's re-check) after the consumer moved: the current version, the
#: companion, (alternating and multiple: the previous version, to retire it) and the end
#: state.
RECHECK = {
    Strategy.SINGLE: ["get", "get:staged", "update"],
    Strategy.ALTERNATING: ["get", "get:staged", "get", "update"],
    Strategy.MULTIPLE: ["get", "get:staged", "get", "update"],
}


@pytest.fixture
def web_apps(
    app: AppUnderTest, azure_stack: AzureStack, monkeypatch: pytest.MonkeyPatch
) -> dict[Strategy, WebAppConsumer]:
    """One App Service consumer per strategy, defined before the app's service is built."""
    webs = {s: web_app_consumer(azure_stack, app, f"consumed-{s.value}") for s in Strategy}
    define_consumers(
        monkeypatch, {f"web-{s.value}": web.definition(restart=False) for s, web in webs.items()}
    )
    return webs


@pytest.mark.parametrize("strategy", list(Strategy))
def test_calls_with_an_app_service_consumer(
    app: AppUnderTest,
    web_apps: dict[Strategy, WebAppConsumer],
    counted: None,
    strategy: Strategy,
) -> None:
    name = f"consumed-{strategy.value}"
    value = {"username": "app", "password": "initial-password"}
    tags = {
        T.ROTATOR: "counted",
        T.TARGET: "t",
        T.STRATEGY: strategy,
        T.CONSUMERS: f"web-{strategy.value}",
    }
    web = web_apps[strategy]
    web.resolve(put_secret(app, name, value, tags=tags))

    with app.vault.stack.keyvault.recording() as recorded:
        status, body = app.api("POST", name)
    assert status == 200 and body["state"] == "awaiting-consumers", body
    assert [_short(c, name) for c in recorded if not c.challenge and c.operation] == WITH_CONSUMER

    web.resolve(app.client.get_secret(name).properties.version)
    with app.vault.stack.keyvault.recording() as recorded:
        status, body = app.api("POST", name)
    assert status == 200 and body["state"] == "completed", body
    assert [_short(c, name) for c in recorded if not c.challenge and c.operation] == (
        RECHECK[strategy]
    )
