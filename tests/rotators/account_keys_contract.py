"""The shared contract suite for the account-key rotators (``storage-account-key``,
``cosmos-db-key``), with the tests whose assumptions do not fit keys that Azure mints
replaced (each override says why). A subclass (``Test...`` in a ``test_`` module) sets the
hooks below; the rest is the same for both kinds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest

from emulators.arm import ArmEmulator
from emulators.arm.keys import KeyRing
from emulators.faults import FaultRule
from emulators.identity import ManagedIdentity
from emulators.stack import AzureStack
from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import ConfigurationError, TargetUnavailable, VerificationFailed
from rotation.rotator import Rotator, RotatorContext, Strategy
from rotation.testing import LeakWatch, RotatorContract
from rotators._account_keys import AccountKeyRotator
from rotators._arm_accounts import connection_string_key
from tests.support.own_stack import FAST_SDK
from tests.support.rotator_tests import assert_unavailable_while_down


def key_value(credential: Credential) -> str:
    """The key in a credential's value (bare, or a connection string's AccountKey)."""
    return connection_string_key(credential.password) or credential.password


def environment_for(role: str, subscription: str, group: str) -> Callable[..., Any]:
    """An autouse fixture: a fresh identity with ``role`` on resource group ``group`` of
    ``subscription`` as AZURE_CLIENT_ID; fault rules cleared afterwards."""
    scope = f"/subscriptions/{subscription}/resourceGroups/{group}"

    @pytest.fixture(autouse=True)
    def environment(
        stack: AzureStack, arm: ArmEmulator, monkeypatch: pytest.MonkeyPatch
    ) -> Iterator[ManagedIdentity]:
        identity = stack.identity.add_identity()
        arm.assign_role(scope, identity.principal_id, role)
        monkeypatch.setenv("AZURE_CLIENT_ID", identity.client_id)
        yield identity
        stack.faults.clear()

    return environment


class AccountKeyContract(RotatorContract):
    """The contract suite for an :class:`AccountKeyRotator` against the ARM emulator.

    Subclasses set ``rotator``, ``provider`` (the emulator's part: ``storage``, ``cosmos``),
    ``scope`` (subscription and group of the accounts), ``data_host`` (``{}`` is the
    account name), ``accepts`` (the test's own data-plane check) and, for another pair than
    the rotator's default, ``pair``.
    """

    rotator: ClassVar[type[AccountKeyRotator]]
    provider: ClassVar[str]
    scope: ClassVar[tuple[str, str]]
    data_host: ClassVar[str]
    accepts: ClassVar[Callable[[str, str], bool]]
    pair: ClassVar[tuple[str, str] | None] = None
    arm: ArmEmulator
    stack: AzureStack
    #: The account of the running test (made by the ``target`` fixture).
    account: str

    @property
    def keys(self) -> tuple[str, str]:
        """The pair under test."""
        return self.pair or self.rotator.account.key_names

    def ring(self) -> KeyRing:
        """The test account's keys, as the emulator holds them."""
        found = getattr(self.arm, self.provider).find(self.target_tag or "")
        assert found is not None
        ring: KeyRing = found.keys
        return ring

    def can_login(self, credential: Credential) -> bool:
        key = key_value(credential)
        if not AccountKeyRotator.looks_like_key(key):
            return False  # not base64: the SDKs cannot even sign with it
        return type(self).accepts(self.account, key)

    # -- fixtures ---------------------------------------------------------------------------

    @pytest.fixture(autouse=True)
    def _bind_arm(self, arm: ArmEmulator, stack: AzureStack) -> None:
        self.arm, self.stack = arm, stack

    @pytest.fixture
    def target(self, arm: ArmEmulator) -> str:
        self.account = "acct" + uuid.uuid4().hex[:16]
        return str(getattr(arm, self.provider).create(*self.scope, self.account).id)

    @pytest.fixture
    def login_factory(self, target: str, arm: ArmEmulator) -> Callable[[str], Credential]:
        def make(name: str) -> Credential:
            # The "login" is a key of the account; a name that is no key is kept as given.
            held = name if name in self.keys else self.keys[0]
            found = getattr(arm, self.provider).find(target)
            return Credential(password=found.keys.value(held), username=name)

        return make

    @pytest.fixture
    def initial_credential(self, login_factory: Callable[[str], Credential]) -> Credential:
        return login_factory(self.keys[0])

    # -- overrides --------------------------------------------------------------------------

    def test_generate_respects_policy(
        self, context: RotatorContext, rotator_for: Callable[[RotatorContext], Rotator]
    ) -> None:
        """Replaced: Azure mints the key, so generate returns an intent naming the other key
        (no password is drawn, nothing is sent, whatever the policy)."""
        rotator = rotator_for(context)
        one, two = self.keys
        for name, other in ((one, two), (two, one), (None, None)):
            intent = rotator.generate(Credential(password="k", username=name, extra={"k": "v"}))
            assert intent.password == "" and intent.username == other
            assert intent.extra == {"k": "v"}

    def test_apply_twice_is_idempotent(  # type: ignore[override]
        self, initial_credential: Credential, rotator_for: Callable[[RotatorContext], Rotator],
        context: RotatorContext,
    ) -> None:  # fmt: skip
        """Replaced: the engine stages the minted key at once, so a retry passes it back;
        apply returns it unchanged and regenerates nothing."""
        rotator = rotator_for(context)
        minted = rotator.apply(initial_credential, rotator.generate(initial_credential))
        before = self.ring().regenerations
        again = rotator_for(context).apply(initial_credential, minted)
        assert again == minted
        assert self.ring().regenerations == before
        rotator.verify(again)
        assert self.can_login(again) and self.can_login(initial_credential)

    def test_alternating_keeps_the_other_login(  # type: ignore[override]
        self, rotator_for: Callable[[RotatorContext], Rotator], context: RotatorContext,
        initial_credential: Credential,
    ) -> None:  # fmt: skip
        """Replaced: the pair is the account's two keys, not user/user_clone."""
        one, two = self.keys
        rotator = rotator_for(context)
        first = self.rotate(rotator, initial_credential)
        assert first.username == two
        assert self.can_login(first)
        assert self.can_login(initial_credential), "the old key must keep working"
        rotator.retire(initial_credential, first)
        assert self.can_login(initial_credential), "retire keeps the standby key"
        second = self.rotate(rotator_for(context), first)
        assert second.username == one
        assert second.password != initial_credential.password
        assert self.can_login(second) and self.can_login(first)
        assert not self.can_login(initial_credential)

    def test_down_target_is_retryable(
        self,
        context: RotatorContext,
        rotator_for: Callable[[RotatorContext], Rotator],
        initial_credential: Credential,
    ) -> None:
        """Replaced: ARM and the data plane unreachable (connections dropped)."""
        hosts = ("management.azure.com", self.data_host.format(self.account))
        rotator = rotator_for(context)
        assert_unavailable_while_down(self, self.stack, hosts, rotator, initial_credential)
        assert self.can_login(initial_credential)

    def test_secrets_never_leak(  # type: ignore[override]
        self,
        leak_watch: LeakWatch,
        initial_credential: Credential,
        make_context: Callable[..., RotatorContext],
        strategy: Strategy,
        rotator_for: Callable[[RotatorContext], Rotator],
    ) -> None:
        """Replaced: the minted key is followed (not a drawn password) through a rotation,
        a refused key and a failing ARM; none of the keys may show in errors or logs."""
        context = make_context(strategy)
        stale = self.ring().value(self.keys[1])  # regenerated by the rotation
        leak_watch.secret(initial_credential.password, stale)
        rotator = rotator_for(context)
        applied = rotator.apply(initial_credential, rotator.generate(initial_credential))
        leak_watch.secret(applied.password)
        for text in (repr(applied), repr(rotator)):
            leak_watch.text(text)
        steps: list[tuple[Callable[[], object], type[Exception] | None]] = [
            (lambda: rotator.verify(applied), None),
            (lambda: rotator.retire(initial_credential, applied), None),
            (lambda: rotator.verify(applied.with_password(stale)), VerificationFailed),
        ]
        for step, expected in steps:
            raised = leak_watch.call(step)
            assert raised is None if expected is None else isinstance(raised, expected)
        self.stack.faults.add(FaultRule(host="management.azure.com", status=500, times=None))
        again = rotator_for(context)
        raised = leak_watch.call(lambda: again.apply(applied, again.generate(applied)))
        assert isinstance(raised, TargetUnavailable)
        leak_watch.check()


def refused_tag(
    rotator_class: type[AccountKeyRotator], target: str, changes: dict[str, Any]
) -> str:
    """The tag ``check_config`` names for a context with ``changes`` (an alternating secret
    on ``target`` otherwise); fails the test if the context is accepted."""
    values: dict[str, Any] = {
        "secret_name": "key-secret",
        "target": target,
        "strategy": Strategy.ALTERNATING,
        "policy": rotator_class.default_policy,
        "options": {},
        **changes,
    }
    with pytest.raises(ConfigurationError) as raised:
        rotator_class.check_config(RotatorContext(**values))
    return str(raised.value.tag)


def fast(rotator_class: type[AccountKeyRotator]) -> type[AccountKeyRotator]:
    """``rotator_class`` made with quick SDK retries and LRO polling (tests only)."""

    def init(self: AccountKeyRotator, context: RotatorContext) -> None:
        rotator_class.__init__(self, context, client_options=FAST_SDK)

    return type(f"Fast{rotator_class.__name__}", (rotator_class,), {"__init__": init})


class AccountKeyBehaviour(AccountKeyContract):
    """Account-key specifics both kinds share, beyond the contract (same hooks)."""

    def fresh(self, target: str, **options: str) -> AccountKeyRotator:
        rotator = self.rotator(
            RotatorContext("key-secret", target, Strategy.ALTERNATING,
                           self.rotator.default_policy, None, options)
        )  # fmt: skip
        self.made.append(rotator)
        return rotator

    @pytest.fixture(autouse=True)
    def _close_made(self) -> Iterator[None]:
        self.made: list[Rotator] = []
        yield
        for rotator in self.made:
            rotator.close()

    def test_bare_key_secret_is_matched_by_value(self, target: str) -> None:
        one, two = self.keys
        current = Credential(password=self.ring().value(two))  # no username
        rotator = self.fresh(target)
        minted = rotator.apply(current, rotator.generate(current))
        assert minted.username == one
        assert self.can_login(current) and self.can_login(minted)

    def test_a_key_stored_with_surrounding_whitespace_is_still_the_held_key(
        self, target: str
    ) -> None:
        """An operator pasted the first key with a trailing newline (the SDKs accept it, so
        consumers use it): it is still the held key, and the second one is regenerated."""
        one, two = self.keys
        current = Credential(password=f" {self.ring().value(one)}\n")  # no username
        rotator = self.fresh(target)
        minted = rotator.apply(current, rotator.generate(current))
        assert minted.username == two
        assert self.can_login(Credential(password=current.password.strip(), username=one))

    def test_a_wrong_username_never_regenerates_the_held_key(self, target: str) -> None:
        one, two = self.keys
        # The secret claims the first key but holds the second's value: the value decides.
        current = Credential(password=self.ring().value(two), username=one)
        rotator = self.fresh(target)
        minted = rotator.apply(current, rotator.generate(current))
        assert minted.username == one
        assert self.can_login(current)

    def test_discard_regenerates_the_refused_candidate_only(self, target: str) -> None:
        current = Credential(password=self.ring().value(self.keys[0]), username=self.keys[0])
        rotator = self.fresh(target)
        minted = rotator.apply(current, rotator.generate(current))
        rotator.discard(minted, current)
        assert not self.can_login(minted)
        assert self.can_login(current)
        rotator.discard(current, current)  # the held key is never regenerated
        assert self.can_login(current)

    def test_missing_role_is_a_configuration_error(
        self, target: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        stranger = self.stack.identity.add_identity()
        self.arm.assign_role(target, stranger.principal_id, "Reader")
        monkeypatch.setenv("AZURE_CLIENT_ID", stranger.client_id)
        current = Credential(password=self.ring().value(self.keys[0]), username=self.keys[0])
        rotator = self.fresh(target)
        with pytest.raises(ConfigurationError) as raised:
            rotator.apply(current, rotator.generate(current))
        assert not raised.value.retryable
        message = str(raised.value)
        assert self.rotator.account.role in message and "AuthorizationFailed" in message
        assert current.password not in message
        assert self.ring().regenerations == 0

    def test_missing_account_is_a_configuration_error(self, target: str) -> None:
        rotator = self.fresh(target[: -len(self.account)] + "nosuchaccount")
        current = Credential(password="a" * 88, username=self.keys[0])
        with pytest.raises(ConfigurationError) as raised:
            rotator.apply(current, rotator.generate(current))
        assert raised.value.tag == T.TARGET

    def test_connection_string_format(self, target: str) -> None:
        one, two = self.keys
        rotator = self.fresh(target, **{T.option(T.KEY_FORMAT): "connection-string"})
        current = Credential(password=rotator.connection_string(self.ring().value(two)))
        minted = rotator.apply(current, rotator.generate(current))
        assert minted.username == one
        assert minted.password == rotator.connection_string(self.ring().value(one))
        rotator.verify(minted)
        assert self.can_login(current), "the held key is never regenerated"
        with pytest.raises(ConfigurationError) as raised:  # a bare key under this tag
            rotator.apply(Credential(password=self.ring().value(one)), rotator.generate(current))
        assert raised.value.tag == T.KEY_FORMAT

    def test_a_retry_before_staging_regenerates_only_the_unheld_key(self, target: str) -> None:
        # A crash after the regeneration, before the engine staged the answer: the retry
        # sees the intent again and regenerates the same, unheld key once more.
        one, two = self.keys
        current = Credential(password=self.ring().value(one), username=one)
        intent = self.fresh(target).generate(current)
        lost = self.fresh(target).apply(current, intent)
        retried = self.fresh(target).apply(current, intent)
        assert retried.username == lost.username == two
        assert retried.password != lost.password and self.ring().regenerations == 2
        assert self.can_login(current), "the held key survives every retry"
        assert self.can_login(retried) and not self.can_login(lost)
