"""``cosmos-db-key`` end to end through function_app.py on the local stack: the flows of
tests/e2e/account_keys_flow.py with a Cosmos DB account (long-running key regeneration in
ARM; keys checked by the test with the real ``azure-cosmos`` client), for the read-write
pair and, with ``rotation-key-kind=read-only``, the read-only pair."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rotation import tags as T
from rotators.cosmos_db_key import REQUIRED_ROLE
from tests.e2e import account_keys_flow as flow
from tests.e2e.catalogue_support import LeakWatch
from tests.e2e.conftest import AppUnderTest
from tests.support.account_keys import cosmos_accepts

READ_WRITE = flow.AccountKind(
    "cosmos-db-key", "cosmos", REQUIRED_ROLE, ("primary", "secondary"), cosmos_accepts
)
READ_ONLY = flow.AccountKind(
    "cosmos-db-key", "cosmos", REQUIRED_ROLE, ("primaryReadonly", "secondaryReadonly"),
    cosmos_accepts, ((T.KEY_KIND, "read-only"),),
)  # fmt: skip


@pytest.fixture
def watched(caplog: pytest.LogCaptureFixture) -> Iterator[LeakWatch]:
    """Keys the flow registers must not appear in any log record of the test."""
    watch = LeakWatch(caplog)
    yield watch
    watch.check()


@pytest.mark.parametrize("kind", [READ_WRITE, READ_ONLY], ids=["read-write", "read-only"])
def test_rotation_moves_to_the_other_key_and_retires_the_old_after_consumers(
    app: AppUnderTest, monkeypatch: pytest.MonkeyPatch, watched: LeakWatch, kind: flow.AccountKind
) -> None:
    flow.rotation_moves_to_the_other_key(app, kind, monkeypatch, watched)


def test_without_a_role_on_the_account_nothing_changes(app: AppUnderTest) -> None:
    flow.without_the_role_nothing_changes(app, READ_WRITE)
