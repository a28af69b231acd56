"""The ARM emulator through the real management SDKs, the proxy and managed identity tokens."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ManagedIdentityCredential
from azure.mgmt.sql import SqlManagementClient
from azure.mgmt.web import WebSiteManagementClient

from emulators.arm import ArmEmulator
from emulators.faults import FaultRule
from emulators.identity import ManagedIdentity
from emulators.stack import AzureStack
from tests.support.own_stack import FAST_SDK

PASSWORD = "Initial-Passw0rd!42"
NEW_PASSWORD = "Second-Passw0rd!43"
FAST = FAST_SDK


@pytest.fixture(autouse=True)
def _reset(stack: AzureStack, arm: ArmEmulator) -> Iterator[None]:
    arm.set_lro_polls(1)
    yield
    stack.faults.clear()


@pytest.fixture
def identity(stack: AzureStack) -> ManagedIdentity:
    return stack.identity.add_identity()


@pytest.fixture
def subscription() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def server(arm: ArmEmulator, subscription: str) -> str:
    return arm.create_sql_server(subscription, "rg-sdk", "srv-sdk", "sqladmin", PASSWORD)


def grant_on_group(arm: ArmEmulator, server: str, identity: ManagedIdentity, role: str) -> str:
    """Give ``identity`` ``role`` on the resource group of ``server``; return the group's id."""
    group = server.split("/providers/")[0]
    arm.assign_role(group, identity.principal_id, role)
    return group


@pytest.fixture
def contributor(arm: ArmEmulator, server: str, identity: ManagedIdentity) -> None:
    """The identity is SQL Server Contributor on ``server``."""
    arm.assign_role(server, identity.principal_id, "SQL Server Contributor")


@pytest.fixture
def sql(identity: ManagedIdentity, subscription: str) -> Iterator[SqlManagementClient]:
    credential = ManagedIdentityCredential(client_id=identity.client_id)
    with SqlManagementClient(credential, subscription, **FAST) as client:
        yield client


@pytest.fixture
def web(identity: ManagedIdentity, subscription: str) -> Iterator[WebSiteManagementClient]:
    credential = ManagedIdentityCredential(client_id=identity.client_id)
    with WebSiteManagementClient(credential, subscription, **FAST) as client:
        yield client


def update(sql: SqlManagementClient, password: str) -> object:
    patch = {"properties": {"administratorLoginPassword": password}}
    return sql.servers.begin_update("rg-sdk", "srv-sdk", patch).result()


def test_update_password_is_a_polled_lro(
    stack: AzureStack, arm: ArmEmulator, sql: SqlManagementClient, server: str, contributor: None
) -> None:
    arm.set_lro_polls(3)
    polls = stack.faults.add(
        FaultRule(operation="sql_server_azure_async_operation_get", times=None)
    )
    patch = {"properties": {"administratorLoginPassword": NEW_PASSWORD}}
    poller = sql.servers.begin_update("rg-sdk", "srv-sdk", patch)
    result = poller.result()
    assert poller.status() == "Succeeded"
    assert stack.faults.fired(polls) == 4  # three InProgress, then Succeeded
    assert result.properties is not None
    assert result.properties.administrator_login == "sqladmin"
    assert result.properties.administrator_login_password is None
    assert arm.sql_admin_password_matches(server, NEW_PASSWORD)
    assert not arm.sql_admin_password_matches(server, PASSWORD)


def test_create_or_update_creates_a_server(
    arm: ArmEmulator, sql: SqlManagementClient, server: str, identity: ManagedIdentity
) -> None:
    group = grant_on_group(arm, server, identity, "Contributor")
    body = {
        "location": "westeurope",
        "properties": {"administratorLogin": "boss", "administratorLoginPassword": PASSWORD},
    }
    created = sql.servers.begin_create_or_update("rg-sdk", "srv-made", body).result()
    assert created.name == "srv-made"
    assert sql.servers.get("rg-sdk", "srv-made").properties.administrator_login == "boss"  # type: ignore[union-attr]
    assert arm.sql_admin_password_matches(
        f"{group}/providers/Microsoft.Sql/servers/srv-made", PASSWORD
    )


def test_without_role_is_403_and_nothing_changes(
    arm: ArmEmulator, sql: SqlManagementClient, server: str, identity: ManagedIdentity
) -> None:
    arm.assign_role(server, identity.principal_id, "Reader")
    assert sql.servers.get("rg-sdk", "srv-sdk").name == "srv-sdk"
    with pytest.raises(HttpResponseError) as raised:
        update(sql, NEW_PASSWORD)
    assert raised.value.status_code == 403
    assert raised.value.error is not None and raised.value.error.code == "AuthorizationFailed"
    assert NEW_PASSWORD not in str(raised.value)
    assert arm.sql_admin_password_matches(server, PASSWORD)


