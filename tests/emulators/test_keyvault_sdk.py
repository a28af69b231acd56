"""Every Key Vault secret operation through the real azure-keyvault-secrets client."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.keyvault.secrets import SecretClient

from emulators.events import SecretChange
from emulators.pytest_plugin import VaultHandle
from tests.support.aging_vault import store_with_deleted_secret


def test_set_and_get_latest_and_by_version(
    secret_client: SecretClient, key_vault: VaultHandle
) -> None:
    first = secret_client.set_secret("db-password", "one", content_type="text/plain")
    second = secret_client.set_secret("db-password", "two", tags={"rotation-rotator": "pg"})

    assert len(first.properties.version or "") == 32
    assert first.properties.version != second.properties.version
    latest = secret_client.get_secret("db-password")
    assert latest.value == "two"
    assert latest.properties.version == second.properties.version
    assert latest.properties.tags == {"rotation-rotator": "pg"}
    assert latest.id == f"{key_vault.url}/secrets/db-password/{second.properties.version}"
    old = secret_client.get_secret("db-password", first.properties.version)
    assert old.value == "one"
    assert old.properties.content_type == "text/plain"
    stored = key_vault.stack.keyvault.versions(key_vault.name, "db-password")
    assert [v.version for v in stored] == [first.properties.version, second.properties.version]


def test_attributes_round_trip_and_update(secret_client: SecretClient) -> None:
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    not_before = datetime(2020, 1, 1, tzinfo=UTC)
    made = secret_client.set_secret("api-key", "v", expires_on=expires, not_before=not_before)
    assert made.properties.expires_on == expires
    assert made.properties.not_before == not_before
    assert made.properties.enabled is True
    assert made.properties.recoverable_days == 90

    updated = secret_client.update_secret_properties(
        "api-key",
        content_type="application/x-key",
        tags={"a": "b"},
        expires_on=expires + timedelta(days=1),
    )
    assert updated.content_type == "application/x-key"
    assert updated.tags == {"a": "b"}
    assert updated.expires_on == expires + timedelta(days=1)
    assert updated.version == made.properties.version


def test_disabled_version_cannot_be_read(secret_client: SecretClient) -> None:
    made = secret_client.set_secret("off", "value")
    secret_client.update_secret_properties("off", made.properties.version, enabled=False)
    with pytest.raises(HttpResponseError) as info:
        secret_client.get_secret("off")
    assert info.value.status_code == 403
    assert info.value.error is not None and info.value.error.code == "Forbidden"
    secret_client.update_secret_properties("off", made.properties.version, enabled=True)
    assert secret_client.get_secret("off").value == "value"


def test_missing_secret_is_not_found(secret_client: SecretClient) -> None:
    with pytest.raises(ResourceNotFoundError) as info:
        secret_client.get_secret("never-set")
    assert info.value.error is not None and info.value.error.code == "SecretNotFound"


def test_list_pages_across_several_pages(
    secret_client: SecretClient, key_vault: VaultHandle
) -> None:
    names = {f"s{i:02d}" for i in range(57)}
    service = key_vault.stack.keyvault
    for name in sorted(names):
        service.store.set(key_vault.name, name, "x", tags={"n": name})
    pages = list(secret_client.list_properties_of_secrets(max_page_size=10).by_page())
    assert len(pages) == 6
    listed = [p for page in pages for p in page]
    assert {p.name for p in listed} == names
    assert all(p.tags == {"n": p.name} for p in listed)
    default_pages = list(secret_client.list_properties_of_secrets().by_page())
    assert [len(list(page)) for page in default_pages] == [25, 25, 7]


def test_list_versions_pages(secret_client: SecretClient, key_vault: VaultHandle) -> None:
    made = [secret_client.set_secret("many", str(i)).properties.version for i in range(5)]
    pages = list(
        secret_client.list_properties_of_secret_versions("many", max_page_size=2).by_page()
    )
    assert len(pages) == 3
    assert [p.version for page in pages for p in page] == made


def test_soft_delete_recover_purge(secret_client: SecretClient) -> None:
    secret_client.set_secret("gone", "v1")
    deleted = secret_client.begin_delete_secret("gone").result()
    assert deleted.name == "gone"
    assert deleted.recovery_id is not None and deleted.recovery_id.endswith("/deletedsecrets/gone")
    assert deleted.scheduled_purge_date is not None and deleted.deleted_date is not None
    assert [d.name for d in secret_client.list_deleted_secrets()] == ["gone"]
    assert secret_client.get_deleted_secret("gone").name == "gone"
    with pytest.raises(ResourceNotFoundError):
        secret_client.get_secret("gone")
    with pytest.raises(ResourceExistsError) as info:
        secret_client.set_secret("gone", "v2")
    assert info.value.status_code == 409

    recovered = secret_client.begin_recover_deleted_secret("gone").result()
    assert recovered.name == "gone"
    assert secret_client.get_secret("gone").value == "v1"

    secret_client.begin_delete_secret("gone").result()
    secret_client.purge_deleted_secret("gone")
    assert list(secret_client.list_deleted_secrets()) == []
    assert secret_client.set_secret("gone", "v3").value == "v3"


def test_backup_and_restore(secret_client: SecretClient, key_vault: VaultHandle) -> None:
    secret_client.set_secret("keep", "a")
    secret_client.set_secret("keep", "b")
    blob = secret_client.backup_secret("keep")
    assert b"keep" not in blob and b"a" != blob  # opaque
    with pytest.raises(ResourceExistsError):
        secret_client.restore_secret_backup(blob)
    secret_client.begin_delete_secret("keep").result()
    secret_client.purge_deleted_secret("keep")
    restored = secret_client.restore_secret_backup(blob)
    assert restored.name == "keep"
    assert secret_client.get_secret("keep").value == "b"
    assert len(key_vault.stack.keyvault.versions(key_vault.name, "keep")) == 2


def test_listeners_and_current_versions(
    secret_client: SecretClient, key_vault: VaultHandle
) -> None:
    seen: list[SecretChange] = []
    service = key_vault.stack.keyvault
    service.add_listener(
        lambda change: seen.append(change) if change.secret.vault == key_vault.name else None
    )
    made = secret_client.set_secret("watched", "v", expires_on=datetime(2031, 1, 1, tzinfo=UTC))
    assert len(seen) == 1
    assert seen[0].kind == "SecretNewVersionCreated"
    assert seen[0].secret.name == "watched"
    assert seen[0].secret.version == made.properties.version
    assert seen[0].secret.expires == datetime(2031, 1, 1, tzinfo=UTC)
    current = [v for v in service.current_versions() if v.vault == key_vault.name]
    assert [(v.name, v.version) for v in current] == [("watched", made.properties.version)]
    secret_client.begin_delete_secret("watched").result()
    assert [v for v in service.current_versions() if v.vault == key_vault.name] == []


def test_restore_raises_an_event_and_recover_does_not(
    secret_client: SecretClient, key_vault: VaultHandle
) -> None:
    seen: list[str] = []
    key_vault.stack.keyvault.add_listener(
        lambda c: seen.append(c.secret.name) if c.secret.vault == key_vault.name else None
    )
    secret_client.set_secret("evt", "v")
    blob = secret_client.backup_secret("evt")
    secret_client.begin_delete_secret("evt").result()
    secret_client.begin_recover_deleted_secret("evt").result()
    assert seen == ["evt"]
    secret_client.begin_delete_secret("evt").result()
    secret_client.purge_deleted_secret("evt")
    secret_client.restore_secret_backup(blob)
    assert seen == ["evt", "evt"]


def test_soft_deleted_secret_is_purged_after_90_days(key_vault: VaultHandle) -> None:
    # A private clock: advancing the session stack's clock would age every other test's data.
    clock, store = store_with_deleted_secret()
    clock.advance(timedelta(days=89))
    assert [d.latest.name for d in store.list_deleted("aging")] == ["old"]
    clock.advance(timedelta(days=1))
    assert store.list_deleted("aging") == []
    assert store.set("aging", "old", "new").value == "new"


def test_administrator_role_can_do_everything(key_vault: VaultHandle) -> None:
    from azure.identity import ManagedIdentityCredential

    admin = key_vault.stack.identity.add_identity()
    key_vault.stack.keyvault.assign_role(
        key_vault.name, admin.principal_id, "Key Vault Administrator"
    )
    with SecretClient(
        key_vault.url, ManagedIdentityCredential(client_id=admin.client_id)
    ) as client:
        client.set_secret("by-admin", "v")
        assert client.get_secret("by-admin").value == "v"
        client.begin_delete_secret("by-admin").result()
        client.purge_deleted_secret("by-admin")


def test_secret_values_never_reach_the_logs(
    secret_client: SecretClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    value = "do-not-log-" + "7" * 20
    secret_client.set_secret("quiet", value)
    assert secret_client.get_secret("quiet").value == value
    with pytest.raises(HttpResponseError):
        secret_client.set_secret("quiet", value, tags={f"t{i}": "v" for i in range(16)})
    assert caplog.records, "the SDK logs at DEBUG; the check below must have something to read"
    assert value not in caplog.text
