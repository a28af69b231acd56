"""The ``storage-account-key`` rotator against the ARM emulator (real azure-mgmt-storage) and
a real Azurite as the blob data plane (real SharedKey-signed azure-storage-blob requests).

Runs the shared contract suite, with the tests whose assumptions do not fit minted keys
replaced (each override says why), and the tests specific to account keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobServiceClient

from emulators.arm import ArmEmulator
from emulators.faults import FaultRule
from emulators.identity import ManagedIdentity
from emulators.stack import AzureStack
from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import ConfigurationError, TargetUnavailable, VerificationFailed
from rotation.rotator import Rotator, RotatorContext, Strategy
from rotation.testing import LeakWatch, RotatorContract
from rotators._account_keys import connection_string_key
from rotators.storage_account_key import REQUIRED_ROLE, StorageAccountKeyRotator
from tests.support.own_stack import FAST_SDK

SUBSCRIPTION = str(uuid.uuid4())
GROUP = "rg-storage-keys"


@pytest.fixture(scope="module")
def identity(stack: AzureStack, arm: ArmEmulator) -> ManagedIdentity:
    """The app's identity: the key operator role on the resource group."""
    found = stack.identity.add_identity()
    arm.assign_role(f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}",
                    found.principal_id, REQUIRED_ROLE)  # fmt: skip
    return found


