"""The ``azure-sql-admin`` rotator against the ARM emulator, through the real azure-mgmt-sql.

Two verifiers are exercised: the production ``management`` verifier (fail closed: it vouches
only for passwords its own instance applied), and, for the shared contract suite, a login
check against the emulated server's stored hash (:class:`EmulatedLoginRotator`): the stand-in
for a TDS login, which needs a SQL Server this machine does not have.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest

from emulators.arm import ArmEmulator, server_id
from emulators.faults import FaultRule
from emulators.identity import ManagedIdentity
from emulators.stack import AzureStack
from rotation.credential import Credential
from rotation.errors import ConfigurationError, TargetUnavailable, VerificationFailed
from rotation.policy import POLICY_TAG, PasswordPolicy
from rotation.registry import load_class
from rotation.rotator import Rotator, RotatorContext, Strategy
from rotation.testing import RotatorContract, unique_name
from rotators.azure_sql_admin import (
    REQUIRED_ROLE,
    AzureSqlAdminRotator,
    SqlServerTarget,
    parse_target,
    tds_driver_available,
)
from tests.support.own_stack import FAST_SDK

SUBSCRIPTION = str(uuid.uuid4())
GROUP = "rg-rotation"
LOGIN = "sqladmin"
FAST = FAST_SDK


@pytest.fixture(scope="module")
def identity(stack: AzureStack, arm: ArmEmulator) -> ManagedIdentity:
    """The function app's user-assigned identity: SQL Server Contributor on the group."""
    found = stack.identity.add_identity()
    group = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}"
    arm.assign_role(group, found.principal_id, REQUIRED_ROLE)
    return found


