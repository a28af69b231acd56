"""Vault-wide status and doctor through function_app's HTTP trigger, on the local stack."""

from __future__ import annotations

import json
from typing import Any

from emulators.faults import FaultRule
from rotation import tags as T
from rotation.fleet import encode_token
from tests.e2e.conftest import AppUnderTest, in_days
from tests.support.functions_host import http_input


def vault_api(app: AppUnderTest, **params: str) -> tuple[int, dict[str, Any], Any]:
    response = app.function("vault_status_api")(
        http_input("GET", {"vault": app.vault.name}, params)
    )
    body = response.get_body() or b"{}"
    if response.mimetype == "text/html":
        return response.status_code, {"html": body.decode()}, response
    return response.status_code, json.loads(body), response


def put(app: AppUnderTest, name: str, days: float | None, **tags: str) -> str:
    secret = app.client.set_secret(
        name,
        json.dumps({"username": "app", "password": "not-shown-" + name}),
        content_type="application/json",
        expires_on=None if days is None else in_days(days),
        tags=tags,
    )
    return secret.properties.version or ""


PG = {T.ROTATOR: "postgres", T.TARGET: "db.example.com:5432/app"}


def make_fleet(app: AppUnderTest) -> None:
    put(app, "healthy", 80, **PG, **{T.STATE: "completed"})
    put(app, "due-soon", 10, **PG)
    version = put(app, "stuck", 60, **PG)
    app.client.set_secret(
        "stuck-rotation-staged",
        "staged-not-shown",
        tags={
            T.STAGED_FOR: "stuck",
            T.STAGE: "applied",
            T.STAGED_FROM_VERSION: version,
            T.ROTATION_ID: "r1",
        },
    )
    put(
        app,
        "late-consumers",
        80,
        **PG,
        **{T.STATE: "overdue", T.CONSUMERS: "web", T.ROTATED_AT: "2026-01-01T00:00:00+00:00"},
    )
    put(app, "waiting", 80, **PG, **{T.STATE: "awaiting-consumers", T.CONSUMERS: "web,worker"})
    put(app, "bad-window", 80, **PG, **{T.WINDOW: "Someday 25:00-26:00"})
    put(app, "gone", -1, **PG)
    put(app, "unmanaged", 80)


def test_vault_status_reports_every_kind_of_secret_without_values(app: AppUnderTest) -> None:
    make_fleet(app)
    counter = app.vault.stack.faults.add(
        FaultRule(host=f"{app.vault.name}.vault.azure.net", times=None)
    )
    status, body, _ = vault_api(app)
    assert status == 200
    assert app.vault.stack.faults.fired(counter) == 1, "one list call, nothing per secret"
    by_name = {s["secret_name"]: s for s in body["secrets"]}
    assert set(by_name) == {
        "healthy",
        "due-soon",
        "stuck",
        "late-consumers",
        "waiting",
        "bad-window",
        "gone",
    }
    assert by_name["healthy"]["health"] == "ok"
    assert by_name["healthy"]["next_due"] < by_name["healthy"]["expires_on"]
    assert by_name["due-soon"]["health"] == "due"
    assert by_name["stuck"]["health"] == "failing"
    assert by_name["stuck"]["staged"]["stage"] == "applied"
    assert "did not finish" in by_name["stuck"]["problem"]
    assert by_name["late-consumers"]["health"] == "overdue"
    assert by_name["late-consumers"]["consumers_pending"] == ["web"]
    assert by_name["waiting"]["health"] == "awaiting"
    assert by_name["waiting"]["consumers_pending"] == ["web", "worker"]
    assert by_name["bad-window"]["health"] == "misconfigured"
    assert T.WINDOW in by_name["bad-window"]["problem"]
    assert by_name["gone"]["health"] == "expired"
    # Worst first.
    assert body["secrets"][0]["health"] == "misconfigured"
    assert body["health"]["ok"] == 1
    text = json.dumps(body)
    assert "not-shown" not in text


