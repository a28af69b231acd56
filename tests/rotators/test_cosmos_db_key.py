"""The ``cosmos-db-key`` rotator against the ARM emulator (real azure-mgmt-cosmosdb, with
long-running key regeneration) and the emulated account's data plane, reached by the real
``azure-cosmos`` client whose master-key signatures it checks.

Runs the shared account-key suite (tests/rotators/account_keys_contract.py) for the
read-write and the read-only pair, and the tests specific to Cosmos DB.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

import pytest

from emulators.arm import ArmEmulator
from emulators.arm.errors import ArmError
from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import TargetUnavailable
from rotation.rotator import RotatorContext, Strategy
from rotators.cosmos_db_key import REQUIRED_ROLE, CosmosDbKeyRotator
from tests.rotators import account_keys_contract as contract
from tests.support.account_keys import cosmos_accepts

SUBSCRIPTION, GROUP = str(uuid.uuid4()), "rg-cosmos-keys"
_environment = contract.environment_for(REQUIRED_ROLE, SUBSCRIPTION, GROUP)


class ReadOnlyPair(CosmosDbKeyRotator):
    """As ``rotation-key-kind=read-only`` on every secret (for the contract suite)."""

    def __init__(self, context: RotatorContext, **injected: Any) -> None:
        options = {**context.options, T.option(T.KEY_KIND): "read-only"}
        super().__init__(
            RotatorContext(context.secret_name, context.target, context.strategy,
                           context.policy, context.admin, options),
            **injected,
        )  # fmt: skip


class CosmosAccounts(contract.AccountKeyBehaviour):
    """The hooks of both Cosmos DB suites."""

    provider = "cosmos"
    scope = (SUBSCRIPTION, GROUP)
    data_host = "{}.documents.azure.com"
    accepts = cosmos_accepts


class TestCosmosDbKey(CosmosAccounts):
    """The primary/secondary pair (the default)."""

    rotator = contract.fast(CosmosDbKeyRotator)

    def test_regeneration_waits_for_the_long_running_operation(
        self, arm: ArmEmulator, target: str
    ) -> None:
        arm.set_lro_polls(3)
        try:
            current = Credential(password=self.ring().value("primary"), username="primary")
            rotator = self.fresh(target)
            minted = rotator.apply(current, rotator.generate(current))
        finally:
            arm.set_lro_polls(1)
        assert minted.password == self.ring().value("secondary")
        assert self.can_login(minted)

    def test_failed_regeneration_is_retryable_and_changes_nothing(
        self, arm: ArmEmulator, target: str
    ) -> None:
        secondary = self.ring().value("secondary")
        arm.cosmos.operations.fail_next(ArmError(500, "InternalServerError", "Unexpected."))
        current = Credential(password=self.ring().value("primary"), username="primary")
        rotator = self.fresh(target)
        with pytest.raises(TargetUnavailable) as raised:
            rotator.apply(current, rotator.generate(current))
        assert raised.value.retryable
        assert self.ring().value("secondary") == secondary
        assert self.can_login(current)

    def test_read_only_pair_never_touches_the_read_write_keys(self, target: str) -> None:
        primary = self.ring().value("primary")
        rotator = self.fresh(target, **{T.option(T.KEY_KIND): "read-only"})
        current = Credential(password=self.ring().value("primaryReadonly"))
        minted = rotator.apply(current, rotator.generate(current))
        assert minted.username == "secondaryReadonly"
        rotator.verify(minted)
        assert self.ring().value("primary") == primary


class TestCosmosDbReadOnlyKey(CosmosAccounts):
    """The primaryReadonly/secondaryReadonly pair."""

    rotator = contract.fast(ReadOnlyPair)
    pair: ClassVar[tuple[str, str] | None] = ("primaryReadonly", "secondaryReadonly")


GROUP_ID = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}"
ACCOUNT = f"{GROUP_ID}/providers/Microsoft.DocumentDB/databaseAccounts"


@pytest.mark.parametrize(
    ("changes", "tag"),
    [
        ({"target": "cosmos-1.documents.azure.com"}, T.TARGET),
        ({"target": f"{ACCOUNT}/-bad"}, T.TARGET),
        ({"target": f"{ACCOUNT}/ab"}, T.TARGET),
        (
            {
                "target": ACCOUNT.replace("DocumentDB/databaseAccounts", "Storage/storageAccounts")
                + "/st1"
            },
            T.TARGET,
        ),
        ({"options": {"key-kind": "admin"}}, T.KEY_KIND),
        ({"options": {"key-format": "pem"}}, T.KEY_FORMAT),
        ({"strategy": Strategy.MULTIPLE}, T.STRATEGY),
    ],
)
def test_bad_configuration_is_refused(changes: dict[str, Any], tag: str) -> None:
    assert contract.refused_tag(CosmosDbKeyRotator, f"{ACCOUNT}/cosmos-1", changes) == tag