@pytest.fixture(autouse=True)
def _environment(
    stack: AzureStack, identity: ManagedIdentity, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    # What the Functions host sets for a user-assigned identity (read by the rotator).
    monkeypatch.setenv("AZURE_CLIENT_ID", identity.client_id)
    yield
    stack.faults.clear()


def new_server(arm: ArmEmulator, login: str = LOGIN) -> tuple[str, Credential]:
    """A fresh server with a known admin password; returns its id and the credential."""
    name = unique_name("srv").replace("_", "-")
    password = AzureSqlAdminRotator.default_policy.generate()
    while login.lower() in password.lower():
        password = AzureSqlAdminRotator.default_policy.generate()
    resource_id = arm.create_sql_server(SUBSCRIPTION, GROUP, name, login, password)
    return resource_id, Credential(password=password, username=login)


def context_for(target: str | None, **changes: Any) -> RotatorContext:
    values: dict[str, Any] = {
        "secret_name": "sql-admin",
        "target": target,
        "strategy": Strategy.SINGLE,
        "policy": AzureSqlAdminRotator.default_policy,
        "options": {},
    }
    values.update(changes)
    return RotatorContext(**values)


@pytest.fixture
def made() -> Iterator[list[Rotator]]:
    rotators: list[Rotator] = []
    yield rotators
    for rotator in rotators:
        rotator.close()


@pytest.fixture
def production(made: list[Rotator]) -> Callable[..., AzureSqlAdminRotator]:
    """Rotators as the engine makes them (default credential), with quick retries."""

    def make(target: str, **changes: Any) -> AzureSqlAdminRotator:
        rotator = AzureSqlAdminRotator(context_for(target, **changes), client_options=FAST)
        made.append(rotator)
        return rotator

    return make


# -- the contract suite ---------------------------------------------------------------------


class EmulatedLoginRotator(AzureSqlAdminRotator):
    """The production rotator, verifying by a login check against the emulated server.

    Only the verifier differs: the emulator's hash comparison plays the part of the TDS
    login (``rotation-sql-verify=tds``) that needs a real SQL Server.
    """

    arm: ClassVar[ArmEmulator | None] = None

    def __init__(self, context: RotatorContext) -> None:
        super().__init__(context, client_options=FAST, verifier=self._emulated_login)

    def _emulated_login(self, target: SqlServerTarget, credential: Credential, login: str) -> None:
        assert self.arm is not None
        if not self.arm.sql_admin_password_matches(target.resource_id, credential.password):
            raise VerificationFailed(f"login to {target.host} refused")


class TestAzureSqlAdminContract(RotatorContract):
    rotator = EmulatedLoginRotator
    server_arm: ArmEmulator
    #: The server of the running test (``self.target`` is shadowed by the fixture below).
    server_target: str

    @pytest.fixture(autouse=True)
    def _arm(self, arm: ArmEmulator) -> Iterator[None]:
        EmulatedLoginRotator.arm = arm
        self.server_arm = arm
        yield
        EmulatedLoginRotator.arm = None

    @pytest.fixture
    def target(self) -> str:
        # Each test gets its own server; login_factory creates it.
        self.server_target = server_id(SUBSCRIPTION, GROUP, unique_name("srv").replace("_", "-"))
        return self.server_target

    @pytest.fixture
    def login_factory(self, arm: ArmEmulator, target: str) -> Callable[[str], Credential]:
        name = target.rsplit("/", 1)[1]

        def make(login: str) -> Credential:
            password = AzureSqlAdminRotator.default_policy.generate()
            while login.lower() in password.lower():
                password = AzureSqlAdminRotator.default_policy.generate()
            arm.create_sql_server(SUBSCRIPTION, GROUP, name, login, password)
            return Credential(password=password, username=login)

        return make

    def can_login(self, credential: Credential) -> bool:
        server = self.server_arm.sql.find(self.server_target)
        assert server is not None
        if credential.username is not None and credential.username != server.admin_login:
            return False
        return self.server_arm.sql_admin_password_matches(self.server_target, credential.password)

    def test_down_target_is_retryable(  # type: ignore[override]
        self,
        stack: AzureStack,
        rotator_under_test: Rotator,
        initial_credential: Credential,
    ) -> None:
        # ARM unreachable: every connection to management.azure.com is dropped.
        stack.faults.add(FaultRule(host="management.azure.com", drop=True, times=None))
        self.assert_target_unavailable(rotator_under_test, initial_credential)
        stack.faults.clear()
        assert self.can_login(initial_credential)


# -- the production (management-plane) verifier -----------------------------------------------


def test_rotation_with_default_credential_and_management_verify(
    arm: ArmEmulator, production: Callable[..., AzureSqlAdminRotator]
) -> None:
    target, current = new_server(arm)
    rotator = production(target)
    candidate = rotator.generate(current)
    applied = rotator.apply(current, candidate)
    assert applied == candidate
    rotator.verify(applied)
    assert arm.sql_admin_password_matches(target, applied.password)
    assert not arm.sql_admin_password_matches(target, current.password)
    # Fail closed: the old password, and anything this instance did not apply, is refused.
    with pytest.raises(VerificationFailed):
        rotator.verify(current)
    with pytest.raises(VerificationFailed):
        production(target).verify(applied)
    rotator.retire(current, applied)
    assert arm.sql_admin_password_matches(target, applied.password)


def test_apply_twice_with_fresh_instances(
    arm: ArmEmulator, production: Callable[..., AzureSqlAdminRotator]
) -> None:
    target, current = new_server(arm)
    first = production(target)
    candidate = first.generate(current)
    first.apply(current, candidate)
    second = production(target)
    second.apply(current, candidate)  # a retry after a crash: same candidate again
    second.verify(candidate)
    first.verify(candidate)
    assert arm.sql_admin_password_matches(target, candidate.password)
    assert arm.sql_password_changes(target) == 2


def test_verify_refuses_another_login(
    arm: ArmEmulator, production: Callable[..., AzureSqlAdminRotator]
) -> None:
    target, current = new_server(arm)
    rotator = production(target)
    applied = rotator.apply(current, rotator.generate(current))
    with pytest.raises(VerificationFailed):
        rotator.verify(Credential(password=applied.password, username="someone"))


def test_bare_password_secret_rotates(
    arm: ArmEmulator, production: Callable[..., AzureSqlAdminRotator]
) -> None:
    target, current = new_server(arm)
    bare = Credential(password=current.password)
    rotator = production(target)
    applied = rotator.apply(bare, rotator.generate(bare))
    assert applied.username is None
    rotator.verify(applied)
    assert arm.sql_admin_password_matches(target, applied.password)


# -- error mapping ------------------------------------------------------------------------------


def test_missing_role_is_a_configuration_error(
    stack: AzureStack, arm: ArmEmulator, made: list[Rotator], monkeypatch: pytest.MonkeyPatch
) -> None:
    target, current = new_server(arm)
    stranger = stack.identity.add_identity()
    arm.assign_role(target, stranger.principal_id, "Reader")
    monkeypatch.setenv("AZURE_CLIENT_ID", stranger.client_id)
    rotator = AzureSqlAdminRotator(context_for(target), client_options=FAST)
    made.append(rotator)
    candidate = rotator.generate(current)
    with pytest.raises(ConfigurationError) as raised:
        rotator.apply(current, candidate)
    message = str(raised.value)
    assert not raised.value.retryable
    assert REQUIRED_ROLE in message and "AuthorizationFailed" in message
    assert candidate.password not in message and current.password not in message
    assert arm.sql_admin_password_matches(target, current.password)


def test_no_role_at_all_is_a_configuration_error(
    stack: AzureStack, arm: ArmEmulator, made: list[Rotator], monkeypatch: pytest.MonkeyPatch
) -> None:
    target, current = new_server(arm)
    monkeypatch.setenv("AZURE_CLIENT_ID", stack.identity.add_identity().client_id)
    rotator = AzureSqlAdminRotator(context_for(target), client_options=FAST)
    made.append(rotator)
    with pytest.raises(ConfigurationError):
        rotator.apply(current, rotator.generate(current))


def test_missing_server_is_a_configuration_error(
    production: Callable[..., AzureSqlAdminRotator],
) -> None:
    target = server_id(SUBSCRIPTION, GROUP, "srv-does-not-exist")
    rotator = production(target)
    current = Credential(password="Whatever-Passw0rd!1", username=LOGIN)
    with pytest.raises(ConfigurationError) as raised:
        rotator.apply(current, rotator.generate(current))
    assert raised.value.tag == "rotation-target"
    assert "ResourceNotFound" in str(raised.value)


def test_throttled_update_is_retried(
    stack: AzureStack, arm: ArmEmulator, production: Callable[..., AzureSqlAdminRotator]
) -> None:
    target, current = new_server(arm)
    rule = stack.faults.add(FaultRule(operation="sql_servers_update", status=429, retry_after=1))
    rotator = production(target)
    applied = rotator.apply(current, rotator.generate(current))
    assert stack.faults.fired(rule) == 1
    assert arm.sql_admin_password_matches(target, applied.password)


@pytest.mark.parametrize(
    ("operation", "status"),
    [
        ("sql_servers_update", 503),
        ("sql_servers_update", 429),
        ("sql_servers_get", 500),
        ("sql_server_azure_async_operation_get", 500),
    ],
)
def test_persistent_throttling_and_5xx_are_retryable(
    stack: AzureStack,
    arm: ArmEmulator,
    production: Callable[..., AzureSqlAdminRotator],
    operation: str,
    status: int,
) -> None:
    target, current = new_server(arm)
    rule = FaultRule(operation=operation, status=status, times=None)
    if status == 429:
        rule.retry_after = 0
    stack.faults.add(rule)
    rotator = production(target)
    candidate = rotator.generate(current)
    with pytest.raises(TargetUnavailable) as raised:
        rotator.apply(current, candidate)
    assert raised.value.retryable
    assert candidate.password not in str(raised.value)
    with pytest.raises(VerificationFailed if operation != "sql_servers_get" else TargetUnavailable):
        rotator.verify(candidate)


def test_password_refused_by_azure_is_a_policy_error(
    arm: ArmEmulator, production: Callable[..., AzureSqlAdminRotator]
) -> None:
    target, current = new_server(arm)
    rotator = production(target)
    bad = current.with_password(f"Xy1-{LOGIN}-padding")
    with pytest.raises(ConfigurationError) as raised:
        rotator.apply(current, bad)
    assert raised.value.tag == POLICY_TAG
    assert "PasswordNotComplex" in str(raised.value)
    assert bad.password not in str(raised.value)


def test_wrong_username_is_refused_before_any_change(
    arm: ArmEmulator, production: Callable[..., AzureSqlAdminRotator]
) -> None:
    target, current = new_server(arm)
    rotator = production(target)
    other = Credential(password=current.password, username="not-the-admin")
    with pytest.raises(ConfigurationError):
        rotator.apply(other, rotator.generate(other))
    assert arm.sql_password_changes(target) == 0


# -- configuration and generation (no I/O) ----------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "srv.database.windows.net",
        f"/subscriptions/not-a-guid/resourceGroups/{GROUP}/providers/Microsoft.Sql/servers/s",
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.Sql/servers/UP",
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.Sql/servers/s/databases/d",
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/a;b'/providers/Microsoft.Sql/servers/s",
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.Web/sites/s",
    ],
)
def test_bad_targets_are_refused(target: str | None) -> None:
    with pytest.raises(ConfigurationError) as raised:
        AzureSqlAdminRotator.check_config(context_for(target))
    assert raised.value.tag == "rotation-target"


