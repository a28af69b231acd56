"""The end-to-end flows of the account-key rotators (``storage-account-key``,
``cosmos-db-key``) through function_app.py on the local stack, shared by their test files.

An account in the emulated ARM (its data plane: Azurite, or the emulated Cosmos DB data
plane); the managed secret holds the first key of the pair. Key Vault's near-expiry event
reaches the Event Grid trigger; the app regenerates the *other* key and commits it. The
test's own data-plane calls check which keys work: the old key stays alive while a consumer
(an App Service app's Key Vault reference) still uses the old version, stays the standby
once it moved, and the next rotation regenerates it: the old key is then dead and the key
the consumer holds keeps working.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest

from rotation import tags as T
from tests.e2e.catalogue_support import LeakWatch, deliver_near_expiry, put_secret
from tests.e2e.conftest import AppUnderTest
from tests.e2e.consumer_support import call_api, define_consumers, sweep, web_app_consumer


class AccountKind(NamedTuple):
    """One rotator kind as the flows see it: the ``rotation-rotator`` value, the emulator's
    provider (``storage``, ``cosmos``), the role the app needs, the pair in the order the
    first rotation walks it, the test's own data-plane check ``accepts(account, key)`` and
    extra tags of the managed secret (``rotation-key-kind``...)."""

    rotator: str
    provider: str
    role: str
    pair: tuple[str, str]
    accepts: Callable[[str, str], bool]
    tags: tuple[tuple[str, str], ...] = ()


def new_account(app: AppUnderTest, kind: AccountKind) -> tuple[str, str]:
    """A fresh account in its own subscription; returns (resource id, name)."""
    name = "e2e" + uuid.uuid4().hex[:16]
    provider = getattr(app.vault.stack.arm, kind.provider)
    return str(provider.create(str(uuid.uuid4()), "rg-e2e-keys", name).id), name


def current(app: AppUnderTest, name: str) -> tuple[dict[str, Any], str, dict[str, str]]:
    """The current value (JSON), version and tags of ``name``."""
    secret = app.client.get_secret(name)
    tags = dict(secret.properties.tags or {})
    return json.loads(secret.value or ""), secret.properties.version or "", tags


def rotation_moves_to_the_other_key(
    app: AppUnderTest, kind: AccountKind, monkeypatch: pytest.MonkeyPatch, leaks: LeakWatch
) -> None:
    """The flow of the module docstring."""
    arm = app.vault.stack.arm
    target, account = new_account(app, kind)
    arm.assign_role(target, app.vault.identity.principal_id, kind.role)
    one, two = kind.pair
    name = f"orders-{kind.rotator}"
    web = web_app_consumer(app.vault.stack, app, name)
    define_consumers(monkeypatch, {"orders-web": web.definition(restart=False)})
    old = arm.account_key(target, one)
    tags = {T.ROTATOR: kind.rotator, T.TARGET: target, T.CONSUMERS: "orders-web", **dict(kind.tags)}
    first = put_secret(app, name, {"username": one, "password": old}, tags=tags)
    web.resolve(first)

    assert len(deliver_near_expiry(app)) == 1

    value, second, state = current(app, name)
    leaks.watch(old, value["password"])
    assert second != first and state[T.STATE] == "awaiting-consumers"
    assert value["username"] == two and value["password"] == arm.account_key(target, two)
    assert kind.accepts(account, value["password"]), "the new key works"
    assert kind.accepts(account, old), "the old key lives while the consumer uses it"

    web.resolve(second)  # the consumer moved
    sweep(app)
    _, version, state = current(app, name)
    assert version == second and state[T.STATE] == "completed"
    assert kind.accepts(account, old), "alternating: the old key is the standby"

    # The next rotation regenerates the standby: the first key is retired for good.
    status, body = call_api(app, "POST", name)
    assert status == 200, body
    third_value, third, _ = current(app, name)
    leaks.watch(third_value["password"])
    assert third != second and third_value["username"] == one
    assert not kind.accepts(account, old), "the old key is dead"
    assert kind.accepts(account, value["password"]), "the key the consumer holds still works"
    assert kind.accepts(account, third_value["password"])


def without_the_role_nothing_changes(app: AppUnderTest, kind: AccountKind) -> None:
    """No role for the app on the account: the event is acknowledged, nothing changes."""
    target, account = new_account(app, kind)
    old = app.vault.stack.arm.account_key(target, kind.pair[0])
    name = f"no-role-{kind.rotator}"
    tags = {T.ROTATOR: kind.rotator, T.TARGET: target, **dict(kind.tags)}
    first = put_secret(app, name, {"username": kind.pair[0], "password": old}, tags=tags)

    assert len(deliver_near_expiry(app)) == 1  # acknowledged: retrying cannot help

    assert app.client.get_secret(name).properties.version == first
    ring = getattr(app.vault.stack.arm, kind.provider).find(target).keys
    assert ring.regenerations == 0
    assert kind.accepts(account, old)
