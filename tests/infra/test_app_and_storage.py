"""The Function App runs as one user-assigned identity, with no secret in its settings."""

from __future__ import annotations

import re

import pytest

from tests.infra.templates import Resource, Template, app_settings, walk

SITE = "Microsoft.Web/sites"
STORAGE = "Microsoft.Storage/storageAccounts"


@pytest.fixture(scope="module")
def function_app(templates: dict[str, Template]) -> Template:
    return templates["modules/function-app.bicep"]


@pytest.fixture(scope="module")
def site(function_app: Template) -> Resource:
    return function_app.only(SITE)


def test_only_one_new_site_and_it_is_the_function_app(templates: dict[str, Template]) -> None:
    new_sites = [
        (t.name, s.symbol) for t in templates.values() for s in t.resources(SITE) if not s.existing
    ]
    assert new_sites == [("infra/modules/function-app.bicep", "app")]


def test_identity_is_user_assigned_only(function_app: Template, site: Resource) -> None:
    identity = site.get("identity")
    assert identity["type"] == "UserAssigned"  # not "SystemAssigned, UserAssigned"
    keys = list(identity["userAssignedIdentities"])
    assert keys == ["'${identityId}'"], keys
    # The same identity fetches the package and resolves Key Vault references.
    auth = site.get("properties", "functionAppConfig", "deployment", "storage", "authentication")
    assert auth == {"type": "UserAssignedIdentity", "userAssignedIdentityResourceId": "identityId"}
    assert site.get("properties", "keyVaultReferenceIdentity") == "identityId"


def test_identities_are_user_assigned_resources(templates: dict[str, Template]) -> None:
    identity = templates["modules/identity.bicep"]
    kinds = {r.type for r in identity.resources()}
    assert kinds == {"Microsoft.ManagedIdentity/userAssignedIdentities"}
    for template in templates.values():
        assert "SystemAssigned" not in template.text, template.name


def test_flex_consumption_python_311(function_app: Template, site: Resource) -> None:
    plan = function_app.resource("plan")
    assert plan.get("sku") == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan.get("properties", "reserved") is True
    assert site.get("kind") == "functionapp,linux"
    assert site.get("properties", "functionAppConfig", "runtime") == {
        "name": "python",
        "version": "3.11",
    }
    assert site.get("properties", "httpsOnly") is True
    assert site.get("properties", "siteConfig", "minTlsVersion") == "1.2"
    assert site.get("properties", "siteConfig", "ftpsState") == "Disabled"
    policies = {
        r.symbol: r.get("properties", "allow")
        for r in function_app.resources("Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    }
    assert policies == {"ftpCredentials": False, "scmCredentials": False}


def test_app_settings_the_app_reads(site: Resource) -> None:
    settings = app_settings(site)
    assert settings["AZURE_CLIENT_ID"] == "identityClientId"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["ROTATION_SWEEP_MODE"] == "queue"
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == (
        "ClientId=${identityClientId};Authorization=AAD"
    )
    from rotation import settings as app

    for name in (
        app.VAULTS,
        app.CLIENT_ID,
        app.SWEEP_MODE,
        app.EVENTS_ENDPOINT,
        app.CONSUMERS,
        app.CONSUMER_DEADLINE_HOURS,
        "ROTATION_SWEEP_SCHEDULE",
        "AzureWebJobsStorage__blobServiceUri",
        "AzureWebJobsStorage__queueServiceUri",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
    ):
        assert name in settings, name
    # Flex Consumption sets the runtime in functionAppConfig and refuses these settings.
    for name in ("FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION"):
        assert name not in settings


def test_no_secret_in_app_settings(site: Resource) -> None:
    settings = app_settings(site)
    # A connection-string AzureWebJobsStorage would carry the account key.
    assert "AzureWebJobsStorage" not in settings
    for name in settings:
        assert not re.search(r"(?i)(key|password|secret|token|sas)$", name), name
        assert "CONNECTION_STRING" not in name or name == "APPLICATIONINSIGHTS_CONNECTION_STRING"
    for node in walk(list(settings.values())):
        if isinstance(node, str):
            assert not re.search(r"(?i)accountkey=|sharedaccesssignature=|sig=|password=", node)
        if isinstance(node, dict) and "function" in node:
            assert "key" not in str(node["function"].get("type", "")).lower(), node


def test_app_insights_connection_string_is_not_a_credential(templates: dict[str, Template]) -> None:
    # The one connection string in the settings holds the component's public instrumentation
    # key, which can ingest nothing while local auth is disabled.
    component = templates["modules/monitoring.bicep"].resource("appInsights")
    assert component.get("properties", "DisableLocalAuth") is True
    workspace = templates["modules/monitoring.bicep"].resource("workspace")
    assert workspace.get("properties", "features", "disableLocalAuth") is True


def test_no_key_listing_anywhere(templates: dict[str, Template]) -> None:
    pattern = re.compile(r"(?i)\blist(keys|accountsas|servicesas|secrets|connectionstrings)\s*\(")
    for template in templates.values():
        assert not pattern.search(template.text), template.name
        assert "AccountKey=" not in template.text, template.name
        assert "@secure()" not in template.text, f"{template.name}: no secret parameters"


def test_storage_account_is_entra_only(templates: dict[str, Template]) -> None:
    storage = templates["modules/storage.bicep"]
    props = storage.only(STORAGE).get("properties")
    assert props["allowSharedKeyAccess"] is False
    assert props["allowBlobPublicAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["supportsHttpsTrafficOnly"] is True
    assert props["defaultToOAuthAuthentication"] is True
    for template in templates.values():
        if template.name != storage.name:
            assert not [r for r in template.resources(STORAGE) if not r.existing], template.name


def test_storage_holds_what_the_app_uses(templates: dict[str, Template]) -> None:
    storage = templates["modules/storage.bicep"]
    containers = {
        storage.resolve_string(r.get("name"))
        for r in storage.resources("Microsoft.Storage/storageAccounts/blobServices/containers")
    }
    assert {"rotation-locks", "eventgrid-deadletter"} <= containers
    for r in storage.resources("Microsoft.Storage/storageAccounts/blobServices/containers"):
        assert r.get("properties", "publicAccess") == "None", r.symbol
    queues = {
        storage.resolve_string(r.get("name"))
        for r in storage.resources("Microsoft.Storage/storageAccounts/queueServices/queues")
    }
    assert {"rotation-requests", "${workQueueName}-poison"} <= queues
    assert storage.resolve_string("workQueueName") == "rotation-requests"


def test_no_sql_server_or_vault_is_created(templates: dict[str, Template]) -> None:
    # The template references the operator's servers and vaults; it never creates or
    # reconfigures one (and .checkov.yaml's SQL skips rely on this).
    for template in templates.values():
        for kind in ("Microsoft.Sql/servers", "Microsoft.KeyVault/vaults"):
            created = [r.symbol for r in template.resources(kind) if not r.existing]
            assert not created, f"{template.name} creates {kind}: {created}"
