"""The http-api-key rotator with the Datadog profile, against the emulated Datadog reached at
``https://api.datadoghq.com`` through the local stack's TLS proxy (real ``requests`` calls).

Runs the shared contract suite (with the tests whose assumptions do not fit minted keys
replaced, see each override) and the tests specific to minted keys.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import ClassVar

import pytest
import requests

from emulators.datadog import DatadogEmulator
from emulators.faults import FaultRule
from emulators.stack import AzureStack
from rotation.credential import Credential
from rotation.errors import ConfigurationError, TargetUnavailable, VerificationFailed
from rotation.policy import PasswordPolicy
from rotation.rotator import Rotator, RotatorContext, Strategy
from rotation.testing import (
    LeakWatch,
    RotatorContract,
    RotatorMaker,
    RotatorPool,
    free_port,
    unique_name,
)
from rotators.http_api_key.rotator import HttpApiKeyRotator

DATADOG = "https://api.datadoghq.com"


@pytest.fixture(scope="module")
def stack(azure_stack: AzureStack) -> AzureStack:
    """The session's local Azure stack (emulators.pytest_plugin), its env applied."""
    return azure_stack


@pytest.fixture(scope="module")
def datadog(stack: AzureStack) -> DatadogEmulator:
    """The stack's emulated Datadog at api.datadoghq.com."""
    return stack.datadog


@pytest.fixture(autouse=True)
def _no_faults_left(stack: AzureStack) -> Iterator[None]:
    yield
    stack.faults.clear()


@pytest.fixture
def org(datadog: DatadogEmulator) -> tuple[str, str]:
    """A fresh organization: its admin (API key, application key)."""
    return datadog.create_org(unique_name("org"))


def validate(key: str) -> bool:
    """Test code's own login: Datadog's validate endpoint, through the proxy."""
    response = requests.get(f"{DATADOG}/api/v1/validate", headers={"DD-API-KEY": key}, timeout=10)
    if response.status_code == 200 and response.json() == {"valid": True}:
        return True
    if response.status_code == 403 and response.json() == {"errors": ["Forbidden"]}:
        return False
    raise AssertionError(f"unexpected validate answer: HTTP {response.status_code}")


