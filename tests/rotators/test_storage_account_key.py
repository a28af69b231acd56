"""The ``storage-account-key`` rotator against the ARM emulator (real azure-mgmt-storage) and
a real Azurite as the blob data plane (real SharedKey-signed azure-storage-blob requests).

Runs the shared account-key suite (tests/rotators/account_keys_contract.py: the contract,
with the tests that do not fit minted keys replaced, and the behaviour both kinds share),
and the tests specific to storage accounts.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from emulators.faults import FaultRule
from emulators.stack import AzureStack
from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import TargetUnavailable
from rotation.rotator import Strategy
from rotators.storage_account_key import REQUIRED_ROLE, StorageAccountKeyRotator
from tests.rotators.account_keys_contract import (
    AccountKeyBehaviour,
    environment_for,
    fast,
    refused_tag,
)
from tests.support.account_keys import blob_accepts

SUBSCRIPTION, GROUP = str(uuid.uuid4()), "rg-storage-keys"
#: The app's identity holds the key operator role on the whole group (each test's account).
_environment = environment_for(REQUIRED_ROLE, SUBSCRIPTION, GROUP)


class TestStorageAccountKey(AccountKeyBehaviour):
    rotator = fast(StorageAccountKeyRotator)
    provider = "storage"
    scope = (SUBSCRIPTION, GROUP)
    data_host = "{}.blob.core.windows.net"
    accepts = blob_accepts

    @pytest.mark.parametrize("status", [429, 503])
    def test_throttling_and_5xx_are_retryable(
        self, stack: AzureStack, target: str, status: int
    ) -> None:
        rule = FaultRule(operation="storage_accounts_regenerate_key", status=status, times=None)
        rule.retry_after = 0
        stack.faults.add(rule)
        rotator = self.fresh(target)
        current = Credential(password=self.ring().value("key1"), username="key1")
        with pytest.raises(TargetUnavailable):
            rotator.apply(current, rotator.generate(current))
        assert self.ring().regenerations == 0

    def test_connection_string_names_the_account(self, target: str) -> None:
        rotator = self.fresh(target)
        assert rotator.connection_string("k") == (
            f"DefaultEndpointsProtocol=https;AccountName={self.account};AccountKey=k;"
            "EndpointSuffix=core.windows.net"
        )


ACCOUNT = (
    "/".join(
        (
            "",
            "subscriptions",
            SUBSCRIPTION,
            "resourceGroups",
            GROUP,
            "providers",
            "Microsoft.Storage",
        )
    )
    + "/storageAccounts"
)


@pytest.mark.parametrize(
    ("changes", "tag"),
    [
        ({"target": None}, T.TARGET),
        ({"target": "st1.blob.core.windows.net"}, T.TARGET),
        ({"target": f"{ACCOUNT}/UPPER"}, T.TARGET),
        ({"target": f"{ACCOUNT}/st1/blobServices/default"}, T.TARGET),
        ({"target": ACCOUNT.replace(GROUP, "a;b'") + "/st1"}, T.TARGET),
        ({"target": f"{ACCOUNT}/st1\x00"}, T.TARGET),
        ({"target": f"{ACCOUNT}/{'s' * 2000}"}, T.TARGET),
        ({"strategy": Strategy.SINGLE}, T.STRATEGY),
        ({"options": {"key-format": "xml"}}, T.KEY_FORMAT),
    ],
)
def test_bad_configuration_is_refused(changes: dict[str, Any], tag: str) -> None:
    assert refused_tag(StorageAccountKeyRotator, f"{ACCOUNT}/st1", changes) == tag
