"""ROTATION_CREDENTIAL: the managed identity alone in Azure; the developer chain on a laptop."""

from __future__ import annotations

import pytest
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

import composition
from rotation.errors import ConfigurationError
from rotation.settings import AppSettings

SETTINGS = AppSettings.from_env(
    {"ROTATION_VAULTS": "https://vault1.vault.azure.net", "AZURE_CLIENT_ID": "client-1"}
)


def member_types(credential: DefaultAzureCredential) -> list[str]:
    return [type(c).__name__ for c in credential.credentials]


def test_the_default_is_the_user_assigned_managed_identity_alone() -> None:
    for env in ({}, {"ROTATION_CREDENTIAL": "managed-identity"}, {"ROTATION_CREDENTIAL": " "}):
        credential = composition.app_credential(SETTINGS, env)
        assert type(credential) is ManagedIdentityCredential


def test_managed_identity_needs_a_client_id() -> None:
    settings = AppSettings.from_env({"ROTATION_VAULTS": "https://vault1.vault.azure.net"})
    with pytest.raises(ConfigurationError, match="AZURE_CLIENT_ID"):
        composition.app_credential(settings, {})


def test_developer_uses_the_developer_logins_and_never_a_managed_identity() -> None:
    credential = composition.app_credential(SETTINGS, {"ROTATION_CREDENTIAL": "Developer"})
    assert isinstance(credential, DefaultAzureCredential)
    members = member_types(credential)
    assert "AzureCliCredential" in members
    assert "AzureDeveloperCliCredential" in members
    assert "ManagedIdentityCredential" not in members
    assert "SharedTokenCacheCredential" not in members
    assert "InteractiveBrowserCredential" not in members


def test_developer_is_refused_in_azure() -> None:
    env = {"ROTATION_CREDENTIAL": "developer", "WEBSITE_INSTANCE_ID": "abc123"}
    with pytest.raises(ConfigurationError, match="local development only") as caught:
        composition.app_credential(SETTINGS, env)
    assert "WEBSITE_INSTANCE_ID" in str(caught.value)


def test_an_unknown_credential_setting_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="ROTATION_CREDENTIAL"):
        composition.app_credential(SETTINGS, {"ROTATION_CREDENTIAL": "client-secret"})


def test_a_deployed_app_never_sets_the_developer_credential() -> None:
    from tests.infra.templates import app_settings, load_templates

    site = next(
        r
        for r in load_templates()["modules/function-app.bicep"].resources("Microsoft.Web/sites")
        if not r.existing
    )
    assert "ROTATION_CREDENTIAL" not in app_settings(site)