class TestHttpApiKeyDatadog(RotatorContract):
    """The contract suite for ``http-api-key`` with ``rotation-profile=datadog``."""

    rotator = HttpApiKeyRotator
    context_options: ClassVar[dict[str, str]] = {"profile": "datadog"}
    stack: AzureStack

    @pytest.fixture(autouse=True)
    def _bind_stack(self, stack: AzureStack) -> None:
        self.stack = stack

    @pytest.fixture
    def target(self, datadog: DatadogEmulator) -> str | None:
        return None  # the profile's own https://api.datadoghq.com

    @pytest.fixture
    def admin_credential(self, org: tuple[str, str]) -> Credential | None:
        return Credential(password=org[0], extra={"application_key": org[1]})

    @pytest.fixture
    def bad_admin_credential(self, org: tuple[str, str]) -> Credential | None:
        other = Credential(password=org[0], extra={"application_key": "0" * 40})
        return other

    @pytest.fixture
    def down_target(self) -> str | None:
        return f"http://127.0.0.1:{free_port()}"

    @pytest.fixture
    def login_factory(
        self, datadog: DatadogEmulator, org: tuple[str, str]
    ) -> Callable[[str], Credential]:
        def make(name: str) -> Credential:
            key, key_id = datadog.add_api_key(org[0], name)
            return Credential(password=key, extra={"key_id": key_id, "key_name": name})

        return make

    def can_login(self, credential: Credential) -> bool:
        return validate(credential.password)

    # -- overrides: the target mints the key, so generate returns an intent ------------------

    @pytest.mark.parametrize("policy", [None], ids=["default"])
    def test_generate_respects_policy(
        self, rotator_under_test: Rotator, policy: str | None
    ) -> None:
        """Replaced: no password is drawn; generate returns a unique intent and sends nothing."""
        rotator = rotator_under_test
        current = Credential(
            password="k", username=None, extra={"k": "v", "key_id": "old", "last4": "abcd"}
        )
        intents = [rotator.generate(current) for _ in range(5)]
        for intent in intents:
            assert intent.password == ""
            assert "key_id" not in intent.extra and "last4" not in intent.extra
            assert intent.extra["k"] == "v"
            name = intent.extra["key_name"]
            assert name.startswith(f"rotation-{rotator.context.secret_name}-")
            assert len(name) <= 100
        assert len({i.extra["key_name"] for i in intents}) == len(intents)

    def test_apply_twice_is_idempotent(  # type: ignore[override]
        self, fresh_rotator: Callable[[], Rotator], initial_credential: Credential
    ) -> None:
        """Replaced: the engine stages the minted credential at once, so a retry passes the
        minted credential back; apply returns it unchanged and mints nothing."""
        rotator = fresh_rotator()
        intent = rotator.generate(initial_credential)
        minted = rotator.apply(initial_credential, intent)
        again = fresh_rotator().apply(initial_credential, minted)
        assert again == minted
        assert again.password == minted.password
        rotator.verify(again)
        assert self.can_login(again)
        assert self.can_login(initial_credential)

    def test_secrets_never_leak(  # type: ignore[override]
        self,
        context: RotatorContext,
        rotator_under_test: Rotator,
        rotator_for: RotatorMaker,
        bad_admin_context: RotatorContext,
        down_context: RotatorContext,
        initial_credential: Credential,
        leak_watch: LeakWatch,
    ) -> None:
        """Replaced: the same checks, following the minted key instead of a drawn password,
        plus a throttled and a failing target."""
        assert context.admin is not None and bad_admin_context.admin is not None
        rotator = rotator_under_test
        leak_watch.secret(
            initial_credential.password,
            context.admin.password,
            str(context.admin.extra["application_key"]),
            str(bad_admin_context.admin.extra["application_key"]),
        )
        intent = rotator.generate(initial_credential)
        minted: list[Credential] = []
        assert (
            leak_watch.call(lambda: minted.append(rotator.apply(initial_credential, intent)))
            is None
        )
        leak_watch.secret(minted[0].password)
        leak_watch.text(repr(minted[0]))
        leak_watch.text(repr(rotator))
        leak_watch.text(repr(context))
        assert leak_watch.call(lambda: rotator.verify(minted[0])) is None
        assert leak_watch.call(lambda: rotator.retire(initial_credential, minted[0])) is None
        for refused in (initial_credential, minted[0].with_password("f" * 32)):
            error = leak_watch.call(lambda c=refused: rotator.verify(c))  # type: ignore[misc]
            assert isinstance(error, VerificationFailed)
        bad = rotator_for(bad_admin_context)
        error = leak_watch.call(lambda: bad.apply(minted[0], bad.generate(minted[0])))
        assert isinstance(error, ConfigurationError)
        down = rotator_for(down_context)
        error = leak_watch.call(lambda: down.apply(minted[0], down.generate(minted[0])))
        assert isinstance(error, TargetUnavailable)
        error = leak_watch.call(lambda: down.verify(minted[0]))
        assert isinstance(error, TargetUnavailable)
        self.stack.faults.add(FaultRule(host="api.datadoghq.com", status=500, times=None))
        error = leak_watch.call(lambda: rotator.verify(minted[0]))
        assert isinstance(error, TargetUnavailable)
        leak_watch.check()


# -- minted-key specifics ---------------------------------------------------------------------


@pytest.fixture
def admin(org: tuple[str, str]) -> Credential:
    return Credential(password=org[0], extra={"application_key": org[1]})


@pytest.fixture
def rotators() -> Iterator[Callable[..., HttpApiKeyRotator]]:
    pool = RotatorPool()

    def make(
        admin: Credential | None, *, target: str | None = None, secret: str | None = None
    ) -> HttpApiKeyRotator:
        context = RotatorContext(
            secret_name=secret or unique_name("secret").replace("_", "-"),
            target=target,
            strategy=Strategy.MULTIPLE,
            policy=PasswordPolicy(),
            admin=admin,
            options={"profile": "datadog"},
        )
        HttpApiKeyRotator.check_config(context)
        return pool.add(HttpApiKeyRotator(context))

    yield make
    pool.close()


