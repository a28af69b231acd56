"""The ``random`` rotator: the contract suite where it applies, and its own checks.

There is no target, so "can log in" means "is a value the policy allows" (checked with the
policy, not the rotator). Contract checks that do not apply, and why:

* wrong password rejected / hostile user names / old value stops working: any value that
  satisfies the policy is as good as another and there are no logins or user names, so
  nothing can reject an old or "wrong" value; policy violations are rejected instead (below).
* down target / wrong admin: there is neither (the base class skips them by itself).
* secret leaks: run in an adapted form (a policy violation instead of a wrong password).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest

from rotation.credential import Credential
from rotation.errors import ConfigurationError, VerificationFailed
from rotation.policy import PasswordPolicy
from rotation.registry import RotatorRegistry
from rotation.rotator import Rotator, RotatorContext, Strategy
from rotation.testing import LeakWatch, RotatorContract
from rotators.random_secret import RandomSecretRotator

POLICY = RandomSecretRotator.default_policy


class TestRandomSecretContract(RotatorContract):
    rotator = RandomSecretRotator

    @pytest.fixture
    def target(self) -> None:
        return None

    @pytest.fixture
    def login_factory(self) -> Callable[[str], Credential]:
        return lambda name: Credential(password=POLICY.generate(), username=name)

    def can_login(self, credential: Credential) -> bool:
        return POLICY.satisfied_by(credential.password)

    def test_verify_rejects_wrong_password(self) -> None:  # type: ignore[override]
        pytest.skip("no target: any value the policy allows is valid (see module docstring)")

    def test_single_old_password_stops_working(self) -> None:  # type: ignore[override]
        pytest.skip("no target: the old value lives on only in the vault's history")

    def test_hostile_username_is_never_injected(self) -> None:
        pytest.skip("no target and no user names: nothing to inject into")

    def test_secrets_never_leak(  # type: ignore[override]
        self,
        context: RotatorContext,
        rotator_for: Callable[[RotatorContext], Rotator],
        initial_credential: Credential,
        leak_watch: LeakWatch,
    ) -> None:
        rotator = rotator_for(context)
        candidate = rotator.generate(initial_credential)
        leak_watch.secret(initial_credential.password, candidate.password)
        leak_watch.text(repr(rotator))
        leak_watch.text(repr(candidate))
        assert leak_watch.call(lambda: rotator.apply(initial_credential, candidate)) is None
        assert leak_watch.call(lambda: rotator.verify(candidate)) is None
        assert leak_watch.call(lambda: rotator.retire(initial_credential, candidate)) is None
        short = candidate.with_password(candidate.password[:40])
        leak_watch.secret(short.password)
        assert isinstance(leak_watch.call(lambda: rotator.verify(short)), VerificationFailed)
        leak_watch.check()


def context_for(
    *,
    target: str | None = None,
    strategy: Strategy = Strategy.SINGLE,
    policy: PasswordPolicy = POLICY,
) -> RotatorContext:
    return RotatorContext(
        secret_name="webhook-key", target=target, strategy=strategy, policy=policy
    )


def test_default_policy_is_long_with_symbols() -> None:
    assert POLICY.length >= 64
    assert POLICY.symbols > 0
    value = POLICY.generate()
    assert any(c in POLICY.symbol_set for c in value)


def test_class_attributes() -> None:
    assert RandomSecretRotator.kind == "random"
    assert not RandomSecretRotator.requires_target
    assert not RandomSecretRotator.requires_admin
    registry = RotatorRegistry()
    registry.register(RandomSecretRotator)
    assert registry.get("random") is RandomSecretRotator


def test_target_is_refused() -> None:
    with pytest.raises(ConfigurationError) as raised:
        RandomSecretRotator.check_config(context_for(target="127.0.0.1:6379"))
    assert raised.value.tag == "rotation-target"


@pytest.mark.parametrize("strategy", [Strategy.ALTERNATING, Strategy.MULTIPLE])
def test_other_strategies_are_refused(strategy: Strategy) -> None:
    with pytest.raises(ConfigurationError) as raised:
        RandomSecretRotator(context_for(strategy=strategy))
    assert raised.value.tag == "rotation-strategy"


def test_bare_value_stays_bare() -> None:
    rotator = RandomSecretRotator(context_for())
    current = Credential.from_value(POLICY.generate(), json_format=False)
    applied = rotator.apply(current, rotator.generate(current))
    rotator.verify(applied)
    value = applied.to_value(json_format=False)
    assert value == applied.password and POLICY.satisfied_by(value)


def test_json_value_keeps_its_other_fields() -> None:
    rotator = RandomSecretRotator(context_for())
    stored = json.dumps({"password": POLICY.generate(), "key_id": "k1", "algorithm": "HS256"})
    current = Credential.from_value(stored, json_format=True)
    applied = rotator.apply(current, rotator.generate(current))
    rotator.verify(applied)
    body = json.loads(applied.to_value(json_format=True))
    assert body["key_id"] == "k1" and body["algorithm"] == "HS256"
    assert body["password"] == applied.password != current.password
    assert "username" not in body


@pytest.mark.parametrize(
    "value",
    [
        "",
        "a" * 64,  # no upper case, digits or symbols
        POLICY.generate()[:-1],  # too short
        POLICY.generate() + "A",  # too long
        POLICY.generate()[:-1] + " ",  # a character outside the policy
    ],
)
def test_verify_rejects_policy_violations(value: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    rotator = RandomSecretRotator(context_for())
    with pytest.raises(VerificationFailed) as raised:
        rotator.verify(Credential(password=value))
    if value:
        assert value not in str(raised.value) and value not in caplog.text


def test_tag_policy_is_what_verify_checks() -> None:
    policy = POLICY.overridden_by("length=32;symbols=0")
    rotator = RandomSecretRotator(context_for(policy=policy))
    candidate = rotator.generate(Credential(password="x"))
    assert len(candidate.password) == 32
    assert not any(c in POLICY.symbol_set for c in candidate.password)
    rotator.verify(candidate)
    with pytest.raises(VerificationFailed):
        rotator.verify(Credential(password=POLICY.generate()))
