"""``storage-account-key`` end to end through function_app.py on the local stack: the flows of
tests/e2e/account_keys_flow.py with a storage account whose blob endpoint is a real Azurite
(the test checks keys with its own SharedKey-signed calls)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rotators.storage_account_key import REQUIRED_ROLE
from tests.e2e.account_keys_flow import (
    AccountKind,
    rotation_moves_to_the_other_key,
    without_the_role_nothing_changes,
)
from tests.e2e.catalogue_support import LeakWatch
from tests.e2e.conftest import AppUnderTest
from tests.support.account_keys import blob_accepts

STORAGE = AccountKind(
    "storage-account-key", "storage", REQUIRED_ROLE, ("key1", "key2"), blob_accepts
)


@pytest.fixture
def leaks(caplog: pytest.LogCaptureFixture) -> Iterator[LeakWatch]:
    watch = LeakWatch(caplog)
    yield watch
    watch.check()


def test_rotation_moves_to_the_other_key_and_retires_the_old_after_consumers(
    app: AppUnderTest, monkeypatch: pytest.MonkeyPatch, leaks: LeakWatch
) -> None:
    rotation_moves_to_the_other_key(app, STORAGE, monkeypatch, leaks)


def test_without_the_key_operator_role_nothing_changes(app: AppUnderTest) -> None:
    without_the_role_nothing_changes(app, STORAGE)
