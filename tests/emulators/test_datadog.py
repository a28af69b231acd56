"""The emulated Datadog API, called through ``handle()`` with Datadog's documented shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulators.datadog import DATADOG_HOSTS, DatadogEmulator
from emulators.http11 import DropConnection
from emulators.wire import Request, Response

HOST = "api.datadoghq.com"


def call(
    service: DatadogEmulator,
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: Any = None,
) -> tuple[int, Any]:
    request = Request(
        method=method,
        host=HOST,
        target=target,
        headers={k.lower(): v for k, v in (headers or {}).items()},
        body=json.dumps(body).encode() if body is not None else b"",
    )
    response: Response = service.handle(request)
    return response.status, json.loads(response.body) if response.body else None


@pytest.fixture
def dd() -> DatadogEmulator:
    return DatadogEmulator()


def auth(api: str, app: str) -> dict[str, str]:
    return {"DD-API-KEY": api, "DD-APPLICATION-KEY": app}


def create(dd: DatadogEmulator, api: str, app: str, name: str) -> tuple[int, Any]:
    body = {"data": {"type": "api_keys", "attributes": {"name": name}}}
    return call(dd, "POST", "/api/v2/api_keys", auth(api, app), body)


def test_validate(dd: DatadogEmulator) -> None:
    api, _ = dd.create_org()
    assert call(dd, "GET", "/api/v1/validate", {"DD-API-KEY": api}) == (200, {"valid": True})
    assert call(dd, "GET", f"/api/v1/validate?api_key={api}") == (200, {"valid": True})
    assert call(dd, "GET", "/api/v1/validate", {"DD-API-KEY": "0" * 32}) == (
        403,
        {"errors": ["Forbidden"]},
    )
    assert call(dd, "GET", "/api/v1/validate") == (403, {"errors": ["Forbidden"]})


def test_create_list_get_delete(dd: DatadogEmulator) -> None:
    api, app = dd.create_org()
    status, body = create(dd, api, app, "svc-key")
    assert status == 201
    data = body["data"]
    key, key_id = data["attributes"]["key"], data["id"]
    assert data["type"] == "api_keys"
    assert len(key) == 32 and data["attributes"]["last4"] == key[-4:]
    assert data["attributes"]["name"] == "svc-key"
    assert call(dd, "GET", "/api/v1/validate", {"DD-API-KEY": key})[0] == 200

    status, listed = call(dd, "GET", "/api/v2/api_keys?filter=svc&page[size]=10", auth(api, app))
    assert status == 200
    assert [item["id"] for item in listed["data"]] == [key_id]
    assert "key" not in listed["data"][0]["attributes"]
    assert listed["meta"]["page"]["total_filtered_count"] == 1
    status, everything = call(dd, "GET", "/api/v2/api_keys", auth(api, app))
    assert {i["attributes"]["name"] for i in everything["data"]} == {"org-admin", "svc-key"}

    status, one = call(dd, "GET", f"/api/v2/api_keys/{key_id}", auth(api, app))
    assert status == 200 and one["data"]["id"] == key_id and "key" not in one["data"]["attributes"]

    assert call(dd, "DELETE", f"/api/v2/api_keys/{key_id}", auth(api, app)) == (204, None)
    assert call(dd, "GET", "/api/v1/validate", {"DD-API-KEY": key})[0] == 403
    assert call(dd, "DELETE", f"/api/v2/api_keys/{key_id}", auth(api, app)) == (
        404,
        {"errors": ["API key not found"]},
    )


def test_keys_are_stored_hashed(dd: DatadogEmulator) -> None:
    api, app = dd.create_org()
    _, body = create(dd, api, app, "hashed")
    key = body["data"]["attributes"]["key"]
    state = repr(vars(dd))
    assert key not in state and api not in state and app not in state


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"DD-API-KEY": "x"},
        {"DD-APPLICATION-KEY": "y"},
        {"DD-API-KEY": "x", "DD-APPLICATION-KEY": "y"},
    ],
)
def test_management_needs_both_keys(dd: DatadogEmulator, headers: dict[str, str]) -> None:
    api, app = dd.create_org()
    real = {"DD-API-KEY": api, "DD-APPLICATION-KEY": app}
    mixed = {k: real[k] if v == "y" else v for k, v in headers.items()}
    assert call(dd, "GET", "/api/v2/api_keys", mixed) == (403, {"errors": ["Forbidden"]})


def test_organizations_are_isolated(dd: DatadogEmulator) -> None:
    api1, app1 = dd.create_org("one")
    api2, app2 = dd.create_org("two")
    assert call(dd, "GET", "/api/v2/api_keys", auth(api1, app2))[0] == 403
    _, body = create(dd, api1, app1, "mine")
    key_id = body["data"]["id"]
    assert call(dd, "DELETE", f"/api/v2/api_keys/{key_id}", auth(api2, app2))[0] == 404
    _, listed = call(dd, "GET", "/api/v2/api_keys", auth(api2, app2))
    assert [i["attributes"]["name"] for i in listed["data"]] == ["two-admin"]


@pytest.mark.parametrize(
    "body",
    [
        {"data": {"type": "app_keys", "attributes": {"name": "x"}}},
        {"data": {"type": "api_keys", "attributes": {}}},
        {"data": {"type": "api_keys", "attributes": {"name": "  "}}},
        ["not", "an", "object"],
    ],
)
def test_create_validates_the_body(dd: DatadogEmulator, body: Any) -> None:
    api, app = dd.create_org()
    status, answer = call(dd, "POST", "/api/v2/api_keys", auth(api, app), body)
    assert status == 400 and isinstance(answer["errors"], list)


def test_paging_and_bad_page_size(dd: DatadogEmulator) -> None:
    api, app = dd.create_org()
    for i in range(5):
        create(dd, api, app, f"page-{i}")
    _, first = call(dd, "GET", "/api/v2/api_keys?filter=page-&page[size]=2", auth(api, app))
    _, third = call(
        dd, "GET", "/api/v2/api_keys?filter=page-&page[size]=2&page[number]=2", auth(api, app)
    )
    assert [i["attributes"]["name"] for i in first["data"]] == ["page-0", "page-1"]
    assert [i["attributes"]["name"] for i in third["data"]] == ["page-4"]
    assert first["meta"]["page"]["total_filtered_count"] == 5
    assert call(dd, "GET", "/api/v2/api_keys?page[size]=101", auth(api, app))[0] == 400


def test_lost_response_does_the_work(dd: DatadogEmulator) -> None:
    api, app = dd.create_org()
    dd.lose_next_response("create_api_key")
    with pytest.raises(DropConnection):
        create(dd, api, app, "lost")
    assert "lost" in dd.key_names(api)
    assert create(dd, api, app, "kept")[0] == 201


def test_unknown_route_and_describe(dd: DatadogEmulator) -> None:
    assert call(dd, "GET", "/api/v1/nothing") == (404, {"errors": ["Not found"]})
    request = Request("DELETE", HOST, "/api/v2/api_keys/abc")
    assert dd.describe(request) is not None
    assert dd.describe(request).name == "delete_api_key"  # type: ignore[union-attr]


def test_attach_registers_the_site_hosts() -> None:
    registered: dict[str, object] = {}

    class FakeStack:
        clock = None

        def register_host(self, host: str, service: object) -> None:
            registered[host] = service

    emulator = DatadogEmulator.attach(FakeStack())
    assert set(registered) == set(DATADOG_HOSTS)
    assert all(service is emulator for service in registered.values())