def test_target_parsing() -> None:
    parsed = parse_target(
        f"/subscriptions/{SUBSCRIPTION.upper()}/resourcegroups/My-RG_(1).x/providers/"
        "microsoft.sql/servers/srv-1"
    )
    assert parsed == SqlServerTarget(SUBSCRIPTION, "My-RG_(1).x", "srv-1")
    assert parsed.host == "srv-1.database.windows.net"


@pytest.mark.parametrize(
    ("changes", "tag"),
    [
        ({"strategy": Strategy.ALTERNATING}, "rotation-strategy"),
        ({"policy": PasswordPolicy(length=200)}, POLICY_TAG),
        ({"policy": PasswordPolicy(length=32, upper=0, digits=0, symbols=0)}, POLICY_TAG),
        ({"options": {"sql-verify": "telepathy"}}, "rotation-sql-verify"),
    ],
)
def test_bad_configuration_is_refused(changes: dict[str, Any], tag: str) -> None:
    target = server_id(SUBSCRIPTION, GROUP, "srv")
    with pytest.raises(ConfigurationError) as raised:
        AzureSqlAdminRotator.check_config(context_for(target, **changes))
    assert raised.value.tag == tag


@pytest.mark.skipif(tds_driver_available(), reason="a TDS driver is installed here")
def test_tds_verify_without_a_driver_is_a_configuration_error() -> None:
    target = server_id(SUBSCRIPTION, GROUP, "srv")
    with pytest.raises(ConfigurationError) as raised:
        AzureSqlAdminRotator.check_config(context_for(target, options={"sql-verify": "tds"}))
    assert "pymssql" in str(raised.value)