def test_website_contributor_cannot_touch_sql(
    arm: ArmEmulator, sql: SqlManagementClient, server: str, identity: ManagedIdentity
) -> None:
    grant_on_group(arm, server, identity, "Website Contributor")
    with pytest.raises(HttpResponseError) as raised:
        sql.servers.get("rg-sdk", "srv-sdk")
    assert raised.value.status_code == 403


def test_missing_server_is_404(
    arm: ArmEmulator, sql: SqlManagementClient, server: str, identity: ManagedIdentity
) -> None:
    grant_on_group(arm, server, identity, "SQL Server Contributor")
    with pytest.raises(ResourceNotFoundError) as raised:
        sql.servers.get("rg-sdk", "srv-nope")
    assert raised.value.error is not None and raised.value.error.code == "ResourceNotFound"


def test_throttling_is_retried_by_the_sdk(
    stack: AzureStack, arm: ArmEmulator, sql: SqlManagementClient, server: str, contributor: None
) -> None:
    rule = stack.faults.add(FaultRule(operation="sql_servers_update", status=429, retry_after=1))
    started = time.monotonic()
    update(sql, NEW_PASSWORD)
    assert stack.faults.fired(rule) == 1
    assert time.monotonic() - started >= 0.9  # Retry-After honoured
    assert arm.sql_admin_password_matches(server, NEW_PASSWORD)


def test_persistent_5xx_surfaces_after_retries(
    stack: AzureStack, arm: ArmEmulator, sql: SqlManagementClient, server: str, contributor: None
) -> None:
    rule = stack.faults.add(FaultRule(operation="sql_servers_update", status=503, times=None))
    with pytest.raises(HttpResponseError) as raised:
        update(sql, NEW_PASSWORD)
    assert raised.value.status_code == 503
    assert stack.faults.fired(rule) > 1  # retried before giving up
    assert arm.sql_admin_password_matches(server, PASSWORD)


def test_web_app_key_vault_references(
    arm: ArmEmulator,
    web: WebSiteManagementClient,
    subscription: str,
    identity: ManagedIdentity,
) -> None:
    app = arm.create_web_app(subscription, "rg-web", "app-sdk", app_settings={"PLAIN": "1"})
    arm.assign_role(app, identity.principal_id, "Website Contributor")
    arm.set_key_vault_reference(app, "DB_PASSWORD", "kv-one", "db-pass", "v1")
    arm.set_key_vault_reference(app, "API_KEY", "kv-one", "api-key", "p1", pinned_version="p1")

    site = web.web_apps.get("rg-web", "app-sdk")
    assert site.default_host_name == "app-sdk.azurewebsites.net"

    settings = web.web_apps.list_application_settings("rg-web", "app-sdk").properties or {}
    assert settings["PLAIN"] == "1"
    assert settings["DB_PASSWORD"] == (
        "@Microsoft.KeyVault(SecretUri=https://kv-one.vault.azure.net/secrets/db-pass/)"
    )

    refs = {
        r.name: r.properties
        for r in web.web_apps.get_app_settings_key_vault_references("rg-web", "app-sdk")
    }
    assert set(refs) == {"DB_PASSWORD", "API_KEY"}
    db = refs["DB_PASSWORD"]
    assert db is not None
    assert (db.vault_name, db.secret_name, db.status, db.active_version) == (
        "kv-one",
        "db-pass",
        "Resolved",
        "v1",
    )
    assert db.secret_version == ""
    pinned = refs["API_KEY"]
    assert pinned is not None and pinned.secret_version == "p1"

    # The consumer moves to the new version when the app restarts.
    arm.on_restart(
        app, lambda: arm.set_key_vault_reference(app, "DB_PASSWORD", "kv-one", "db-pass", "v2")
    )
    web.web_apps.restart("rg-web", "app-sdk")
    assert arm.web_app_restarts(app) == 1
    one = web.web_apps.get_app_setting_key_vault_reference("rg-web", "app-sdk", "DB_PASSWORD")
    assert one.properties is not None and one.properties.active_version == "v2"


def test_reader_cannot_list_app_settings(
    arm: ArmEmulator,
    web: WebSiteManagementClient,
    subscription: str,
    identity: ManagedIdentity,
) -> None:
    app = arm.create_web_app(subscription, "rg-web", "app-read", app_settings={"S": "secret"})
    arm.assign_role(app, identity.principal_id, "Reader")
    assert web.web_apps.get("rg-web", "app-read").name == "app-read"
    refs = list(web.web_apps.get_app_settings_key_vault_references("rg-web", "app-read"))
    assert refs == []
    with pytest.raises(HttpResponseError) as raised:
        web.web_apps.list_application_settings("rg-web", "app-read")
    assert raised.value.status_code == 403
    with pytest.raises(HttpResponseError) as restart:
        web.web_apps.restart("rg-web", "app-read")
    assert restart.value.status_code == 403
    assert arm.web_app_restarts(app) == 0
