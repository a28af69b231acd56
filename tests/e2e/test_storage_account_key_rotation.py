"""``storage-account-key`` end to end through function_app.py, on the local stack.

A storage account in the emulated ARM, its keys served by a real Azurite; the managed
secret holds ``key1``. Key Vault's near-expiry event reaches the Event Grid trigger, the app
regenerates ``key2`` and commits it; the test's own SharedKey-signed blob calls check which
keys work. The old key stays alive while a consumer (an App Service app's Key Vault
reference) still uses the old version, and the next rotation, once the consumer moved,
regenerates it: the old key is then dead and the key consumers hold keeps working.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from rotation import tags as T
from rotators.storage_account_key import REQUIRED_ROLE
from tests.e2e.catalogue_support import LeakWatch, deliver_near_expiry, put_secret
from tests.e2e.conftest import AppUnderTest
from tests.e2e.consumer_support import call_api, define_consumers, sweep, web_app_consumer
from tests.support.account_keys import blob_accepts

SUBSCRIPTION = str(uuid.uuid4())
GROUP = "rg-e2e-storage"


def current(app: AppUnderTest, name: str) -> tuple[dict[str, Any], str, dict[str, str]]:
    secret = app.client.get_secret(name)
    tags = dict(secret.properties.tags or {})
    return json.loads(secret.value or ""), secret.properties.version or "", tags


@pytest.fixture
def leaks(caplog: pytest.LogCaptureFixture) -> Any:
    watch = LeakWatch(caplog)
    yield watch
    watch.check()


def test_rotation_moves_to_the_other_key_and_retires_the_old_after_consumers(
    app: AppUnderTest, monkeypatch: pytest.MonkeyPatch, leaks: LeakWatch
) -> None:
    stack = app.vault.stack
    account = "ste2e" + uuid.uuid4().hex[:12]
    target = stack.arm.create_storage_account(SUBSCRIPTION, GROUP, account)
    stack.arm.assign_role(target, app.vault.identity.principal_id, REQUIRED_ROLE)
    name = "orders-storage-key"
    web = web_app_consumer(stack, app, name)
    define_consumers(monkeypatch, {"orders-web": web.definition(restart=False)})
    key1 = stack.arm.account_key(target, "key1")
    first = put_secret(
        app,
        name,
        {"username": "key1", "password": key1},
        tags={T.ROTATOR: "storage-account-key", T.TARGET: target, T.CONSUMERS: "orders-web"},
    )
    web.resolve(first)

    assert len(deliver_near_expiry(app)) == 1

    value, second, tags = current(app, name)
    leaks.watch(key1, value["password"])
    assert second != first
    assert tags[T.STATE] == "awaiting-consumers"
    assert value["username"] == "key2"
    assert value["password"] == stack.arm.account_key(target, "key2")
    assert blob_accepts(account, value["password"]), "the new key works"
    assert blob_accepts(account, key1), "the old key lives while the consumer uses it"

    web.resolve(second)  # the consumer moved
    sweep(app)
    _, version, tags = current(app, name)
    assert version == second and tags[T.STATE] == "completed"
    assert blob_accepts(account, key1), "alternating: the old key is the standby"

    # The next rotation regenerates the standby: the first key is retired for good.
    status, body = call_api(app, "POST", name)
    assert status == 200, body
    third_value, third, _ = current(app, name)
    leaks.watch(third_value["password"])
    assert third != second and third_value["username"] == "key1"
    assert not blob_accepts(account, key1), "the old key is dead"
    assert blob_accepts(account, value["password"]), "the key the consumer holds still works"
    assert blob_accepts(account, third_value["password"])


def test_without_the_key_operator_role_nothing_changes(app: AppUnderTest) -> None:
    stack = app.vault.stack
    account = "ste2e" + uuid.uuid4().hex[:12]
    target = stack.arm.create_storage_account(SUBSCRIPTION, GROUP, account)
    key1 = stack.arm.account_key(target, "key1")
    first = put_secret(
        app,
        "no-role-storage-key",
        {"username": "key1", "password": key1},
        tags={T.ROTATOR: "storage-account-key", T.TARGET: target},
    )

    assert len(deliver_near_expiry(app)) == 1  # acknowledged: retrying cannot help

    assert app.client.get_secret("no-role-storage-key").properties.version == first
    assert stack.arm.storage.find(target).keys.regenerations == 0  # type: ignore[union-attr]
    assert blob_accepts(account, key1)
