"""The ARM emulator answered directly (no proxy, no SDK): request checks, RBAC, LRO states."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest

from emulators.arm import ArmEmulator
from emulators.arm.rbac import BUILTIN_ROLES, scope_covers
from emulators.identity import IdentityService, ManagedIdentity
from emulators.wire import Request, Response

ARM = "https://management.azure.com"
SQL_API = "2025-01-01"
PASSWORD = "Initial-Passw0rd!42"
NEW_PASSWORD = "Second-Passw0rd!43"


@pytest.fixture(scope="module")
def identity_service() -> IdentityService:
    return IdentityService()


@pytest.fixture
def arm(identity_service: IdentityService) -> ArmEmulator:
    return ArmEmulator(identity_service, polls=2)


@pytest.fixture
def caller(identity_service: IdentityService) -> ManagedIdentity:
    return identity_service.add_identity()


@pytest.fixture
def server(arm: ArmEmulator) -> str:
    return arm.create_sql_server(str(uuid.uuid4()), "rg-wire", "srv-wire", "sqladmin", PASSWORD)


Send = Callable[..., Response]


@pytest.fixture
def send(arm: ArmEmulator, identity_service: IdentityService, caller: ManagedIdentity) -> Send:
    token, _ = identity_service.issue_token(caller, ARM)

    def send(
        method: str,
        path: str,
        body: object = None,
        *,
        api_version: str | None = SQL_API,
        authorization: str | None = f"Bearer {token}",
    ) -> Response:
        target = path if api_version is None else f"{path}?api-version={api_version}"
        headers = {"authorization": authorization} if authorization is not None else {}
        payload = json.dumps(body).encode() if body is not None else b""
        return arm.handle(Request(method, "management.azure.com", target, headers, payload))

    return send


def error_of(response: Response) -> dict[str, str]:
    body = json.loads(response.body)
    assert set(body) == {"error"}
    error: dict[str, str] = body["error"]
    return error


def test_missing_api_version_is_refused(send: Send, server: str) -> None:
    response = send("GET", server, api_version=None)
    assert response.status == 400
    assert error_of(response)["code"] == "MissingApiVersionParameter"


def test_unknown_api_version_is_refused(send: Send, server: str) -> None:
    response = send("GET", server, api_version="1999-01-01")
    assert response.status == 400
    assert "1999-01-01" in error_of(response)["message"]


def test_missing_token_is_401_with_www_authenticate(send: Send, server: str) -> None:
    response = send("GET", server, authorization=None)
    assert response.status == 401
    assert error_of(response)["code"] == "AuthenticationFailed"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_token_for_another_audience_is_401(
    send: Send, server: str, identity_service: IdentityService, caller: ManagedIdentity
) -> None:
    vault_token, _ = identity_service.issue_token(caller, "https://vault.azure.net")
    response = send("GET", server, authorization=f"Bearer {vault_token}")
    assert response.status == 401
    error = error_of(response)
    assert error["code"] == "InvalidAuthenticationToken"
    assert vault_token not in error["message"]


def test_token_from_another_tenant_is_401(send: Send, server: str) -> None:
    other = IdentityService()
    token, _ = other.issue_token(other.add_identity(), ARM)
    response = send("GET", server, authorization=f"Bearer {token}")
    assert response.status == 401


def test_no_role_is_403_authorization_failed_before_existence(
    send: Send, server: str, caller: ManagedIdentity
) -> None:
    for path in (server, server.replace("srv-wire", "no-such-server")):
        response = send("GET", path)
        assert response.status == 403
        error = error_of(response)
        assert error["code"] == "AuthorizationFailed"
        assert caller.principal_id in error["message"]
        assert "'Microsoft.Sql/servers/read'" in error["message"]
        assert path in error["message"]


def test_get_never_returns_the_password(
    arm: ArmEmulator, send: Send, server: str, caller: ManagedIdentity
) -> None:
    arm.assign_role(server, caller.principal_id, "Reader")
    response = send("GET", server)
    assert response.status == 200
    body = json.loads(response.body)
    assert body["properties"]["administratorLogin"] == "sqladmin"
    assert "administratorLoginPassword" not in body["properties"]
    assert PASSWORD.encode() not in response.body
    assert PASSWORD not in repr(arm.sql.find(server))


def test_reader_cannot_write(
    arm: ArmEmulator, send: Send, server: str, caller: ManagedIdentity
) -> None:
    arm.assign_role(server, caller.principal_id, "Reader")
    patch = {"properties": {"administratorLoginPassword": NEW_PASSWORD}}
    response = send("PATCH", server, patch)
    assert response.status == 403
    assert "'Microsoft.Sql/servers/write'" in error_of(response)["message"]
    assert arm.sql_admin_password_matches(server, PASSWORD)


def test_patch_is_a_long_running_operation(
    arm: ArmEmulator, send: Send, server: str, caller: ManagedIdentity
) -> None:
    arm.assign_role(server, caller.principal_id, "SQL Server Contributor")
    response = send("PATCH", server, {"properties": {"administratorLoginPassword": NEW_PASSWORD}})
    assert response.status == 202
    status_url = response.headers["Azure-AsyncOperation"]
    location_url = response.headers["Location"]
    assert status_url.startswith(f"{ARM}/subscriptions/")
    assert "/providers/Microsoft.Sql/locations/westeurope/serverAzureAsyncOperation/" in status_url
    assert "/serverOperationResults/" in location_url
    status_path = status_url.removeprefix(ARM)
    # polls=2: two InProgress answers, the password unchanged meanwhile, then Succeeded.
    for _ in range(2):
        polled = send("GET", status_path.split("?")[0])
        assert polled.status == 200
        assert json.loads(polled.body)["status"] == "InProgress"
        assert arm.sql_admin_password_matches(server, PASSWORD)
    done = send("GET", status_path.split("?")[0])
    assert json.loads(done.body)["status"] == "Succeeded"
    assert arm.sql_admin_password_matches(server, NEW_PASSWORD)
    assert not arm.sql_admin_password_matches(server, PASSWORD)
    result = send("GET", location_url.removeprefix(ARM).split("?")[0])
    assert result.status == 200
    assert json.loads(result.body)["name"] == "srv-wire"


def test_location_url_answers_202_while_running(
    arm: ArmEmulator, send: Send, server: str, caller: ManagedIdentity
) -> None:
    arm.assign_role(server, caller.principal_id, "SQL Server Contributor")
    response = send("PATCH", server, {"properties": {"administratorLoginPassword": NEW_PASSWORD}})
    location = response.headers["Location"].removeprefix(ARM).split("?")[0]
    assert send("GET", location).status == 202
    assert arm.complete_operations() == 1
    assert send("GET", location).status == 200
    assert arm.sql_admin_password_matches(server, NEW_PASSWORD)


def test_operation_status_needs_a_role_on_the_server(
    arm: ArmEmulator,
    send: Send,
    server: str,
    caller: ManagedIdentity,
    identity_service: IdentityService,
) -> None:
    arm.assign_role(server, caller.principal_id, "SQL Server Contributor")
    response = send("PATCH", server, {"properties": {"administratorLoginPassword": NEW_PASSWORD}})
    status_path = response.headers["Azure-AsyncOperation"].removeprefix(ARM).split("?")[0]
    stranger = identity_service.add_identity()
    token, _ = identity_service.issue_token(stranger, ARM)
    refused = send("GET", status_path, authorization=f"Bearer {token}")
    assert refused.status == 403


def test_password_complexity_is_enforced(
    arm: ArmEmulator, send: Send, server: str, caller: ManagedIdentity
) -> None:
    arm.assign_role(server, caller.principal_id, "Contributor")
    for weak in ("short1A!", "alllowercaseletters", "Has-sqladmin-Inside1"):
        response = send("PATCH", server, {"properties": {"administratorLoginPassword": weak}})
        if weak == "short1A!":  # 8 characters, three classes: accepted by Azure
            assert response.status == 202
            continue
        assert response.status == 400, weak
        error = error_of(response)
        assert error["code"] == "PasswordNotComplex"
        assert weak not in error["message"]


def test_admin_login_cannot_change(
    arm: ArmEmulator, send: Send, server: str, caller: ManagedIdentity
) -> None:
    arm.assign_role(server, caller.principal_id, "Contributor")
    response = send("PATCH", server, {"properties": {"administratorLogin": "other"}})
    assert response.status == 400


def test_put_creates_a_server_when_complete(
    arm: ArmEmulator, send: Send, server: str, caller: ManagedIdentity
) -> None:
    group = server.split("/providers/")[0]
    arm.assign_role(group, caller.principal_id, "SQL Server Contributor")
    new = f"{group}/providers/Microsoft.Sql/servers/srv-new"
    body = {
        "location": "West Europe",
        "properties": {"administratorLogin": "boss", "administratorLoginPassword": PASSWORD},
    }
    response = send("PUT", new, body)
    assert response.status == 201
    assert "Azure-AsyncOperation" in response.headers
    assert PASSWORD.encode() not in response.body
    assert send("GET", new).status == 404
    arm.complete_operations()
    assert send("GET", new).status == 200
    assert arm.sql_admin_password_matches(new, PASSWORD)


def test_missing_server_and_group_are_404(
    arm: ArmEmulator, send: Send, server: str, caller: ManagedIdentity
) -> None:
    subscription = server.split("/")[2]
    arm.assign_role(f"/subscriptions/{subscription}", caller.principal_id, "Reader")
    missing = send("GET", server.replace("srv-wire", "srv-missing"))
    assert missing.status == 404
    assert error_of(missing)["code"] == "ResourceNotFound"
    no_group = send("GET", server.replace("rg-wire", "rg-missing"))
    assert no_group.status == 404
    assert error_of(no_group)["code"] == "ResourceGroupNotFound"


def test_unknown_path_is_404(send: Send) -> None:
    response = send("GET", "/subscriptions/x/providers/Microsoft.Nope/things/y")
    assert response.status == 404


def test_describe_names_operations(arm: ArmEmulator, server: str) -> None:
    def named(method: str, path: str) -> str | None:
        op = arm.describe(Request(method, "management.azure.com", f"{path}?api-version=x"))
        return op.name if op else None

    assert named("PATCH", server) == "sql_servers_update"
    assert named("PUT", server) == "sql_servers_create_or_update"
    assert named("GET", server) == "sql_servers_get"
    app = server.replace("Microsoft.Sql/servers", "Microsoft.Web/sites")
    assert named("POST", f"{app}/restart") == "web_apps_restart"
    assert named("POST", f"{app}/config/appsettings/list") == "web_apps_list_application_settings"
    assert named("GET", "/nothing") is None


@pytest.mark.parametrize(
    ("role", "action", "allowed"),
    [
        ("Reader", "Microsoft.Sql/servers/read", True),
        ("Reader", "Microsoft.Sql/servers/write", False),
        ("Reader", "Microsoft.Web/sites/config/list/action", False),
        ("Contributor", "Microsoft.Sql/servers/write", True),
        ("Contributor", "Microsoft.Authorization/roleAssignments/write", False),
        ("SQL Server Contributor", "Microsoft.Sql/servers/write", True),
        ("SQL Server Contributor", "microsoft.sql/SERVERS/write", True),
        ("SQL Server Contributor", "Microsoft.Sql/servers/auditingSettings/write", False),
        ("SQL Server Contributor", "Microsoft.Web/sites/read", False),
        ("Website Contributor", "Microsoft.Web/sites/restart/action", True),
        ("Website Contributor", "Microsoft.Sql/servers/write", False),
    ],
)
def test_role_semantics(role: str, action: str, allowed: bool) -> None:
    assert BUILTIN_ROLES[role].allows(action) is allowed


def test_scope_covers_children_only() -> None:
    assert scope_covers(
        "/subscriptions/a/resourceGroups/rg", "/subscriptions/a/resourcegroups/RG/x"
    )
    assert not scope_covers(
        "/subscriptions/a/resourceGroups/rg", "/subscriptions/a/resourceGroups/rg2"
    )


def test_failed_operation_changes_nothing(
    arm: ArmEmulator, send: Send, server: str, caller: ManagedIdentity
) -> None:
    arm.assign_role(server, caller.principal_id, "SQL Server Contributor")
    arm.fail_next_sql_operation("ServerBusy", "The server is busy.")
    response = send("PATCH", server, {"properties": {"administratorLoginPassword": NEW_PASSWORD}})
    status_path = response.headers["Azure-AsyncOperation"].removeprefix(ARM).split("?")[0]
    assert arm.complete_operations() == 1
    body = json.loads(send("GET", status_path).body)
    assert body["status"] == "Failed"
    assert body["error"]["code"] == "ServerBusy"
    assert arm.sql_admin_password_matches(server, PASSWORD)
