"""Key Vault's answers to bad input and bad credentials, over HTTPS through the proxy.

These use ``requests`` (which honours HTTPS_PROXY and REQUESTS_CA_BUNDLE from the stack's
environment) so that the wire answer itself is asserted, not the SDK's reading of it.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import jwt
import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.identity import ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient
from cryptography.hazmat.primitives.asymmetric import rsa

from emulators.pytest_plugin import VaultHandle

API = "api-version=2026-04-01"


def _token(key_vault: VaultHandle, **kwargs: object) -> str:
    token, _ = key_vault.stack.identity.issue_token(
        key_vault.identity,
        "https://vault.azure.net",
        **kwargs,  # type: ignore[arg-type]
    )
    return token


def _call(
    key_vault: VaultHandle, method: str, path: str, token: str | None, **kwargs: object
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, f"{key_vault.url}{path}", headers=headers, timeout=10, **kwargs)  # type: ignore[arg-type]


def _error(response: requests.Response) -> dict[str, object]:
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, object] = body["error"]
    return error


def test_unauthenticated_request_gets_the_challenge(key_vault: VaultHandle) -> None:
    response = _call(key_vault, "GET", f"/secrets/x/?{API}", None)
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    tenant = key_vault.stack.identity.tenant_id
    assert f'authorization="https://login.microsoftonline.com/{tenant}"' in challenge
    assert 'resource="https://vault.azure.net"' in challenge
    assert _error(response)["code"] == "Unauthorized"


def test_valid_token_and_json_errors(key_vault: VaultHandle) -> None:
    token = _token(key_vault)
    ok = _call(key_vault, "PUT", f"/secrets/raw?{API}", token, json={"value": "v"})
    assert ok.status_code == 200 and ok.json()["value"] == "v"

    malformed = _call(key_vault, "PUT", f"/secrets/raw?{API}", token, data=b"{not json")
    assert malformed.status_code == 400
    assert _error(malformed)["code"] == "BadParameter"

    no_value = _call(key_vault, "PUT", f"/secrets/raw?{API}", token, json={"tags": {}})
    assert no_value.status_code == 400


@pytest.mark.parametrize("version", ["1999-01-01", "", "7.99"])
def test_unknown_api_version(key_vault: VaultHandle, version: str) -> None:
    response = _call(key_vault, "GET", f"/secrets?api-version={version}", _token(key_vault))
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "BadParameter"
    assert "not recognized" in str(error["message"])


@pytest.mark.parametrize("name", ["bad_name", "a" * 128, "dots.are.bad"])
def test_invalid_secret_names(key_vault: VaultHandle, name: str) -> None:
    response = _call(
        key_vault, "PUT", f"/secrets/{name}?{API}", _token(key_vault), json={"value": "v"}
    )
    assert response.status_code == 400
    assert _error(response)["code"] == "BadParameter"


def test_oversized_value_and_too_many_tags(key_vault: VaultHandle) -> None:
    token = _token(key_vault)
    big = _call(
        key_vault, "PUT", f"/secrets/big?{API}", token, json={"value": "x" * (25 * 1024 + 1)}
    )
    assert big.status_code == 400 and _error(big)["code"] == "BadParameter"
    just_fits = _call(
        key_vault, "PUT", f"/secrets/big?{API}", token, json={"value": "x" * 25 * 1024}
    )
    assert just_fits.status_code == 200
    tags = {f"t{i}": "v" for i in range(16)}
    many = _call(
        key_vault, "PUT", f"/secrets/tagged?{API}", token, json={"value": "v", "tags": tags}
    )
    assert many.status_code == 400 and "15" in str(_error(many)["message"])
    tags.pop("t0")
    assert (
        _call(
            key_vault, "PUT", f"/secrets/tagged?{API}", token, json={"value": "v", "tags": tags}
        ).status_code
        == 200
    )


def test_bad_maxresults_and_skiptoken(key_vault: VaultHandle) -> None:
    token = _token(key_vault)
    assert _call(key_vault, "GET", f"/secrets?{API}&maxresults=26", token).status_code == 400
    assert _call(key_vault, "GET", f"/secrets?{API}&maxresults=0", token).status_code == 400
    assert _call(key_vault, "GET", f"/secrets?{API}&$skiptoken=%%%", token).status_code == 400


def test_forged_token_is_refused(key_vault: VaultHandle) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    genuine = jwt.decode(_token(key_vault), options={"verify_signature": False})
    forged = jwt.encode(genuine, other_key, algorithm="RS256")
    response = _call(key_vault, "GET", f"/secrets?{API}", forged)
    assert response.status_code == 401
    assert "signature" in str(_error(response)["message"])
    assert "WWW-Authenticate" in response.headers


def test_expired_token_and_wrong_audience_and_garbage(key_vault: VaultHandle) -> None:
    expired = _token(key_vault, issued_at=time.time() - timedelta(days=2).total_seconds())
    response = _call(key_vault, "GET", f"/secrets?{API}", expired)
    assert response.status_code == 401 and "expired" in str(_error(response)["message"])

    wrong, _ = key_vault.stack.identity.issue_token(
        key_vault.identity, "https://management.azure.com"
    )
    response = _call(key_vault, "GET", f"/secrets?{API}", wrong)
    assert response.status_code == 401 and "audience" in str(_error(response)["message"])

    response = _call(key_vault, "GET", f"/secrets?{API}", "not-a-jwt")
    assert response.status_code == 401 and "malformed" in str(_error(response)["message"])

    response = requests.get(
        f"{key_vault.url}/secrets?{API}", headers={"Authorization": "Basic abc"}, timeout=10
    )
    assert response.status_code == 401


def test_identity_without_role_gets_403(key_vault: VaultHandle) -> None:
    stranger = key_vault.stack.identity.add_identity()
    client = SecretClient(key_vault.url, ManagedIdentityCredential(client_id=stranger.client_id))
    with pytest.raises(HttpResponseError) as info:
        client.set_secret("nope", "v")
    assert info.value.status_code == 403
    assert info.value.error is not None and info.value.error.code == "Forbidden"
    assert info.value.response is not None
    raw = json.loads(info.value.response.text())
    assert raw["error"]["innererror"]["code"] == "ForbiddenByRbac"
    assert "setSecret/action" in raw["error"]["message"]


def test_reader_and_user_roles(key_vault: VaultHandle) -> None:
    stack = key_vault.stack
    stack.keyvault.store.set(key_vault.name, "shared", "the-value", tags={"k": "v"})
    reader = stack.identity.add_identity()
    user = stack.identity.add_identity()
    stack.keyvault.assign_role(key_vault.name, reader.principal_id, "Key Vault Reader")
    stack.keyvault.assign_role(key_vault.name, user.principal_id, "Key Vault Secrets User")
    as_reader = SecretClient(key_vault.url, ManagedIdentityCredential(client_id=reader.client_id))
    as_user = SecretClient(key_vault.url, ManagedIdentityCredential(client_id=user.client_id))

    assert [p.tags for p in as_reader.list_properties_of_secrets()] == [{"k": "v"}]
    with pytest.raises(HttpResponseError) as info:
        as_reader.get_secret("shared")
    assert info.value.status_code == 403

    assert as_user.get_secret("shared").value == "the-value"
    with pytest.raises(HttpResponseError) as info:
        as_user.set_secret("shared", "other")
    assert info.value.status_code == 403
    with pytest.raises(HttpResponseError):
        as_user.begin_delete_secret("shared")
    assert stack.keyvault.get_value(key_vault.name, "shared") == "the-value"


def test_list_never_returns_values(key_vault: VaultHandle) -> None:
    token = _token(key_vault)
    _call(key_vault, "PUT", f"/secrets/hidden?{API}", token, json={"value": "s3cr3t-value"})
    for path in ("/secrets", "/secrets/hidden/versions"):
        response = _call(key_vault, "GET", f"{path}?{API}", token)
        assert response.status_code == 200
        assert "s3cr3t-value" not in response.text
        assert "value" not in response.json()["value"][0]