@pytest.fixture
def admin_rotator(
    rotators: Callable[..., HttpApiKeyRotator], admin: Credential
) -> HttpApiKeyRotator:
    """A rotator of a fresh secret with the organization's admin keys."""
    return rotators(admin)


@pytest.fixture
def current(datadog: DatadogEmulator, org: tuple[str, str]) -> Credential:
    key, key_id = datadog.add_api_key(org[0], unique_name("app-key"))
    return Credential(password=key, extra={"key_id": key_id})


def test_full_rotation_shape(
    admin_rotator: HttpApiKeyRotator,
    current: Credential,
    datadog: DatadogEmulator,
    org: tuple[str, str],
) -> None:
    intent = admin_rotator.generate(current)
    minted = admin_rotator.apply(current, intent)
    assert minted.password and minted.password != current.password
    assert minted.extra["key_name"] == intent.extra["key_name"]
    assert minted.extra["last4"] == minted.password[-4:]
    assert minted.extra["key_id"] != current.extra["key_id"]
    assert intent.extra["key_name"] in datadog.key_names(org[0])
    admin_rotator.verify(minted)
    assert validate(current.password), "the old key lives until retired"
    admin_rotator.retire(current, minted)
    assert not validate(current.password)
    assert validate(minted.password)
    with pytest.raises(VerificationFailed):
        admin_rotator.verify(current)


def test_lost_create_answer_revokes_the_orphan(
    rotators: Callable[..., HttpApiKeyRotator],
    admin: Credential,
    current: Credential,
    datadog: DatadogEmulator,
    org: tuple[str, str],
) -> None:
    rotator = rotators(admin)
    intent = rotator.generate(current)
    name = intent.extra["key_name"]
    datadog.lose_next_response("create_api_key")
    with pytest.raises(TargetUnavailable):
        rotator.apply(current, intent)
    assert datadog.key_names(org[0]).count(name) == 1, "the key was minted, its answer lost"
    minted = rotators(admin, secret=rotator.context.secret_name).apply(current, intent)
    assert datadog.key_names(org[0]).count(name) == 1, "the orphan was revoked, one key left"
    assert validate(minted.password)
    assert validate(current.password)


def test_retire_is_idempotent_and_spares_the_new_key(
    rotators: Callable[..., HttpApiKeyRotator], admin: Credential, current: Credential
) -> None:
    rotator = rotators(admin)
    minted = rotator.apply(current, rotator.generate(current))
    rotator.retire(current, minted)
    rotator.retire(current, minted)  # 404: already revoked
    rotators(admin).retire(current, minted)
    rotator.retire(minted, minted)  # same key id: never revoked
    assert validate(minted.password)


def test_retire_by_name_when_the_id_is_missing(
    admin_rotator: HttpApiKeyRotator, current: Credential
) -> None:
    first = admin_rotator.apply(current, admin_rotator.generate(current))
    second = admin_rotator.apply(first, admin_rotator.generate(first))
    without_id = Credential(password=first.password, extra={"key_name": first.extra["key_name"]})
    admin_rotator.retire(without_id, second)
    assert not validate(first.password)
    assert validate(second.password)


def test_retire_without_id_or_name_warns_and_keeps_the_key(
    admin_rotator: HttpApiKeyRotator, current: Credential, caplog: pytest.LogCaptureFixture
) -> None:
    minted = admin_rotator.apply(current, admin_rotator.generate(current))
    bare = Credential(password=current.password)
    with caplog.at_level(logging.WARNING):
        admin_rotator.retire(bare, minted)
    assert "revoke it by hand" in caplog.text
    assert validate(current.password)