def test_vault_status_pages_with_a_continuation_token(app: AppUnderTest) -> None:
    for index in range(7):
        put(app, f"s{index}", 80, **PG)
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        params = {"page_size": "3"} | ({"continuation": token} if token else {})
        status, body, _ = vault_api(app, **params)
        assert status == 200
        assert body["listed"] <= 3
        seen += [s["secret_name"] for s in body["secrets"]]
        pages += 1
        token = body["continuation"]
        if not token:
            break
    assert pages == 3
    assert sorted(seen) == [f"s{i}" for i in range(7)]


def test_bad_parameters_and_foreign_tokens_are_400(app: AppUnderTest) -> None:
    foreign = encode_token("https://evil.example.com/secrets?api-version=1&$skiptoken=x")
    other_vault = encode_token("https://other.vault.azure.net/secrets?$skiptoken=x")
    for params in (
        {"page_size": "0"},
        {"page_size": "26"},
        {"page_size": "²"},
        {"continuation": "%%%"},
        {"continuation": foreign or ""},
        {"continuation": other_vault or ""},
        {"continuation": "A" * 5000},
        {"check": "maybe"},
        {"format": "xml"},
    ):
        status, body, _ = vault_api(app, **params)
        assert status == 400, params
        assert body["error"]["code"] == "InvalidInput"
    response = app.function("vault_status_api")(http_input("GET", {"vault": "[::1]"}, {}))
    assert response.status_code == 404


def test_doctor_runs_rotator_checks_and_admin_opt_in_without_touching_targets(
    app: AppUnderTest,
) -> None:
    app.client.set_secret("pg-admin", "{}", tags={T.ADMIN_FOR: "good"})
    put(app, "good", 80, **PG, **{T.STRATEGY: "alternating", T.ADMIN_SECRET: "pg-admin"})
    put(app, "not-allowed", 80, **PG, **{T.STRATEGY: "alternating", T.ADMIN_SECRET: "pg-admin"})
    put(app, "no-admin", 80, **PG, **{T.STRATEGY: "alternating"})
    put(app, "bad-target", 80, **{T.ROTATOR: "postgres", T.TARGET: "db.example.com"})
    put(app, "bad-sslmode", 80, **PG, **{"rotation-sslmode": "sometimes"})
    put(app, "missing-admin", 80, **PG, **{T.ADMIN_SECRET: "nope"})
    put(app, "ghost-consumer", 80, **PG, **{T.CONSUMERS: "ghost"})
    status, body, _ = vault_api(app, check="true")
    assert status == 200
    checks = {s["secret_name"]: s["check"] for s in body["secrets"]}
    assert checks["good"] == {"ok": True, "problems": []}
    assert "does not serve this secret" in checks["not-allowed"]["problems"][0]
    assert "admin credential" in checks["no-admin"]["problems"][0]
    assert not checks["bad-target"]["ok"]
    assert "sslmode" in checks["bad-sslmode"]["problems"][0]
    assert "does not exist" in checks["missing-admin"]["problems"][0]
    assert "consumer 'ghost' is not defined" in checks["ghost-consumer"]["problems"][0]
    # Without check=true, no rotator check runs.
    _, plain, _ = vault_api(app)
    assert all("check" not in s for s in plain["secrets"])


def test_hostile_vault_route_input_is_never_a_5xx(app: AppUnderTest) -> None:
    import random

    put(app, "one", 80, **PG, **{T.WINDOW: "\x00<b>", T.MAX_PER_TARGET: "9999"})
    rng = random.Random(12)
    alphabet = ["", "0", "25", "-1", "true", "[", "]", "..", "\x00", "\ud800", "é", "A" * 3000]
    vaults = [app.vault.name, "[", "..", "a" * 300, "\x00", "https://x.vault.azure.net"]
    for _ in range(120):
        params = {
            key: rng.choice(alphabet)
            for key in rng.sample(["page_size", "continuation", "check", "format", "x"], 3)
        }
        vault = rng.choice(vaults)
        for method in ("GET", "POST", "DELETE"):
            response = app.function("vault_status_api")(
                http_input(method, {"vault": vault}, params)
            )
            assert response.status_code < 500, (vault, params, response.get_body()[:300])
    status, body, _ = vault_api(app, check="true")
    assert status == 200
    (entry,) = body["secrets"]
    assert entry["health"] == "misconfigured"
