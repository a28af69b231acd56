"""Hostile tags, colliding names, misplaced admin secrets, operator edits and soft deletes,
each through function_app's triggers against the emulated Key Vault over HTTPS and a real
PostgreSQL cluster that demands passwords (issue 10, findings 1, 3, 4, 5, 7 and 8)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.functions.timer import TimerRequest

from emulators.faults import FaultRule
from emulators.stack import AzureStack
from rotation import tags as T
from rotation.vault import staging_name
from tests.e2e.conftest import AppUnderTest, pg_logs_in
from tests.e2e.consumer_support import event_types, events_topic
from tests.e2e.test_postgres_rotation import current, put_managed_secret
from tests.support.pg_cluster import ScramCluster


def companion_exists(app: AppUnderTest, name: str) -> bool:
    try:
        app.client.get_secret(staging_name(name))
    except ResourceNotFoundError:
        return False
    return True


# ------------------------------------------------------------ finding 1: unstorable policy


@pytest.mark.parametrize(
    "policy",
    [
        "length=16;lower=0;upper=0;digits=0;symbols=16;symbol-set=\x00",
        "symbol-set=\x00;symbols=3",
        "symbol-set=-\t_;symbols=2",
    ],
    ids=["only-nul", "nul-among-others", "tab"],
)
def test_a_policy_with_control_characters_is_refused_before_anything_changes(
    app: AppUnderTest, scram_postgres: ScramCluster, pg_login: Any, policy: str
) -> None:
    user, password = pg_login()
    put_managed_secret(
        app, "nul-db", user, password, scram_postgres, tags={T.PASSWORD_POLICY: policy}
    )
    status, body = app.api("POST", "nul-db")
    assert status == 400, body
    assert T.PASSWORD_POLICY in body["error"]["message"]
    assert pg_logs_in(scram_postgres, user, password), "the role's password must be untouched"
    assert len(app.versions("nul-db")) == 1
    assert not companion_exists(app, "nul-db"), "nothing may be staged for a refused policy"


# ------------------------------------------------------------ finding 3: companion names


def test_a_managed_secret_named_like_a_companion_is_never_overwritten(
    app: AppUnderTest, scram_postgres: ScramCluster, pg_login: Any
) -> None:
    user, password = pg_login()
    put_managed_secret(app, "orders-db", user, password, scram_postgres)
    other = app.client.set_secret(
        "orders-db-rotation-staged", "someone-elses-value", tags={T.ROTATOR: "random"}
    )

    status, body = app.api("POST", "orders-db")
    assert status == 400, body
    assert "orders-db-rotation-staged" in body["error"]["message"]
    kept = app.client.get_secret("orders-db-rotation-staged")
    assert kept.properties.version == other.properties.version
    assert kept.properties.enabled
    assert kept.value == "someone-elses-value"
    assert pg_logs_in(scram_postgres, user, password)
    assert len(app.versions("orders-db")) == 1

    status, body = app.api("POST", "orders-db-rotation-staged")
    assert status == 400, body
    assert "staging companion" in body["error"]["message"]
    assert len(app.versions("orders-db-rotation-staged")) == 1


@pytest.mark.parametrize("enabled", [True, False], ids=["enabled", "disabled"])
def test_an_unmanaged_secret_with_the_companion_name_is_never_overwritten(
    app: AppUnderTest, scram_postgres: ScramCluster, pg_login: Any, enabled: bool
) -> None:
    user, password = pg_login()
    put_managed_secret(app, "ledger-db", user, password, scram_postgres)
    app.client.set_secret("ledger-db-rotation-staged", "plain", enabled=enabled)

    status, body = app.api("POST", "ledger-db")
    assert status == 400, body
    assert len(app.versions("ledger-db-rotation-staged")) == 1
    assert pg_logs_in(scram_postgres, user, password)


def test_status_finds_a_hashed_companion_under_any_letter_case(app: AppUnderTest) -> None:
    name = "Long-" + "x" * 115
    version = app.client.set_secret(name, "v", tags={T.ROTATOR: "random"}).properties.version
    companion = staging_name(name)
    assert len(companion) <= 127 and companion != name + "-rotation-staged"
    assert {staging_name(s).lower() for s in (name, name.upper(), name.lower())} == {
        companion.lower()
    }
    # What a run that died after staging leaves behind.
    app.client.set_secret(
        companion,
        "candidate",
        tags={
            T.STAGED_FOR: name,
            T.STAGED_FROM_VERSION: version or "",
            T.ROTATION_ID: "r1",
            T.STAGE: "pending",
        },
    )
    for spelling in (name, name.lower(), name.upper()):
        status, body = app.api("GET", spelling)
        assert status == 200, body
        assert body["staged"]["rotation_id"] == "r1", spelling
        assert body["staged"]["current"] is True


# ------------------------------------------------------------ finding 4: admin opt-in


@pytest.fixture
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP port that records every connection's first bytes (a host an attacker owns)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    received: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    received.append(conn.recv(65536))
                except OSError:
                    received.append(b"")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], received
    stop.set()
    thread.join()
    server.close()


def test_an_unpinned_wildcard_admin_secret_is_never_sent_anywhere(
    app: AppUnderTest,
    scram_postgres: ScramCluster,
    pg_login: Any,
    listener: tuple[int, list[bytes]],
) -> None:
    port, received = listener
    app.client.set_secret(
        "pg-admin",
        json.dumps({"username": scram_postgres.superuser, "password": scram_postgres.password}),
        content_type="application/json",
        tags={T.ADMIN_FOR: "*"},
    )
    user, password = pg_login()
    app.client.set_secret(
        "evil-db",
        json.dumps({"username": user, "password": password}),
        content_type="application/json",
        tags={
            T.ROTATOR: "postgres",
            T.TARGET: f"127.0.0.1:{port}/app",
            T.STRATEGY: "alternating",
            T.ADMIN_SECRET: "pg-admin",
        },
    )
    status, body = app.api("POST", "evil-db")
    assert status == 400, body
    assert T.ADMIN_FOR in body["error"]["message"]
    assert received == [], "no connection may reach a host the admin secret does not pin"

    # Pinned to the real cluster, the same wildcard admin secret serves it.
    app.client.update_secret_properties(
        "pg-admin", tags={T.ADMIN_FOR: "*", T.TARGET: scram_postgres.target}
    )
    status, body = app.api("POST", "evil-db")
    assert status == 400, body
    assert "may only be used for target" in body["error"]["message"]
    assert received == []
    put_managed_secret(
        app,
        "good-db",
        user,
        password,
        scram_postgres,
        tags={T.STRATEGY: "alternating", T.ADMIN_SECRET: "pg-admin"},
    )
    status, body = app.api("POST", "good-db")
    assert status == 200, body
    value, _ = current(app, "good-db")
    assert pg_logs_in(scram_postgres, value["username"], value["password"])


# ------------------------------------------------------------ finding 7: operator edits


def test_a_tag_added_while_a_rotation_runs_is_kept(
    app: AppUnderTest, scram_postgres: ScramCluster, pg_login: Any
) -> None:
    stack: AzureStack = app.vault.stack
    user, password = pg_login()
    put_managed_secret(app, "edited-db", user, password, scram_postgres)
    slow_staging = stack.faults.add(
        FaultRule(operation="set_secret", secret=staging_name("edited-db"), latency=1.5)
    )
    result: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: result.update(answer=app.api("POST", "edited-db")), daemon=True
    )
    worker.start()
    for _ in range(200):
        if stack.faults.fired(slow_staging):
            break
        threading.Event().wait(0.01)
    assert stack.faults.fired(slow_staging) == 1, "the staging write never started"
    props = app.client.get_secret("edited-db").properties
    app.client.update_secret_properties(
        "edited-db", props.version, tags={**(props.tags or {}), "owner": "team-payments"}
    )
    worker.join(timeout=60)
    status, body = result["answer"]
    assert status == 200, body
    value, props = current(app, "edited-db")
    assert props.tags["owner"] == "team-payments"
    assert pg_logs_in(scram_postgres, user, value["password"])


# ------------------------------------------------------------ finding 8: soft deletes


def test_a_soft_deleted_companion_with_an_applied_candidate_is_reported_and_recoverable(
    app: AppUnderTest,
    azure_stack: AzureStack,
    scram_postgres: ScramCluster,
    pg_login: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic = events_topic(azure_stack, app, monkeypatch)
    user, password = pg_login()
    put_managed_secret(app, "gone-db", user, password, scram_postgres)
    # The run dies between apply and commit: every commit write fails.
    azure_stack.faults.add(
        FaultRule(operation="set_secret", secret="gone-db", status=503, times=None)
    )
    status, body = app.api("POST", "gone-db")
    assert status == 503, body
    azure_stack.faults.clear()
    assert not pg_logs_in(scram_postgres, user, password), "the target holds the candidate"

    app.client.begin_delete_secret(staging_name("gone-db")).wait()

    status, body = app.api("GET", "gone-db")
    assert status == 200, body
    assert body["staged"]["deleted"] is True and body["staged"]["current"] is True
    assert "recover" in body["problem"]

    # The sweep looks in the recycle bin: the queued run reports the failure and alerts.
    app.function("sweep")(TimerRequest(past_due=False))
    assert app.run_queue_worker() == 1
    assert event_types(topic, "gone-db").count("KeyVault.Rotation.Failed") == 1

    status, body = app.api("POST", "gone-db")
    assert status == 409, body
    assert "soft-deleted" in body["error"]["message"]
    assert event_types(topic, "gone-db").count("KeyVault.Rotation.Failed") == 2
    assert len(app.versions("gone-db")) == 1, "nothing is committed without the candidate"

    # Recovered as the README says, the next run commits the candidate the target holds.
    app.client.begin_recover_deleted_secret(staging_name("gone-db")).wait()
    status, body = app.api("POST", "gone-db")
    assert status == 200, body
    value, _ = current(app, "gone-db")
    assert pg_logs_in(scram_postgres, user, value["password"])


# ------------------------------------------------------------ finding 5: secrets in errors


@pytest.mark.parametrize(
    "target",
    ["app:S3cr3t!@127.0.0.1:5432/app", "postgres://app:S3cr3t!@127.0.0.1/app", "x\x00y:5432/app"],
    ids=["userinfo", "url-userinfo", "nul"],
)
def test_a_target_with_credentials_or_control_characters_is_refused_without_echo(
    app: AppUnderTest, scram_postgres: ScramCluster, pg_login: Any, target: str
) -> None:
    user, password = pg_login()
    put_managed_secret(app, "leaky-db", user, password, scram_postgres, tags={T.TARGET: target})
    for method in ("POST", "GET"):
        status, body = app.api(method, "leaky-db")
        text = json.dumps(body)
        assert "S3cr3t" not in text and password not in text
        if method == "POST":
            assert status == 400, body
            assert T.TARGET in body["error"]["message"]
        else:
            assert status == 200 and T.TARGET in body["configuration_error"]
    assert pg_logs_in(scram_postgres, user, password)
    assert len(app.versions("leaky-db")) == 1
