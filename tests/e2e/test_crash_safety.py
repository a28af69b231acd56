"""Crash safety on the real path: a failure after each protocol step, then a retry from a
trigger, always leaves a Key Vault value that logs in to PostgreSQL, and exactly one new
version. Failures are Key Vault 5xx answers (through the emulator's fault injection), a target
that is down, and process death (an exception that is not one of the engine's)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from emulators.eventgrid.schema import secret_event
from emulators.events import SecretVersionInfo
from emulators.faults import FaultRule
from rotation import tags as T
from rotation.errors import TargetUnavailable
from rotation.vault import staging_name
from rotators.postgres import PostgresRotator
from tests.e2e.conftest import AppUnderTest, in_days, pg_logs_in
from tests.support.pg_cluster import ScramCluster

NAME = "crash-db"
STAGED = staging_name(NAME)


class ProcessDeath(BaseException):
    """The worker died mid-step (not an Exception, so nothing in the app can swallow it)."""


@dataclass(frozen=True)
class Failure:
    """One way a rotation can be interrupted."""

    label: str
    operation: str | None = None  # Key Vault operation answered with 503s
    secret: str | None = None
    method: str | None = None  # PostgresRotator method that dies after running
    down: str | None = None  # PostgresRotator method whose target is unreachable


FAILURES = [
    Failure("read current version", operation="get_secret", secret=NAME),
    Failure("read staging secret", operation="get_secret", secret=STAGED),
    Failure("stage candidate", operation="set_secret", secret=STAGED),
    Failure("target down during apply", down="apply"),
    Failure("death after apply", method="apply"),
    Failure("target down during verify", down="verify"),
    Failure("death after verify", method="verify"),
    Failure("commit new version", operation="set_secret", secret=NAME),
    Failure("mark staged committed", operation="update_secret", secret=STAGED),
    Failure("death after retire", method="retire"),
    Failure("record completed state", operation="update_secret", secret=NAME),
]


def kv_event(app: AppUnderTest, version: str) -> dict[str, Any]:
    info = SecretVersionInfo(
        vault=app.vault.name,
        name=NAME,
        version=version,
        enabled=True,
        not_before=None,
        expires=in_days(10),
    )
    return secret_event(
        "Microsoft.KeyVault.SecretNearExpiry", info, now=datetime.now(UTC), event_id="evt-1"
    )


def deliver(app: AppUnderTest, event: dict[str, Any]) -> None:
    app.deliver_to_function(event)


def install_failure(
    app: AppUnderTest, failure: Failure, monkeypatch: pytest.MonkeyPatch
) -> Callable[[], None]:
    """Arm ``failure``; return a function that disarms it."""
    if failure.operation:
        # More 503s than the SDK retries (Retry-After 0 keeps it fast).
        rule = app.vault.stack.faults.add(
            FaultRule(
                operation=failure.operation,
                secret=failure.secret,
                status=503,
                retry_after=0,
                times=None,
            )
        )
        return lambda: app.vault.stack.faults.clear() if rule else None
    name = failure.method or failure.down or ""
    original = getattr(PostgresRotator, name)

    def broken(self: PostgresRotator, *args: Any) -> Any:
        if failure.down:
            raise TargetUnavailable(f"injected: target down during {name}")
        original(self, *args)
        raise ProcessDeath(f"injected: died after {name}")

    monkeypatch.setattr(PostgresRotator, name, broken)
    return lambda: monkeypatch.setattr(PostgresRotator, name, original)


@pytest.mark.parametrize("failure", FAILURES, ids=[f.label for f in FAILURES])
@pytest.mark.parametrize("retry_with", ["event", "http", "sweep"])
def test_failure_then_retry_converges(
    app: AppUnderTest,
    scram_postgres: ScramCluster,
    pg_login: Any,
    monkeypatch: pytest.MonkeyPatch,
    failure: Failure,
    retry_with: str,
) -> None:
    monkeypatch.setenv("ROTATION_SWEEP_MODE", "inline")
    user, password = pg_login()
    first = (
        app.client.set_secret(
            NAME,
            json.dumps({"username": user, "password": password}),
            content_type="application/json",
            expires_on=in_days(10),
            tags={T.ROTATOR: "postgres", T.TARGET: scram_postgres.target},
        ).properties.version
        or ""
    )
    event = kv_event(app, first)

    disarm = install_failure(app, failure, monkeypatch)
    try:
        deliver(app, event)
    except (ProcessDeath, TargetUnavailable):
        pass  # the host records a failed invocation; Event Grid will redeliver
    finally:
        disarm()
    function_fresh = app.function  # the worker restarts: same code, new process state

    if retry_with == "event":
        deliver(app, event)
    elif retry_with == "http":
        function_fresh("rotation_api")(
            func.HttpRequest(
                method="POST",
                url="/api/rotations/v/n",
                route_params={"vault": app.vault.name, "name": NAME},
                params={"version": first},
                body=b"",
            )
        )
    # The sweep always runs eventually; it finishes whatever is left.
    function_fresh("sweep")(TimerRequest(past_due=False))

    value = json.loads(app.client.get_secret(NAME).value or "")
    assert pg_logs_in(scram_postgres, value["username"], value["password"]), failure.label
    versions = app.versions(NAME)
    rotated = [v for v in versions if (v.tags or {}).get(T.PREVIOUS_VERSION) == first]
    assert len(versions) == 2 and len(rotated) == 1, f"{failure.label}: {len(versions)} versions"
    final_tags = app.client.get_secret(NAME).properties.tags or {}
    assert final_tags[T.STATE] == "completed", failure.label
    assert not pg_logs_in(scram_postgres, user, password), failure.label
