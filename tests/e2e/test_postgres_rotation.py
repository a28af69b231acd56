"""A PostgreSQL credential rotated end to end through each trigger of function_app.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from rotation import tags as T
from tests.e2e.conftest import NEAR_EXPIRY, AppUnderTest, in_days, indexed_functions, pg_logs_in
from tests.support.pg_cluster import ScramCluster


def put_managed_secret(
    app: AppUnderTest,
    name: str,
    username: str,
    password: str,
    cluster: ScramCluster,
    *,
    expires_in_days: float = 40,
    tags: dict[str, str] | None = None,
) -> str:
    all_tags = {T.ROTATOR: "postgres", T.TARGET: cluster.target, **(tags or {})}
    return app.put_login(name, username, password, tags=all_tags, expires_in_days=expires_in_days)


def put_alternating_secret(
    app: AppUnderTest, name: str, login: tuple[str, str], cluster: ScramCluster, **options: Any
) -> str:
    """:func:`put_managed_secret` of ``login`` (user, password) with the ``alternating``
    strategy, and the cluster's superuser stored as admin secret ``pg-admin`` for ``name``."""
    app.client.set_secret(
        "pg-admin",
        json.dumps({"username": cluster.superuser, "password": cluster.password}),
        content_type="application/json",
        tags={T.ADMIN_FOR: name},
    )
    tags = {T.STRATEGY: "alternating", T.ADMIN_SECRET: "pg-admin"}
    return put_managed_secret(app, name, *login, cluster, tags=tags, **options)


def current(app: AppUnderTest, name: str) -> tuple[dict[str, Any], Any]:
    secret = app.client.get_secret(name)
    return json.loads(secret.value or ""), secret.properties


def test_the_cluster_refuses_wrong_passwords(scram_postgres: ScramCluster, pg_login: Any) -> None:
    user, password = pg_login()
    assert pg_logs_in(scram_postgres, user, password)
    assert not pg_logs_in(scram_postgres, user, password + "x")


def test_near_expiry_event_rotates_single_strategy(
    app: AppUnderTest, scram_postgres: ScramCluster, pg_login: Any
) -> None:
    user, old_password = pg_login()
    first = put_managed_secret(app, "orders-db", user, old_password, scram_postgres)
    with app.near_expiry_subscription() as subscription:
        app.reach_near_expiry()
        value, props = current(app, "orders-db")
        assert props.version != first
        assert value["username"] == user
        assert pg_logs_in(scram_postgres, user, value["password"])
        assert not pg_logs_in(scram_postgres, user, old_password)
        expected_expiry = datetime.now(UTC) + timedelta(days=90)
        assert abs(props.expires_on - expected_expiry) < timedelta(minutes=5)
        assert props.tags[T.PREVIOUS_VERSION] == first
        assert props.tags[T.STATE] == "completed"
        assert props.tags[T.TARGET] == scram_postgres.target

        # Event Grid delivers at least once: the duplicate changes nothing.
        event_id = subscription.delivered_ids()[0]
        assert app.event_grid.deliver_duplicate(event_id) == 1
        app.event_grid.flush()
        assert len(app.versions("orders-db")) == 2


def test_cloudevents_schema_event_rotates_alternating_strategy(
    app: AppUnderTest, scram_postgres: ScramCluster, pg_login: Any
) -> None:
    user, old_password = pg_login()
    put_alternating_secret(app, "billing-db", (user, old_password), scram_postgres)
    with app.near_expiry_subscription(schema="CloudEventSchemaV1_0"):
        app.reach_near_expiry()
    value, _ = current(app, "billing-db")
    assert value["username"] == f"{user}_clone"
    assert pg_logs_in(scram_postgres, value["username"], value["password"])
    assert pg_logs_in(scram_postgres, user, old_password), "the old login must stay alive"

    # The next rotation resets the original login and switches back to it.
    response = app.function("rotation_api")(
        func.HttpRequest(
            method="POST",
            url="/api/rotations/x/billing-db",
            route_params={"vault": app.vault.name, "name": "billing-db"},
            body=b"",
        )
    )
    assert response.status_code == 200, response.get_body()
    value2, _ = current(app, "billing-db")
    assert value2["username"] == user
    assert pg_logs_in(scram_postgres, user, value2["password"])
    assert not pg_logs_in(scram_postgres, user, old_password)
    assert pg_logs_in(scram_postgres, value["username"], value["password"])