@pytest.fixture(autouse=True)
def _environment(
    stack: AzureStack, identity: ManagedIdentity, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    monkeypatch.setenv("AZURE_CLIENT_ID", identity.client_id)
    yield
    stack.faults.clear()


def new_account(arm: ArmEmulator) -> tuple[str, str]:
    """A fresh account; returns (resource id, name)."""
    name = "st" + uuid.uuid4().hex[:16]
    return arm.create_storage_account(SUBSCRIPTION, GROUP, name), name


def blob_accepts(account: str, key: str) -> bool:
    """Test code's own SharedKey-signed blob call: True if accepted, False on 403."""
    service = BlobServiceClient(
        f"https://{account}.blob.core.windows.net",
        credential={"account_name": account, "account_key": key},
        retry_total=0,
    )
    try:
        service.get_service_properties()
    except HttpResponseError as error:
        if error.status_code == 403:
            return False
        raise
    finally:
        service.close()
    return True


def key_value(credential: Credential) -> str:
    return connection_string_key(credential.password) or credential.password


def context_for(target: str, **options: str) -> RotatorContext:
    return RotatorContext(
        secret_name="storage-key",
        target=target,
        strategy=Strategy.ALTERNATING,
        policy=StorageAccountKeyRotator.default_policy,
        options=options,
    )


class FastRotator(StorageAccountKeyRotator):
    """The production rotator with quick SDK retries (the contract suite makes its own)."""

    def __init__(self, context: RotatorContext) -> None:
        super().__init__(context, client_options=FAST_SDK)


@pytest.fixture
def made() -> Iterator[list[Rotator]]:
    rotators: list[Rotator] = []
    yield rotators
    for rotator in rotators:
        rotator.close()


@pytest.fixture
def rotator_on(made: list[Rotator]) -> Callable[..., StorageAccountKeyRotator]:
    def make(target: str, **options: str) -> StorageAccountKeyRotator:
        made.append(FastRotator(context_for(target, **options)))
        return made[-1]  # type: ignore[return-value]

    return make


# -- the contract suite ---------------------------------------------------------------------


class TestStorageAccountKeyContract(RotatorContract):
    rotator = FastRotator
    arm: ArmEmulator
    stack: AzureStack
    account: str

    @pytest.fixture(autouse=True)
    def _bind_arm(self, arm: ArmEmulator, stack: AzureStack) -> None:
        self.arm, self.stack = arm, stack

    @pytest.fixture
    def target(self, arm: ArmEmulator) -> str:
        resource_id, self.account = new_account(arm)
        return resource_id

    @pytest.fixture
    def login_factory(self, arm: ArmEmulator, target: str) -> Callable[[str], Credential]:
        def make(name: str) -> Credential:
            # The "login" is a key of the account; a name that is no key is kept as given.
            key = arm.storage_key(target, name if name in ("key1", "key2") else "key1")
            return Credential(password=key, username=name)

        return make

    @pytest.fixture
    def initial_credential(self, login_factory: Callable[[str], Credential]) -> Credential:
        return login_factory("key1")

    def can_login(self, credential: Credential) -> bool:
        key = key_value(credential)
        if not StorageAccountKeyRotator.looks_like_key(key):
            return False  # not base64: the SDK cannot even sign with it
        return blob_accepts(self.account, key)

    @pytest.mark.parametrize("policy", [None], ids=["default"])
    def test_generate_respects_policy(
        self,
        make_context: Callable[..., RotatorContext],
        rotator_for: Callable[[RotatorContext], Rotator],
        strategy: Strategy,
        rotator_class: type[Rotator],
        policy: str | None,
    ) -> None:
        """Replaced: Azure mints the key, so generate returns an intent naming the other key
        (no password is drawn, nothing is sent)."""
        rotator = rotator_for(make_context(strategy))
        for name, other in (("key1", "key2"), ("key2", "key1"), (None, None)):
            intent = rotator.generate(Credential(password="k", username=name, extra={"k": "v"}))
            assert intent.password == "" and intent.username == other
            assert intent.extra == {"k": "v"}

    def test_apply_twice_is_idempotent(
        self,
        context: RotatorContext,
        rotator_for: Callable[[RotatorContext], Rotator],
        initial_credential: Credential,
    ) -> None:
        """Replaced: the engine stages the minted key at once, so a retry passes it back;
        apply returns it unchanged and regenerates nothing."""
        rotator = rotator_for(context)
        minted = rotator.apply(initial_credential, rotator.generate(initial_credential))
        changes = self.arm.storage.find(self.target_tag or "")
        assert changes is not None
        before = changes.keys.regenerations
        again = rotator_for(context).apply(initial_credential, minted)
        assert again == minted
        assert changes.keys.regenerations == before
        rotator.verify(again)
        assert self.can_login(again) and self.can_login(initial_credential)

    def test_alternating_keeps_the_other_login(
        self,
        context: RotatorContext,
        rotator_for: Callable[[RotatorContext], Rotator],
        initial_credential: Credential,
    ) -> None:
        """Replaced: the pair is key1/key2, not user/user_clone."""
        rotator = rotator_for(context)
        first = self.rotate(rotator, initial_credential)
        assert first.username == "key2"
        assert self.can_login(first)
        assert self.can_login(initial_credential), "the old key must keep working"
        rotator.retire(initial_credential, first)
        assert self.can_login(initial_credential), "retire keeps the standby key"
        second = self.rotate(rotator_for(context), first)
        assert second.username == "key1"
        assert second.password != initial_credential.password
        assert self.can_login(second) and self.can_login(first)
        assert not self.can_login(initial_credential)

    def test_down_target_is_retryable(
        self,
        context: RotatorContext,
        rotator_for: Callable[[RotatorContext], Rotator],
        initial_credential: Credential,
    ) -> None:
        """Replaced: ARM and the blob endpoint unreachable (connections dropped)."""
        self.stack.faults.add(FaultRule(host="management.azure.com", drop=True, times=None))
        self.stack.faults.add(
            FaultRule(host=f"{self.account}.blob.core.windows.net", drop=True, times=None)
        )
        rotator = rotator_for(context)
        with pytest.raises(TargetUnavailable) as applied:
            rotator.apply(initial_credential, rotator.generate(initial_credential))
        assert applied.value.retryable
        with pytest.raises(TargetUnavailable):
            rotator.verify(initial_credential)
        self.stack.faults.clear()
        assert self.can_login(initial_credential)

    def test_secrets_never_leak(
        self,
        context: RotatorContext,
        make_context: Callable[..., RotatorContext],
        rotator_for: Callable[[RotatorContext], Rotator],
        strategy: Strategy,
        initial_credential: Credential,
        bad_admin_credential: Credential | None,
        down_target: str | None,
        leak_watch: LeakWatch,
    ) -> None:
        """Replaced: the same checks, following the minted key, plus a failing ARM."""
        rotator = rotator_for(context)
        other = self.arm.storage_key(self.target_tag or "", "key2")
        leak_watch.secret(initial_credential.password, other)
        intent = rotator.generate(initial_credential)
        minted: list[Credential] = []
        assert (
            leak_watch.call(lambda: minted.append(rotator.apply(initial_credential, intent)))
            is None
        )
        leak_watch.secret(minted[0].password)
        leak_watch.text(repr(minted[0]))
        leak_watch.text(repr(rotator))
        assert leak_watch.call(lambda: rotator.verify(minted[0])) is None
        assert leak_watch.call(lambda: rotator.retire(initial_credential, minted[0])) is None
        wrong = minted[0].with_password(other)
        assert isinstance(leak_watch.call(lambda: rotator.verify(wrong)), VerificationFailed)
        self.stack.faults.add(FaultRule(host="management.azure.com", status=500, times=None))
        fresh = rotator_for(context)
        error = leak_watch.call(lambda: fresh.apply(minted[0], fresh.generate(minted[0])))
        assert isinstance(error, TargetUnavailable)
        leak_watch.check()


# -- account-key specifics --------------------------------------------------------------------


def test_connection_string_format(
    arm: ArmEmulator, rotator_on: Callable[..., StorageAccountKeyRotator]
) -> None:
    target, name = new_account(arm)
    rotator = rotator_on(target, **{T.option(T.KEY_FORMAT): "connection-string"})
    current = Credential(password=rotator.connection_string(arm.storage_key(target, "key2")))
    minted = rotator.apply(current, rotator.generate(current))
    assert minted.username == "key1"
    assert minted.password.startswith(f"DefaultEndpointsProtocol=https;AccountName={name};")
    rotator.verify(minted)
    assert key_value(minted) == arm.storage_key(target, "key1")
    assert blob_accepts(name, key_value(current)), "the held key is never regenerated"


def test_bare_key_secret_is_matched_by_value(
    arm: ArmEmulator, rotator_on: Callable[..., StorageAccountKeyRotator]
) -> None:
    target, name = new_account(arm)
    current = Credential(password=arm.storage_key(target, "key2"))  # no username
    rotator = rotator_on(target)
    minted = rotator.apply(current, rotator.generate(current))
    assert minted.username == "key1"
    assert blob_accepts(name, current.password) and blob_accepts(name, minted.password)


def test_a_wrong_username_never_regenerates_the_held_key(
    arm: ArmEmulator, rotator_on: Callable[..., StorageAccountKeyRotator]
) -> None:
    target, name = new_account(arm)
    # The secret claims key1 but holds key2's value: the value decides.
    current = Credential(password=arm.storage_key(target, "key2"), username="key1")
    rotator = rotator_on(target)
    minted = rotator.apply(current, rotator.generate(current))
    assert minted.username == "key1"
    assert blob_accepts(name, current.password)


def test_discard_regenerates_the_refused_candidate_only(
    arm: ArmEmulator, rotator_on: Callable[..., StorageAccountKeyRotator]
) -> None:
    target, name = new_account(arm)
    current = Credential(password=arm.storage_key(target, "key1"), username="key1")
    rotator = rotator_on(target)
    minted = rotator.apply(current, rotator.generate(current))
    rotator.discard(minted, current)
    assert not blob_accepts(name, minted.password)
    assert blob_accepts(name, current.password)
    rotator.discard(current.with_password(current.password), current)  # the held key: kept
    assert blob_accepts(name, current.password)


def test_missing_role_is_a_configuration_error(
    stack: AzureStack, arm: ArmEmulator, made: list[Rotator], monkeypatch: pytest.MonkeyPatch
) -> None:
    target, _ = new_account(arm)
    stranger = stack.identity.add_identity()
    arm.assign_role(target, stranger.principal_id, "Reader")
    monkeypatch.setenv("AZURE_CLIENT_ID", stranger.client_id)
    rotator = FastRotator(context_for(target))
    made.append(rotator)
    current = Credential(password=arm.storage_key(target, "key1"), username="key1")
    with pytest.raises(ConfigurationError) as raised:
        rotator.apply(current, rotator.generate(current))
    assert not raised.value.retryable
    assert REQUIRED_ROLE in str(raised.value) and "AuthorizationFailed" in str(raised.value)
    assert current.password not in str(raised.value)
    assert arm.storage.find(target).keys.regenerations == 0  # type: ignore[union-attr]


def test_missing_account_is_a_configuration_error(
    rotator_on: Callable[..., StorageAccountKeyRotator],
) -> None:
    target = (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/"
        "Microsoft.Storage/storageAccounts/nosuchaccount"
    )
    rotator = rotator_on(target)
    current = Credential(password="a" * 88, username="key1")
    with pytest.raises(ConfigurationError) as raised:
        rotator.apply(current, rotator.generate(current))
    assert raised.value.tag == T.TARGET


@pytest.mark.parametrize("status", [429, 503])
def test_throttling_and_5xx_are_retryable(
    stack: AzureStack,
    arm: ArmEmulator,
    rotator_on: Callable[..., StorageAccountKeyRotator],
    status: int,
) -> None:
    target, _ = new_account(arm)
    rule = FaultRule(operation="storage_accounts_regenerate_key", status=status, times=None)
    rule.retry_after = 0
    stack.faults.add(rule)
    rotator = rotator_on(target)
    current = Credential(password=arm.storage_key(target, "key1"), username="key1")
    with pytest.raises(TargetUnavailable):
        rotator.apply(current, rotator.generate(current))
    assert arm.storage.find(target).keys.regenerations == 0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("changes", "tag"),
    [
        ({"target": None}, T.TARGET),
        ({"target": "st1.blob.core.windows.net"}, T.TARGET),
        ({"target": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/"
                    "Microsoft.Storage/storageAccounts/UPPER"}, T.TARGET),
        ({"target": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/"
                    "Microsoft.Storage/storageAccounts/st1/blobServices/default"}, T.TARGET),
        ({"target": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/a;b'/providers/"
                    "Microsoft.Storage/storageAccounts/st1"}, T.TARGET),
        ({"target": "/subscriptions/x\x00/resourceGroups/g"}, T.TARGET),
        ({"strategy": Strategy.SINGLE}, T.STRATEGY),
        ({"options": {"key-format": "xml"}}, T.KEY_FORMAT),
    ],
)  # fmt: skip
def test_bad_configuration_is_refused(changes: dict[str, Any], tag: str) -> None:
    values: dict[str, Any] = {
        "secret_name": "storage-key",
        "target": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/"
        "Microsoft.Storage/storageAccounts/st1",
        "strategy": Strategy.ALTERNATING,
        "policy": StorageAccountKeyRotator.default_policy,
        "options": {},
    }
    values.update(changes)
    with pytest.raises(ConfigurationError) as raised:
        StorageAccountKeyRotator.check_config(RotatorContext(**values))
    assert raised.value.tag == tag