def test_generate_avoids_the_login_name() -> None:
    rotator = AzureSqlAdminRotator(context_for(server_id(SUBSCRIPTION, GROUP, "srv")))
    current = Credential(password="x" * 16, username="A")
    for _ in range(30):
        candidate = rotator.generate(current)
        assert "a" not in candidate.password.lower()
        assert rotator.default_policy.satisfied_by(candidate.password)


def test_registered_by_kind() -> None:
    cls = load_class("rotators.azure_sql_admin:AzureSqlAdminRotator")
    assert cls is AzureSqlAdminRotator
    assert cls.kind == "azure-sql-admin"
    assert cls.strategies == (Strategy.SINGLE,)
    assert cls.requires_target and not cls.requires_admin


def test_failed_operation_is_retryable_and_changes_nothing(
    arm: ArmEmulator, production: Callable[..., AzureSqlAdminRotator]
) -> None:
    target, current = new_server(arm)
    arm.fail_next_sql_operation("ServerBusy", "The server is busy.")
    rotator = production(target)
    candidate = rotator.generate(current)
    with pytest.raises(TargetUnavailable) as raised:
        rotator.apply(current, candidate)
    assert "ServerBusy" in str(raised.value)
    assert arm.sql_admin_password_matches(target, current.password)
    with pytest.raises(VerificationFailed):
        rotator.verify(candidate)
    # The engine's retry re-applies the same candidate.
    rotator.apply(current, candidate)
    rotator.verify(candidate)


def test_slow_reset_times_out_as_retryable(arm: ArmEmulator, made: list[Rotator]) -> None:
    target, current = new_server(arm)
    arm.set_lro_polls(1_000_000)
    try:
        rotator = AzureSqlAdminRotator(context_for(target), client_options=FAST, lro_timeout=0.3)
        made.append(rotator)
        candidate = rotator.generate(current)
        with pytest.raises(TargetUnavailable) as raised:
            rotator.apply(current, candidate)
        assert "InProgress" in str(raised.value)
        with pytest.raises(VerificationFailed):
            rotator.verify(candidate)
        assert arm.sql_admin_password_matches(target, current.password)
    finally:
        arm.set_lro_polls(1)
        arm.complete_operations()
    # The reset finished after all: the staged candidate is live, as the engine must assume.
    assert arm.sql_admin_password_matches(target, candidate.password)
