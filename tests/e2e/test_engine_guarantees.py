"""Issue-level guarantees on the real path: one rotation under concurrent triggers, no secret
value in any log record or HTTP answer, and a sweep that reads only the values it must."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from emulators.wire import Request, Response
from rotation import tags as T
from tests.e2e.conftest import AppUnderTest, in_days, pg_logs_in
from tests.support.pg_cluster import ScramCluster

NEAR_EXPIRY = "Microsoft.KeyVault.SecretNearExpiry"


def store_pg_secret(app: AppUnderTest, name: str, user: str, password: str, target: str) -> str:
    return (
        app.client.set_secret(
            name,
            json.dumps({"username": user, "password": password}),
            content_type="application/json",
            expires_on=in_days(10),
            tags={T.ROTATOR: "postgres", T.TARGET: target},
        ).properties.version
        or ""
    )


def near_expiry_event(app: AppUnderTest, name: str, version: str) -> dict[str, Any]:
    return {
        "id": f"evt-{version[:8]}",
        "eventType": NEAR_EXPIRY,
        "subject": name,
        "topic": f"/subscriptions/x/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/"
        f"{app.vault.name}",
        "data": {
            "Id": f"{app.vault.url}/secrets/{name}/{version}",
            "VaultName": app.vault.name,
            "ObjectType": "Secret",
            "ObjectName": name,
            "Version": version,
            "NBF": None,
            "EXP": int((datetime.now(UTC) + timedelta(days=10)).timestamp()),
        },
    }


def http(app: AppUnderTest, method: str, name: str, **params: str) -> func.HttpResponse:
    return app.http_response(method, name, **params)


def test_twenty_concurrent_triggers_make_exactly_one_version(
    app: AppUnderTest,
    scram_postgres: ScramCluster,
    pg_login: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROTATION_SWEEP_MODE", "inline")
    user, password = pg_login()
    first = store_pg_secret(app, "busy-db", user, password, scram_postgres.target)
    event = near_expiry_event(app, "busy-db", first)
    app.service()  # built once, as a warm worker would have it

    triggers: list[Callable[[], object]] = []
    for i in range(20):
        if i % 3 == 0:
            triggers.append(lambda: app.deliver_to_function(event))
        elif i % 3 == 1:
            triggers.append(lambda: app.function("sweep")(TimerRequest(past_due=False)))
        else:
            triggers.append(lambda: http(app, "POST", "busy-db", version=first))
    barrier = threading.Barrier(len(triggers))

    def fire(trigger: Callable[[], object]) -> object:
        barrier.wait()
        return trigger()

    with ThreadPoolExecutor(max_workers=len(triggers)) as pool:
        results = list(pool.map(fire, triggers))

    versions = app.versions("busy-db")
    assert len(versions) == 2, [v.version for v in versions]
    value = json.loads(app.client.get_secret("busy-db").value or "")
    assert pg_logs_in(scram_postgres, user, value["password"])
    answers = [json.loads(r.get_body()) for r in results if isinstance(r, func.HttpResponse)]
    outcomes = {a.get("status") or a["error"]["code"] for a in answers}
    # Each HTTP call either rotated, found the version already rotated, or was told another
    # instance holds the lock; never a conflict on the target from two rotations at once.
    assert outcomes <= {"rotated", "stale", "RotationInProgress"}, answers


def test_no_secret_value_in_logs_or_http_answers(
    app: AppUnderTest,
    scram_postgres: ScramCluster,
    pg_login: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    user, old_password = pg_login()
    admin_password = scram_postgres.password
    app.put_login(
        "hygiene-admin",
        scram_postgres.superuser,
        admin_password,
        tags={T.ADMIN_FOR: "hygiene-db", T.TARGET: scram_postgres.target},
    )
    tags = {
        T.ROTATOR: "postgres",
        T.TARGET: scram_postgres.target,
        T.STRATEGY: "alternating",
        T.ADMIN_SECRET: "hygiene-admin",
    }
    first = app.put_login("hygiene-db", user, old_password, tags=tags, expires_in_days=10)
    caplog.set_level(logging.DEBUG)
    bodies: list[bytes] = []
    bodies.append(http(app, "POST", "hygiene-db", dry_run="true").get_body())
    app.deliver_to_function(near_expiry_event(app, "hygiene-db", first))
    bodies.append(http(app, "GET", "hygiene-db").get_body())
    bodies.append(http(app, "POST", "hygiene-db").get_body())
    bodies.append(http(app, "POST", "no-such-secret").get_body())

    values = [json.loads(v.value or "{}") for v in _all_values(app, "hygiene-db")]
    passwords = {old_password, admin_password} | {v["password"] for v in values}
    assert len(passwords) >= 4, "expected the old, two new and the admin password"
    text = "\n".join(
        [r.getMessage() for r in caplog.records]
        + [str(getattr(r, "rotation", "")) for r in caplog.records]
        + [caplog.text]
        + [b.decode() for b in bodies]
    )
    assert len(caplog.records) > 20, "the rotation should have logged its steps"
    for password in passwords:
        assert password not in text


def _all_values(app: AppUnderTest, name: str) -> list[Any]:
    return [app.client.get_secret(name, v.version) for v in app.versions(name)]


def test_sweep_over_a_thousand_secrets_reads_only_the_due_values(
    app: AppUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROTATION_SWEEP_MODE", "inline")
    due = {f"due-{i:02d}" for i in range(10)}
    names = sorted(due | {f"fresh-{i:04d}" for i in range(990)})

    def put(name: str) -> None:
        app.client.set_secret(
            name,
            "initial-shared-secret-value",
            expires_on=in_days(5 if name in due else 200),
            tags={T.ROTATOR: "random"},
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, names))

    keyvault = app.vault.stack.keyvault
    original = keyvault.handle
    reads: list[str] = []
    lock = threading.Lock()

    def counting(request: Request) -> Response:
        operation = keyvault.describe(request)
        if operation is not None and operation.name == "get_secret" and operation.secret:
            with lock:
                reads.append(operation.secret)
        return original(request)

    monkeypatch.setattr(keyvault, "handle", counting)
    app.function("sweep")(TimerRequest(past_due=False))
    monkeypatch.setattr(keyvault, "handle", original)

    managed_reads = {name for name in reads if name in names}
    assert managed_reads == due
    for name in due:
        assert len(app.versions(name)) == 2, name
    assert len(app.versions("fresh-0000")) == 1

    # The rotations left their companions enabled, still tagged with an open stage (nothing
    # is written after a commit): the next sweep sees them finished and reads no value.
    reads.clear()
    monkeypatch.setattr(keyvault, "handle", counting)
    app.function("sweep")(TimerRequest(past_due=False))
    monkeypatch.setattr(keyvault, "handle", original)
    assert reads == []
    for name in due:
        assert len(app.versions(name)) == 2, name


@pytest.mark.parametrize(
    ("tags", "named"),
    [
        ({T.ROTATOR: "teleporter"}, T.ROTATOR),
        (
            {T.ROTATOR: "postgres", T.TARGET: "db.example:5432/app", T.VALIDITY_DAYS: "7"},
            T.VALIDITY_DAYS,
        ),
        (
            {T.ROTATOR: "postgres", T.TARGET: "db.example:5432/app", T.STRATEGY: "sometimes"},
            T.STRATEGY,
        ),
        (
            {
                T.ROTATOR: "postgres",
                T.TARGET: "db.example:5432/app",
                T.STRATEGY: "alternating",
                T.ADMIN_SECRET: "missing-admin",
            },
            T.ADMIN_SECRET,
        ),
    ],
)
def test_bad_configuration_is_logged_and_changes_nothing(
    app: AppUnderTest, caplog: pytest.LogCaptureFixture, tags: dict[str, str], named: str
) -> None:
    version = (
        app.client.set_secret(
            "misconfigured",
            json.dumps({"username": "u", "password": "initial-password-value"}),
            content_type="application/json",
            expires_on=in_days(10),
            tags=tags,
        ).properties.version
        or ""
    )
    caplog.set_level(logging.INFO)
    app.deliver_to_function(near_expiry_event(app, "misconfigured", version))  # acknowledged

    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("misconfigured" in m and named in m for m in errors), errors
    assert len(app.versions("misconfigured")) == 1
    assert "misconfigured-rotation-staged" not in {
        p.name for p in app.client.list_properties_of_secrets()
    }
    response = http(app, "POST", "misconfigured")
    body = json.loads(response.get_body())
    assert response.status_code == 400 and named in body["error"]["message"]
