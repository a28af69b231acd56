"""The ``ldap`` rotator end to end through function_app.py, against a throwaway slapd over
verified LDAPS (tests/support/slapd.py, certificate for ``localhost`` from a local CA).

- single, self-service: a near-expiry event from Key Vault's clock, delivered by the emulated
  Event Grid, commits a new version whose password binds while the old one no longer does;
- alternating with an admin and a consumer (an emulated web app that re-reads the secret on
  restart): the clone gets the new password, the original keeps working until the consumer
  moved, then the next rotation resets the original and the first password is dead.

Test code checks passwords with its own binds (tests/support/slapd.py), never the rotator's.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulators.stack import AzureStack
from rotation import tags as T
from rotation.testing import unique_name
from tests.e2e.catalogue_support import LeakWatch, assert_rotated, deliver_near_expiry, put_secret
from tests.e2e.conftest import AppUnderTest
from tests.e2e.consumer_support import (
    call_api,
    current_secret,
    define_consumers,
    event_types,
    events_topic,
    web_app_consumer,
)
from tests.support.slapd import ADMIN_DN, Slapd, person_dn, start_slapd, stop_slapd
from tests.support.tls import CERT_HOST, ServerCA

COMMITTED_THEN_RETIRED = [
    "KeyVault.Rotation.Started",
    "KeyVault.Rotation.Committed",
    "KeyVault.Rotation.ConsumersConfirmed",
    "KeyVault.Rotation.Retired",
]


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """The module's own server (the rotator tests' session one lives in their conftest)."""
    server = start_slapd(ServerCA(tmp_path_factory.mktemp("ldap-ca")))
    yield server
    stop_slapd(server)


@pytest.fixture
def account(slapd: Slapd) -> Iterator[tuple[str, str]]:
    """A fresh account and its clone (unknown password); deleted after the test."""
    name = unique_name("svc")
    login = slapd.add_pair(name, "Aa1-" + unique_name("pw"))
    yield name, login.password
    slapd.delete_pairs(name)


@pytest.fixture
def leaks(caplog: pytest.LogCaptureFixture) -> Iterator[LeakWatch]:
    watch = LeakWatch(caplog)
    yield watch
    watch.check()


def _tags(slapd: Slapd, **extra: str) -> dict[str, str]:
    return {
        T.ROTATOR: "ldap",
        T.TARGET: slapd.target("ldaps", CERT_HOST),
        T.TLS_CA: str(slapd.ca_file),
        **extra,
    }


def _binds(slapd: Slapd, username: str, password: str) -> bool:
    return slapd.bind(person_dn(username), password)


def test_ldap_single_self_service_rotates_through_event_grid(
    app: AppUnderTest, slapd: Slapd, account: tuple[str, str], leaks: LeakWatch
) -> None:
    user, old = account
    login = {"username": user, "password": old}
    first = put_secret(app, "svc-ldap", login, tags=_tags(slapd))

    assert len(deliver_near_expiry(app)) == 1

    new = assert_rotated(app, "svc-ldap", first)
    leaks.watch(old, new.value["password"])
    assert new.value["username"] == user
    assert _binds(slapd, user, new.value["password"])
    assert not _binds(slapd, user, old), "single: the old password must stop working"


def test_ldap_alternating_retires_the_old_login_after_the_consumer_moved(
    app: AppUnderTest,
    azure_stack: AzureStack,
    slapd: Slapd,
    account: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    leaks: LeakWatch,
) -> None:
    user, old = account
    name = "svc-ldap-pair"
    web = web_app_consumer(azure_stack, app, name)
    define_consumers(monkeypatch, {"svc-web": web.definition(restart=True)})
    topic = events_topic(azure_stack, app, monkeypatch)
    app.put_login(
        f"{name}-admin",
        ADMIN_DN,
        slapd.admin_password,
        tags={T.ADMIN_FOR: name, T.TARGET: slapd.target("ldaps", CERT_HOST)},
    )
    tags = _tags(
        slapd,
        **{T.STRATEGY: "alternating", T.ADMIN_SECRET: f"{name}-admin", T.CONSUMERS: "svc-web"},
    )
    first = app.put_login(name, user, old, tags=tags, expires_in_days=200)
    web.resolve(first)
    azure_stack.arm.on_restart(
        web.resource_id, lambda: web.resolve(app.client.get_secret(name).properties.version)
    )

    status, body = call_api(app, "POST", name)
    assert status == 200 and body["state"] == "completed", body

    clone, props = current_secret(app, name)
    leaks.watch(old, clone["password"], slapd.admin_password)
    assert props.version != first
    assert clone["username"] == f"{user}_clone"
    assert _binds(slapd, clone["username"], clone["password"])
    assert _binds(slapd, user, old), "alternating: the old login lives until the next rotation"
    assert event_types(topic, name) == COMMITTED_THEN_RETIRED
    assert web.restarts() == 1

    status, body = call_api(app, "POST", name)
    assert status == 200 and body["state"] == "completed", body

    again, _ = current_secret(app, name)
    leaks.watch(again["password"])
    assert again["username"] == user
    assert _binds(slapd, user, again["password"])
    assert not _binds(slapd, user, old), "the first password is dead after the next rotation"
    assert _binds(slapd, clone["username"], clone["password"]), "the clone stays alive"
