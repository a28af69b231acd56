"""Consumer confirmation end to end: function_app's triggers, the real Azure SDKs against the
emulated Key Vault, ARM (web apps) and Event Grid, real Redis and PostgreSQL.

- a consumer that moves promptly: the old credential is retired (Redis refuses it);
- a consumer that never moves: overdue after the deadline, old credential kept, alert event;
- a check that errors (ARM 503): retried by the next sweep, never taken as confirmation;
- PostgreSQL sessions of the old login hold the rotation until they end;
- the status API shows per consumer what was seen and when; the restart nudge happens once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from emulators.faults import FaultRule
from emulators.stack import AzureStack
from rotation import tags as T
from tests.e2e.conftest import AppUnderTest, pg_logs_in
from tests.e2e.consumer_support import (
    RedisUsers,
    call_api,
    current_secret,
    define_consumers,
    event_types,
    events_topic,
    put_redis_secret,
    sweep,
    unique,
    web_app_consumer,
)
from tests.support.local_targets import redis_logs_in
from tests.support.pg_cluster import ScramCluster

STARTED = "KeyVault.Rotation.Started"
COMMITTED = "KeyVault.Rotation.Committed"
CONFIRMED = "KeyVault.Rotation.ConsumersConfirmed"
RETIRED = "KeyVault.Rotation.Retired"
OVERDUE = "KeyVault.Rotation.Overdue"


@pytest.fixture
def redis_users() -> Iterator[RedisUsers]:
    users = RedisUsers()
    yield users
    users.cleanup()


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_consumer_that_moves_promptly_lets_the_old_credential_retire(
    app: AppUnderTest,
    azure_stack: AzureStack,
    redis_users: RedisUsers,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    name = unique("cache")
    web = web_app_consumer(azure_stack, app, name)
    define_consumers(monkeypatch, {"cache-web": web.definition(restart=True)})
    topic = events_topic(azure_stack, app, monkeypatch)
    first, user, old_password = put_redis_secret(app, redis_users, name, "cache-web")
    web.resolve(first)

    # A restart re-resolves Key Vault references: the app picks up the latest version.
    def re_resolve() -> None:
        web.resolve(app.client.get_secret(name).properties.version)

    azure_stack.arm.on_restart(web.resource_id, re_resolve)

    status, body = call_api(app, "POST", name)
    assert status == 200, body
    assert body["status"] == "rotated", body["detail"]
    assert body["state"] == "completed", body["detail"]

    value, props = current_secret(app, name)
    assert props.version != first
    assert props.tags[T.STATE] == "completed"
    assert redis_logs_in(user, value["password"])
    assert not redis_logs_in(user, old_password), "the old password must be retired"
    assert web.restarts() == 1
    assert event_types(topic, name) == [STARTED, COMMITTED, CONFIRMED, RETIRED]
    for event in topic.received():
        assert event["source"] == f"{app.vault.url}/secrets/{name}"
        assert old_password not in json.dumps(event) and value["password"] not in json.dumps(event)
    assert old_password not in caplog.text and value["password"] not in caplog.text
    retired = next(e for e in topic.received() if e["type"] == RETIRED)
    assert retired["data"]["to_version"] == props.version
    assert retired["data"]["from_version"] == first

    status, body = call_api(app, "GET", name)
    consumer = body["consumers"]["cache-web"]
    assert consumer["seen"] == "new" and consumer["moved"] is True
    assert consumer["version"] == props.version
    assert abs(parse_time(consumer["seen_at"]) - datetime.now(UTC)) < timedelta(minutes=1)
    assert consumer["check_failed_at"] is None


def test_consumer_that_never_moves_goes_overdue_keeps_the_old_credential_and_alerts(
    app: AppUnderTest,
    azure_stack: AzureStack,
    redis_users: RedisUsers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deadline_s = 3.0
    monkeypatch.setenv("ROTATION_CONSUMER_DEADLINE_HOURS", str(deadline_s / 3600))
    name = unique("cache")
    web = web_app_consumer(azure_stack, app, name)
    define_consumers(monkeypatch, {"stuck-web": web.definition(restart=True)})
    topic = events_topic(azure_stack, app, monkeypatch)
    first, user, old_password = put_redis_secret(app, redis_users, name, "stuck-web")
    web.resolve(first)  # and a restart does not change that

    status, body = call_api(app, "POST", name)
    assert status == 200 and body["state"] == "awaiting-consumers", body
    assert "stuck-web uses" in body["detail"]
    assert web.restarts() == 1

    status, body = call_api(app, "GET", name)
    assert body["state"] == "awaiting-consumers"
    assert body["consumers"]["stuck-web"]["seen"] == "old"
    assert body["consumers"]["stuck-web"]["version"] == first
    assert body["consumers"]["stuck-web"]["moved"] is False

    # Before the deadline a sweep only looks again; after it, the rotation is overdue.
    assert sweep(app) == 1
    _, props = current_secret(app, name)
    assert props.tags[T.STATE] == "awaiting-consumers"
    rotated_at = parse_time(props.tags[T.ROTATED_AT])
    past_deadline = rotated_at + timedelta(seconds=deadline_s + 1.1)
    time.sleep(max(0.0, (past_deadline - datetime.now(UTC)).total_seconds()))
    assert sweep(app) == 1

    value, props = current_secret(app, name)
    assert props.tags[T.STATE] == "overdue"
    assert redis_logs_in(user, old_password), "an overdue rotation keeps the old credential"
    assert redis_logs_in(user, value["password"])
    assert web.restarts() == 1, "the nudge happens once per rotation"
    assert event_types(topic, name) == [STARTED, COMMITTED, OVERDUE]
    alert = topic.received()[-1]
    assert alert["severity"] == "alert"
    assert alert["data"]["state"] == "overdue" and alert["data"]["secret_name"] == name
    assert "stuck-web uses" in alert["data"]["detail"]

    # The sweep keeps watching an overdue rotation without alerting again...
    assert sweep(app) == 1
    status, body = call_api(app, "GET", name)
    assert body["state"] == "overdue"
    assert body["consumers"]["stuck-web"]["seen"] == "old"
    assert event_types(topic, name) == [STARTED, COMMITTED, OVERDUE]

    # ...and once the operator fixes the consumer, it finishes: old credential retired.
    web.resolve(props.version)
    assert sweep(app) == 1
    _, props = current_secret(app, name)
    assert props.tags[T.STATE] == "completed"
    assert not redis_logs_in(user, old_password)
    assert redis_logs_in(user, value["password"])
    assert event_types(topic, name)[-2:] == [CONFIRMED, RETIRED]


def test_a_failing_check_is_retried_and_never_taken_as_confirmation(
    app: AppUnderTest,
    azure_stack: AzureStack,
    redis_users: RedisUsers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = unique("cache")
    web = web_app_consumer(azure_stack, app, name)
    define_consumers(monkeypatch, {"flaky-web": web.definition(restart=False)})
    first, user, old_password = put_redis_secret(app, redis_users, name, "flaky-web")
    web.resolve(first)
    outage = azure_stack.faults.add(
        FaultRule(operation="web_apps_get_app_setting_key_vault_reference", status=503, times=None)
    )

    status, body = call_api(app, "POST", name)
    assert status == 200 and body["state"] == "awaiting-consumers", body
    assert "flaky-web check failed" in body["detail"] and "503" in body["detail"]
    _, props = current_secret(app, name)
    new_version = props.version

    # The app really moved, but while ARM fails nobody can tell: the old password stays.
    web.resolve(new_version)
    assert sweep(app) == 1
    _, props = current_secret(app, name)
    assert props.tags[T.STATE] == "awaiting-consumers"
    assert redis_logs_in(user, old_password)
    assert azure_stack.faults.fired(outage) >= 2
    status, body = call_api(app, "GET", name)
    flaky = body["consumers"]["flaky-web"]
    assert flaky["moved"] is False and flaky["check_failed_at"] is not None
    assert flaky["seen"] == "?" and flaky["seen_at"] is None
    assert web.restarts() == 0, "no restart unless configured"

    azure_stack.faults.clear()
    assert sweep(app) == 1
    value, props = current_secret(app, name)
    assert props.tags[T.STATE] == "completed"
    assert not redis_logs_in(user, old_password)
    assert redis_logs_in(user, value["password"])
    status, body = call_api(app, "GET", name)
    flaky = body["consumers"]["flaky-web"]
    assert flaky["moved"] is True and flaky["check_failed_at"] is None
    assert parse_time(flaky["seen_at"]) >= parse_time(props.tags[T.ROTATED_AT])


def test_postgres_sessions_of_the_old_login_hold_the_rotation_until_they_end(
    app: AppUnderTest,
    scram_postgres: ScramCluster,
    pg_login: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    define_consumers(monkeypatch, {"orders-db-sessions": {"kind": "postgres-sessions"}})
    user, password = pg_login()
    name = unique("orders-db")
    admin = f"{name}-admin"
    app.put_login(
        admin,
        scram_postgres.superuser,
        scram_postgres.password,
        tags={T.ADMIN_FOR: name, T.TARGET: scram_postgres.target},
    )
    tags = {
        T.ROTATOR: "postgres",
        T.TARGET: scram_postgres.target,
        T.STRATEGY: "alternating",
        T.ADMIN_SECRET: admin,
        T.CONSUMERS: "orders-db-sessions",
    }
    app.put_login(name, user, password, tags=tags, expires_in_days=200)
    client = scram_postgres.connect(user, password)  # a consumer on the old login
    try:
        status, body = call_api(app, "POST", name)
        assert status == 200 and body["state"] == "awaiting-consumers", body
        assert sweep(app) == 1
        status, body = call_api(app, "GET", name)
        sessions = body["consumers"]["orders-db-sessions"]
        assert body["state"] == "awaiting-consumers"
        assert sessions["seen"] == "old" and sessions["moved"] is False
        assert sessions["seen_at"] is not None
    finally:
        client.close()

    assert sweep(app) == 1
    value, props = current_secret(app, name)
    assert props.tags[T.STATE] == "completed"
    assert value["username"] == f"{user}_clone"
    assert pg_logs_in(scram_postgres, value["username"], value["password"])
    status, body = call_api(app, "GET", name)
    assert body["consumers"]["orders-db-sessions"]["seen"] == "new"
    assert body["consumers"]["orders-db-sessions"]["moved"] is True


def test_a_secret_naming_an_undefined_consumer_is_a_configuration_error(
    app: AppUnderTest,
    redis_users: RedisUsers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    define_consumers(monkeypatch, {})
    name = unique("cache")
    put_redis_secret(app, redis_users, name, "nobody")
    status, body = call_api(app, "POST", name)
    assert status >= 400, body
    text = json.dumps(body)
    assert name in text and T.CONSUMERS in text and "nobody" in text
