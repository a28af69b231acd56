"""The emulated Entra ID answered directly (no proxy, no SDK): Graph's application endpoints
(token, permission and ownership checks, password shapes) and the login endpoint (tenant
metadata, client-credentials tokens for live secrets only). The rotator's tests drive both
through the proxy with the real clients."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from emulators.clock import Clock
from emulators.graph import READ_WRITE_ALL, READ_WRITE_OWNED_BY, Application, GraphEmulator
from emulators.identity import IdentityService, ManagedIdentity
from emulators.wire import Request, Response

GRAPH = "graph.microsoft.com"
LOGIN = "login.microsoftonline.com"


@pytest.fixture
def entra() -> GraphEmulator:
    return GraphEmulator(Clock(), IdentityService())


@pytest.fixture
def caller(entra: GraphEmulator) -> ManagedIdentity:
    """A managed identity with Application.ReadWrite.OwnedBy."""
    found = entra.identity.add_identity()
    entra.grant(found.principal_id, READ_WRITE_OWNED_BY)
    return found


@pytest.fixture
def app(entra: GraphEmulator, caller: ManagedIdentity) -> Application:
    return entra.create_application("wire", owners=(caller.principal_id,))


def graph_call(
    entra: GraphEmulator,
    caller: ManagedIdentity | None,
    method: str,
    path: str,
    body: Any = None,
) -> Response:
    headers = {}
    if caller is not None:
        token, _ = entra.identity.issue_token(caller, "https://graph.microsoft.com")
        headers["authorization"] = f"Bearer {token}"
    payload = json.dumps(body).encode() if body is not None else b""
    return entra.graph.handle(Request(method, GRAPH, path, headers, payload))


def body_of(response: Response) -> Any:
    return json.loads(response.body) if response.body else None


def token_request(entra: GraphEmulator, app_id: str, secret: str, tenant: str = "") -> Response:
    form = {
        "grant_type": "client_credentials",
        "client_id": app_id,
        "client_secret": secret,
        "scope": "https://graph.microsoft.com/.default",
    }
    path = f"/{tenant or entra.tenant_id}/oauth2/v2.0/token"
    return entra.login.handle(Request("POST", LOGIN, path, {}, urlencode(form).encode()))


def test_add_list_remove_password(
    entra: GraphEmulator, caller: ManagedIdentity, app: Application
) -> None:
    added = graph_call(
        entra,
        caller,
        "POST",
        f"/v1.0/applications/{app.object_id}/addPassword",
        {"passwordCredential": {"displayName": "ci", "endDateTime": "2099-01-01T00:00:00Z"}},
    )
    assert added.status == 200 and "Date" in added.headers
    minted = body_of(added)
    assert minted["displayName"] == "ci" and minted["endDateTime"] == "2099-01-01T00:00:00Z"
    assert len(minted["secretText"]) == 40 and minted["hint"] == minted["secretText"][:3]
    listed = body_of(graph_call(entra, caller, "GET", f"/v1.0/applications(appId='{app.app_id}')"))
    assert listed["id"] == app.object_id and listed["appId"] == app.app_id
    assert [p["keyId"] for p in listed["passwordCredentials"]] == [minted["keyId"]]
    assert listed["passwordCredentials"][0]["secretText"] is None
    remove = f"/v1.0/applications/{app.object_id}/removePassword"
    assert graph_call(entra, caller, "POST", remove, {"keyId": minted["keyId"]}).status == 204
    again = graph_call(entra, caller, "POST", remove, {"keyId": minted["keyId"]})
    assert again.status == 400 and body_of(again)["error"]["code"] == "Request_BadRequest"
    assert entra.password_names(app) == []


def test_the_token_and_permission_checks(
    entra: GraphEmulator, caller: ManagedIdentity, app: Application
) -> None:
    path = f"/v1.0/applications/{app.object_id}"
    missing = graph_call(entra, None, "GET", path)
    assert missing.status == 401
    assert body_of(missing)["error"]["code"] == "InvalidAuthenticationToken"
    wrong_audience, _ = entra.identity.issue_token(caller, "https://vault.azure.net")
    refused = entra.graph.handle(
        Request("GET", GRAPH, path, {"authorization": f"Bearer {wrong_audience}"})
    )
    assert refused.status == 401
    bare = entra.identity.add_identity()  # no Graph permission at all
    assert graph_call(entra, bare, "GET", path).status == 403
    foreign = entra.create_application("foreign")
    denied = graph_call(entra, caller, "GET", f"/v1.0/applications/{foreign.object_id}")
    assert denied.status == 403
    assert body_of(denied)["error"]["code"] == "Authorization_RequestDenied"
    everything = entra.identity.add_identity()
    entra.grant(everything.principal_id, READ_WRITE_ALL)
    assert (
        graph_call(entra, everything, "GET", f"/v1.0/applications/{foreign.object_id}").status
        == 200
    )
    gone = graph_call(
        entra, caller, "GET", "/v1.0/applications/00000000-0000-4000-8000-000000000009"
    )
    assert gone.status == 404 and body_of(gone)["error"]["code"] == "Request_ResourceNotFound"


@pytest.mark.parametrize(
    "body",
    [
        {"passwordCredential": {"displayName": 7}},
        {"passwordCredential": {"endDateTime": "tomorrow"}},
        {"passwordCredential": {"endDateTime": "2000-01-01T00:00:00Z"}},
        ["not", "an", "object"],
    ],
)
def test_bad_add_requests_are_400(
    entra: GraphEmulator, caller: ManagedIdentity, app: Application, body: Any
) -> None:
    response = graph_call(
        entra, caller, "POST", f"/v1.0/applications/{app.object_id}/addPassword", body
    )
    assert response.status == 400
    assert entra.password_names(app) == []


def test_the_password_limit(
    entra: GraphEmulator, caller: ManagedIdentity, app: Application
) -> None:
    entra.directory.max_passwords = 1
    path = f"/v1.0/applications/{app.object_id}/addPassword"
    assert graph_call(entra, caller, "POST", path, {"passwordCredential": {}}).status == 200
    refused = graph_call(entra, caller, "POST", path, {"passwordCredential": {}})
    assert refused.status == 400 and "maximum" in body_of(refused)["error"]["message"]


def test_tokens_only_for_live_secrets(entra: GraphEmulator, app: Application) -> None:
    secret, key_id = entra.add_secret(app, "live")
    issued = token_request(entra, app.app_id, secret)
    assert issued.status == 200
    claims = entra.identity.validate(body_of(issued)["access_token"], "https://graph.microsoft.com")
    assert claims["appid"] == app.app_id and claims["oid"] == app.principal_id
    wrong = token_request(entra, app.app_id, secret + "x")
    assert wrong.status == 401 and body_of(wrong)["error_codes"] == [7000215]
    assert secret not in wrong.body.decode()
    unknown = token_request(entra, "00000000-0000-4000-8000-000000000009", secret)
    assert unknown.status == 400 and body_of(unknown)["error"] == "unauthorized_client"
    entra.directory.remove_password(app, key_id)
    assert token_request(entra, app.app_id, secret).status == 401


def test_an_expired_secret_gets_no_token(entra: GraphEmulator, app: Application) -> None:
    now = entra.directory.clock.now()
    secret, _ = entra.directory.add_password(app, "short", end=now + timedelta(minutes=5))
    assert token_request(entra, app.app_id, secret).status == 200
    entra.directory.clock.advance(timedelta(minutes=6))
    expired = token_request(entra, app.app_id, secret)
    assert expired.status == 401 and body_of(expired)["error_codes"] == [7000222]


def test_tenant_metadata(entra: GraphEmulator) -> None:
    path = f"/{entra.tenant_id}/v2.0/.well-known/openid-configuration"
    metadata = body_of(entra.login.handle(Request("GET", LOGIN, path)))
    assert metadata["token_endpoint"] == (f"https://{LOGIN}/{entra.tenant_id}/oauth2/v2.0/token")
    assert metadata["issuer"] == f"https://{LOGIN}/{entra.tenant_id}/v2.0"
    other = "/11111111-1111-4111-8111-111111111111/v2.0/.well-known/openid-configuration"
    refused = entra.login.handle(Request("GET", LOGIN, other))
    assert refused.status == 400 and body_of(refused)["error"] == "invalid_tenant"
    discovery = entra.login.handle(Request("GET", LOGIN, "/common/discovery/instance"))
    assert body_of(discovery)["tenant_discovery_endpoint"].endswith(path)
