"""The ``ssh`` rotator end to end through function_app.py, against a throwaway sshd.

The managed secret holds a login's private key (one line) with the tags a user would write;
Key Vault's near-expiry event reaches the Event Grid trigger; the test then checks with the
real ``ssh`` client that the new key logs in and the old one is refused: at once without
consumers, and only after the consumer moved to the new version when there is one. The
last test rotates a local password with ``ssh-password`` (chpasswd run by a pinned admin
key) for a throwaway OS user.
"""

from __future__ import annotations

import logging

import pytest

from emulators.stack import AzureStack
from rotation import tags as T
from rotation.credential import Credential
from rotation.testing import unique_name
from tests.e2e.catalogue_support import assert_rotated, deliver_near_expiry, put_secret, unique
from tests.e2e.conftest import AppUnderTest
from tests.e2e.consumer_support import (
    call_api,
    current_secret,
    define_consumers,
    sweep,
    web_app_consumer,
)
from tests.support.sshd import FOOTER, HEADER, Sshd, make_os_user, password_logs_in

pytestmark = pytest.mark.usefixtures("ssh_keys_restored")


def put_ssh_secret(app: AppUnderTest, sshd: Sshd, name: str, **tags: str) -> tuple[str, Credential]:
    """A managed ``ssh`` secret whose key the server authorizes; (version, credential)."""
    login = sshd.add_login(f"installed-by-hand-{name}")
    all_tags = {
        T.ROTATOR: "ssh",
        T.TARGET: sshd.target,
        T.SSH_HOST_KEY: sshd.host_public_key,
        T.SSH_AUTHORIZED_KEYS: str(sshd.authorized_keys),
        **tags,
    }
    value = {"username": login.username, "password": login.password}
    return put_secret(app, name, value, tags=all_tags), login


def logged_lines(caplog: pytest.LogCaptureFixture) -> str:
    formatter = logging.Formatter()
    return "\n".join(formatter.format(record) for record in caplog.records)


def test_an_event_rotates_the_key_and_retires_the_old_one(
    app: AppUnderTest, sshd: Sshd, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    name = unique("deploy-key").replace("_", "-")
    first, old = put_ssh_secret(app, sshd, name)
    assert sshd.logs_in(old)

    assert len(deliver_near_expiry(app)) == 1

    committed = assert_rotated(app, name, first)
    new = Credential(password=committed.value["password"], username=committed.value["username"])
    assert new.username == old.username and new.password != old.password
    assert new.password.startswith(HEADER + " ")
    assert sshd.logs_in(new)
    assert not sshd.logs_in(old), "no consumers: the old key is retired at once"
    text = sshd.authorized_keys.read_text()
    assert f"rotation:{name}" in text and f"installed-by-hand-{name}" not in text
    logged = logged_lines(caplog)
    assert "ssh:" in logged
    assert old.password not in logged and new.password not in logged


def test_the_old_key_lives_until_the_consumer_moved(
    app: AppUnderTest, azure_stack: AzureStack, sshd: Sshd, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = unique("backup-key").replace("_", "-")
    web = web_app_consumer(azure_stack, app, name)
    define_consumers(monkeypatch, {"backup-web": web.definition(restart=False)})
    first, old = put_ssh_secret(app, sshd, name, **{T.CONSUMERS: "backup-web"})
    web.resolve(first)

    deliver_near_expiry(app)

    value, props = current_secret(app, name)
    assert props.version != first
    assert props.tags[T.STATE] == "awaiting-consumers"
    new = Credential(password=value["password"], username=value["username"])
    assert sshd.logs_in(new)
    assert sshd.logs_in(old), "the consumer still uses the old version: its key must live"

    assert sweep(app) == 1
    assert sshd.logs_in(old), "a sweep before the consumer moved retires nothing"

    web.resolve(props.version)
    assert sweep(app) == 1
    _, props = current_secret(app, name)
    assert props.tags[T.STATE] == "completed"
    assert sshd.logs_in(new)
    assert not sshd.logs_in(old)
    status, body = call_api(app, "GET", name)
    assert status == 200 and body["consumers"]["backup-web"]["moved"] is True


@pytest.mark.parametrize(
    ("tags", "value"),
    [
        ({T.SSH_HOST_KEY: "ssh-ed25519 not-base64"}, None),
        ({T.SSH_HOST_KEY: "SHA256:" + "A" * 43}, None),
        ({T.SSH_AUTHORIZED_KEYS: ".profile"}, None),
        ({}, {"username": "$(reboot)"}),
        ({}, {"password": f"{HEADER} x {FOOTER}"}),
    ],
    ids=["pin-not-base64", "pin-of-another-host", "not-authorized-keys", "user", "not-a-key"],
)
def test_a_bad_secret_is_a_400_and_changes_nothing(
    app: AppUnderTest, sshd: Sshd, tags: dict[str, str], value: dict[str, str] | None
) -> None:
    name = unique("bad-key").replace("_", "-")
    first, login = put_ssh_secret(app, sshd, name, **tags)
    if value is not None:
        stored = {"username": login.username, "password": login.password, **value}
        first = put_secret(app, name, stored, tags=app.client.get_secret(name).properties.tags)
    before = sshd.authorized_keys.read_bytes()

    status, body = call_api(app, "POST", name)

    assert status == 400, body
    assert body["error"]["code"] == "ConfigurationError", body
    assert current_secret(app, name)[1].version == first
    assert sshd.authorized_keys.read_bytes() == before
    assert login.password not in str(body)


# ---------------------------------------------------------------------- ssh-password


def test_an_event_sets_a_local_password_with_chpasswd(
    app: AppUnderTest, password_sshd: Sshd, os_users: list[str]
) -> None:
    admin = password_sshd.add_login("admin")
    admin_tags = {T.ADMIN_FOR: "*", T.TARGET: password_sshd.target}
    put_secret(
        app,
        "legacy-root",
        {"username": admin.username, "password": admin.password},
        tags=admin_tags,
        expires_in_days=None,
    )
    old = make_os_user(os_users, unique_name())
    name = unique("operator-password").replace("_", "-")
    tags = {
        T.ROTATOR: "ssh-password",
        T.TARGET: password_sshd.target,
        T.SSH_HOST_KEY: password_sshd.host_public_key,
        T.ADMIN_SECRET: "legacy-root",
    }
    first = put_secret(app, name, {"username": old.username, "password": old.password}, tags=tags)

    deliver_near_expiry(app)

    committed = assert_rotated(app, name, first)
    new = Credential(password=committed.value["password"], username=old.username)
    assert new.password != old.password
    assert password_logs_in(password_sshd, new)
    assert not password_logs_in(password_sshd, old), "single: the old password stops working"