def test_throttled_call_is_retried_once_after_retry_after(
    admin_rotator: HttpApiKeyRotator, current: Credential, stack: AzureStack
) -> None:
    rule = stack.faults.add(
        FaultRule(host="api.datadoghq.com", operation="create_api_key", status=429, retry_after=0)
    )
    minted = admin_rotator.apply(current, admin_rotator.generate(current))
    assert stack.faults.fired(rule) == 1
    assert validate(minted.password)


def test_throttled_twice_or_too_long_is_unavailable(
    admin_rotator: HttpApiKeyRotator, current: Credential, stack: AzureStack
) -> None:
    rule = stack.faults.add(FaultRule(host="api.datadoghq.com", status=429, retry_after=0, times=2))
    with pytest.raises(TargetUnavailable, match="HTTP 429"):
        admin_rotator.verify(current)
    assert stack.faults.fired(rule) == 2
    stack.faults.add(FaultRule(host="api.datadoghq.com", status=429, retry_after=3600))
    with pytest.raises(TargetUnavailable, match="3600"):
        admin_rotator.verify(current)


@pytest.mark.parametrize(
    "rule",
    [
        FaultRule(host="api.datadoghq.com", status=503, times=None),
        FaultRule(host="api.datadoghq.com", drop=True, times=None),
    ],
    ids=["503", "dropped"],
)
def test_failing_service_is_unavailable(
    rotators: Callable[..., HttpApiKeyRotator],
    admin: Credential,
    current: Credential,
    stack: AzureStack,
    datadog: DatadogEmulator,
    org: tuple[str, str],
    rule: FaultRule,
) -> None:
    rotator = rotators(admin)
    before = datadog.key_names(org[0])
    stack.faults.add(FaultRule(**{**rule.__dict__, "id": 0}))
    with pytest.raises(TargetUnavailable) as raised:
        rotator.apply(current, rotator.generate(current))
    assert raised.value.retryable
    with pytest.raises(TargetUnavailable):
        rotator.retire(current, Credential(password="n", extra={"key_id": "other"}))
    stack.faults.clear()
    assert datadog.key_names(org[0]) == before


def test_missing_admin_field_is_a_configuration_error(
    rotators: Callable[..., HttpApiKeyRotator], org: tuple[str, str], current: Credential
) -> None:
    rotator = rotators(Credential(password=org[0]))
    with pytest.raises(ConfigurationError, match="application_key") as raised:
        rotator.apply(current, rotator.generate(current))
    assert raised.value.tag == "rotation-admin-secret"
    assert org[0] not in str(raised.value)
    with pytest.raises(ConfigurationError, match="admin secret"):
        rotators(None).apply(current, rotator.generate(current))


def test_eu_site_through_rotation_target(
    rotators: Callable[..., HttpApiKeyRotator], admin: Credential, current: Credential
) -> None:
    rotator = rotators(admin, target="https://api.datadoghq.eu")
    assert rotator.base_url == "https://api.datadoghq.eu"
    minted = rotator.apply(current, rotator.generate(current))
    rotator.verify(minted)


@pytest.mark.parametrize(
    ("options", "target", "strategy", "tag"),
    [
        ({}, None, Strategy.MULTIPLE, "rotation-profile"),
        ({"profile": "nope"}, None, Strategy.MULTIPLE, "rotation-profile"),
        ({"profile": "datadog"}, "http://api.datadoghq.com", Strategy.MULTIPLE, "rotation-target"),
        ({"profile": "datadog"}, None, Strategy.SINGLE, "rotation-strategy"),
    ],
    ids=["no-profile", "unknown-profile", "plain-http-target", "single-strategy"],
)
def test_check_config_refuses(
    options: dict[str, str], target: str | None, strategy: Strategy, tag: str
) -> None:
    context = RotatorContext(
        secret_name="s1", target=target, strategy=strategy, policy=PasswordPolicy(), options=options
    )
    with pytest.raises(ConfigurationError) as raised:
        HttpApiKeyRotator.check_config(context)
    assert raised.value.tag == tag
    assert raised.value.secret == "s1"