def test_http_api_status_dry_run_and_rotate(
    app: AppUnderTest, scram_postgres: ScramCluster, pg_login: Any
) -> None:
    user, password = pg_login()
    put_managed_secret(app, "api-db", user, password, scram_postgres, expires_in_days=200)
    api = app.function("rotation_api")

    def call(method: str, **params: str) -> tuple[int, dict[str, Any]]:
        response = api(
            func.HttpRequest(
                method=method,
                url="/api/rotations/x/api-db",
                route_params={"vault": app.vault.name, "name": "api-db"},
                params=params,
                body=b"",
            )
        )
        return response.status_code, json.loads(response.get_body())

    status, body = call("GET")
    assert status == 200 and body["managed"] and body["configuration"]["rotator"] == "postgres"
    status, body = call("POST", dry_run="true")
    assert status == 200 and body["status"] == "dry-run"
    assert len(app.versions("api-db")) == 1
    status, body = call("POST", version="0" * 32)
    assert status == 200 and body["status"] == "stale"
    status, body = call("POST")
    assert status == 200 and body["status"] == "rotated", body
    value, props = current(app, "api-db")
    assert pg_logs_in(scram_postgres, user, value["password"])
    status, body = call("GET")
    assert body["state"] == "completed" and body["version"] == props.version
    assert status == 200


def test_http_api_answers_errors_as_json(app: AppUnderTest) -> None:
    api = app.function("rotation_api")
    response = api(
        func.HttpRequest(
            method="POST",
            url="/api/rotations/elsewhere/x",
            route_params={"vault": "elsewhere", "name": "x"},
            body=b"",
        )
    )
    assert response.status_code == 404
    assert json.loads(response.get_body())["error"]["code"] == "NotFound"
    missing = api(
        func.HttpRequest(
            method="GET",
            url="/api/rotations/v/nope",
            route_params={"vault": app.vault.name, "name": "nope"},
            body=b"",
        )
    )
    assert missing.status_code == 404


def test_http_api_requires_a_function_key() -> None:
    """The host enforces keys; the binding must ask for one (no anonymous rotation)."""
    api = indexed_functions()["rotation_api"]
    trigger = next(b for b in api.get_bindings() if b.type == "httpTrigger")
    assert str(trigger.auth_level).lower().endswith("function")


def test_sweep_fans_out_to_the_queue_worker(
    app: AppUnderTest, scram_postgres: ScramCluster, pg_login: Any
) -> None:
    due_user, due_password = pg_login()
    fresh_user, fresh_password = pg_login()
    put_managed_secret(app, "due-db", due_user, due_password, scram_postgres, expires_in_days=5)
    put_managed_secret(
        app, "fresh-db", fresh_user, fresh_password, scram_postgres, expires_in_days=200
    )
    app.client.set_secret("unmanaged", "x", expires_on=in_days(1))

    app.function("sweep")(TimerRequest(past_due=False))
    assert app.run_queue_worker() == 1

    value, _ = current(app, "due-db")
    assert pg_logs_in(scram_postgres, due_user, value["password"])
    assert not pg_logs_in(scram_postgres, due_user, due_password)
    assert len(app.versions("fresh-db")) == 1
    assert len(app.versions("unmanaged")) == 1


@pytest.mark.parametrize(
    ("event", "why"),
    [
        ({"id": "1", "eventType": NEAR_EXPIRY, "data": "garbage"}, "malformed"),
        (
            {
                "id": "2",
                "eventType": NEAR_EXPIRY,
                "data": {
                    "VaultName": "other-vault",
                    "ObjectType": "Secret",
                    "ObjectName": "db",
                    "Version": "a" * 32,
                },
            },
            "foreign vault",
        ),
    ],
)
def test_bad_events_are_dropped_not_retried(
    app: AppUnderTest, event: dict[str, Any], why: str, caplog: pytest.LogCaptureFixture
) -> None:
    app.deliver_to_function(event)  # through the worker's converter, as the host does
    assert any("dropped" in r.getMessage() for r in caplog.records), why
