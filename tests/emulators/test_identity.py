"""The managed identity endpoint, through azure-identity and on the wire."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import jwt
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

from emulators.identity import InvalidToken, ManagedIdentity
from emulators.stack import IMDS_ENV, AzureStack

VAULT = "https://vault.azure.net"


def test_managed_identity_credential_gets_a_valid_token(
    azure_stack: AzureStack, azure_identity: ManagedIdentity
) -> None:
    with ManagedIdentityCredential(client_id=azure_identity.client_id) as credential:
        token = credential.get_token("https://vault.azure.net/.default")
    assert token.expires_on > time.time() + 3600
    claims = azure_stack.identity.validate(token.token, VAULT)
    assert claims["aud"] == VAULT
    assert claims["oid"] == azure_identity.principal_id
    assert claims["appid"] == claims["azp"] == azure_identity.client_id
    assert claims["tid"] == azure_stack.identity.tenant_id
    assert claims["iat"] <= claims["nbf"] < claims["exp"]
    assert jwt.get_unverified_header(token.token)["alg"] == "RS256"


def test_default_azure_credential(azure_stack: AzureStack, azure_identity: ManagedIdentity) -> None:
    with DefaultAzureCredential(managed_identity_client_id=azure_identity.client_id) as credential:
        token = credential.get_token("https://management.azure.com/.default")
    claims = azure_stack.identity.validate(token.token, "https://management.azure.com/")
    assert claims["oid"] == azure_identity.principal_id


def test_unknown_client_id_is_refused(azure_stack: AzureStack) -> None:
    with ManagedIdentityCredential(client_id="00000000-0000-0000-0000-000000000000") as credential:
        with pytest.raises(ClientAuthenticationError):
            credential.get_token("https://vault.azure.net/.default")
    response = requests.get(
        os.environ["IDENTITY_ENDPOINT"],
        params={"api-version": "2019-08-01", "resource": VAULT, "client_id": "nobody"},
        headers={"X-IDENTITY-HEADER": os.environ["IDENTITY_HEADER"]},
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["message"] == "Unable to load the proper Managed Identity."
    assert response.json()["statusCode"] == 400


def test_app_service_header_and_parameters(
    azure_stack: AzureStack, azure_identity: ManagedIdentity
) -> None:
    url = os.environ["IDENTITY_ENDPOINT"]
    params = {"api-version": "2019-08-01", "resource": VAULT, "client_id": azure_identity.client_id}
    good = {"X-IDENTITY-HEADER": os.environ["IDENTITY_HEADER"]}
    assert requests.get(url, params=params, timeout=5).status_code == 400
    wrong = requests.get(url, params=params, headers={"X-IDENTITY-HEADER": "guess"}, timeout=5)
    assert wrong.status_code == 401
    assert os.environ["IDENTITY_HEADER"] not in wrong.text
    old = requests.get(url, params={**params, "api-version": "2017-09-01"}, headers=good, timeout=5)
    assert old.status_code == 400
    no_resource = {k: v for k, v in params.items() if k != "resource"}
    assert requests.get(url, params=no_resource, headers=good, timeout=5).status_code == 400
    ok = requests.get(url, params=params, headers=good, timeout=5)
    assert ok.status_code == 200
    body = ok.json()
    assert body["token_type"] == "Bearer" and body["resource"] == VAULT
    assert int(body["expires_on"]) > time.time()


def test_imds_dialect(azure_stack: AzureStack, azure_identity: ManagedIdentity) -> None:
    url = os.environ[IMDS_ENV] + "/metadata/identity/oauth2/token"
    params = {"api-version": "2018-02-01", "resource": VAULT, "client_id": azure_identity.client_id}
    missing = requests.get(url, params=params, timeout=5)
    assert missing.status_code == 400
    assert missing.json() == {
        "error": "invalid_request",
        "error_description": "Required metadata header not specified",
    }
    unknown = requests.get(
        url, params={**params, "client_id": "nobody"}, headers={"Metadata": "true"}, timeout=5
    )
    assert (
        unknown.status_code == 400 and unknown.json()["error_description"] == "Identity not found"
    )
    ok = requests.get(url, params=params, headers={"Metadata": "true"}, timeout=5)
    assert ok.status_code == 200
    azure_stack.identity.validate(ok.json()["access_token"], VAULT)


@pytest.fixture
def imds_only_env(azure_stack: AzureStack) -> Iterator[None]:
    """The environment of a VM: only the IMDS host variable, no App Service variables."""
    saved = {k: os.environ.pop(k) for k in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER")}
    try:
        yield
    finally:
        os.environ.update(saved)


def test_managed_identity_credential_over_imds(
    azure_stack: AzureStack, azure_identity: ManagedIdentity, imds_only_env: None
) -> None:
    with ManagedIdentityCredential(client_id=azure_identity.client_id) as credential:
        token = credential.get_token("https://vault.azure.net/.default")
    assert azure_stack.identity.validate(token.token, VAULT)["oid"] == azure_identity.principal_id


def test_validate_reasons(azure_stack: AzureStack, azure_identity: ManagedIdentity) -> None:
    identity = azure_stack.identity
    token, _ = identity.issue_token(azure_identity, VAULT)
    with pytest.raises(InvalidToken, match="audience"):
        identity.validate(token, "https://storage.azure.com")
    expired, _ = identity.issue_token(azure_identity, VAULT, issued_at=time.time() - 100_000)
    with pytest.raises(InvalidToken, match="expired"):
        identity.validate(expired, VAULT)
    with pytest.raises(InvalidToken, match="malformed"):
        identity.validate("garbage", VAULT)
    other = AzureStack(tenant_id=identity.tenant_id).identity
    foreign, _ = other.issue_token(azure_identity, VAULT)
    with pytest.raises(InvalidToken, match="signature"):
        identity.validate(foreign, VAULT)
    unsigned = jwt.encode(
        jwt.decode(token, options={"verify_signature": False}), key="", algorithm="none"
    )
    with pytest.raises(InvalidToken):
        identity.validate(unsigned, VAULT)
