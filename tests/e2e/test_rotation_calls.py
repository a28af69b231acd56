"""Key Vault calls per rotation, per strategy, counted by the emulator (issue 14): counts and
their order, never timings. One near-expiry event through function_app, no consumers.

The sequence is the protocol's (see README, "Benchmark"): each call is there for a reason the
hardening (issue 10) gives, so a change to it must be deliberate and update these numbers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from rotation import tags as T
from rotation.credential import Credential
from rotation.rotator import Strategy
from tests.e2e.catalogue_support import deliver_near_expiry, put_secret
from tests.e2e.conftest import AppUnderTest
from tests.engine.fakes import FakeRotator, FakeTarget

SINGLE = ["get", "get:staged", "get_deleted:staged", "set:staged", "get:staged", "get", "set"]
SINGLE += ["update:staged"]
#: Alternating and multiple read the previous version to retire it, then write the end state.
TWO_LOGINS = [*SINGLE, "get", "update"]


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


def _rotate(app: AppUnderTest, name: str) -> list[str]:
    with app.vault.stack.keyvault.recording() as calls:
        deliver_near_expiry(app)
    versions = app.versions(name)
    assert len(versions) == 2, "the rotation must have happened"
    return [_short(c, name) for c in calls if not c.challenge and c.operation]


def test_a_random_secret_rotates_in_eight_calls(app: AppUnderTest) -> None:
    put_secret(app, "counted-random", "initial-value", tags={T.ROTATOR: "random"})
    assert _rotate(app, "counted-random") == SINGLE


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
    name = f"counted-{strategy.value}"
    value = {"username": "app", "password": "initial-password"}
    put_secret(app, name, value, tags={T.ROTATOR: "counted", T.TARGET: "t", T.STRATEGY: strategy})
    assert _rotate(app, name) == expected
    current = json.loads(app.client.get_secret(name).value or "{}")
    assert CountedRotator.target_state.works(Credential(**current))
