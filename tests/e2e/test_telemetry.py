"""What an OpenTelemetry exporter receives for real rotations on the local stack: spans per
run and step, the same attributes on log records, metrics; never a value. And the KQL of the
alerts queries names this telemetry really emits."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from azure.functions.timer import TimerRequest

import composition
from rotation import tags as T
from rotation import telemetry as TM
from tests.e2e.conftest import NEAR_EXPIRY, AppUnderTest, in_days
from tests.e2e.test_postgres_rotation import put_managed_secret
from tests.infra.templates import INFRA_DIR
from tests.support.pg_cluster import ScramCluster
from tests.support.telemetry import Captured, captured

STEP_SPANS = {f"rotation.{step}" for step in TM.STEPS}


def rotate_by_event(app: AppUnderTest, cluster: ScramCluster, pg_login: Any) -> list[str]:
    """A due secret rotated through the Event Grid trigger; returns every value involved."""
    user, old_password = pg_login()
    put_managed_secret(app, "orders-db", user, old_password, cluster)
    subscription = app.event_grid.subscribe(
        app.vault.name, event_types=[NEAR_EXPIRY], handler=app.deliver_to_function
    )
    try:
        app.vault.stack.clock.advance(timedelta(days=15))
        app.event_grid.check_expiry()
        app.event_grid.flush()
    finally:
        app.event_grid.unsubscribe(subscription)
    new = json.loads(app.client.get_secret("orders-db").value or "{}")
    assert new["password"] != old_password
    return [old_password, new["password"]]


def everything_exported(seen: Captured) -> list[str]:
    """Every string an exporter would send: span names, attributes, log bodies, log
    attributes, metric attributes."""
    texts: list[str] = []
    for span in seen.spans():
        texts.append(span.name)
        texts += [f"{k}={v!s}" for k, v in (span.attributes or {}).items()]
        texts.append(str(span.status.description or ""))
    for record in seen.logs():
        log = record.log_record
        texts.append(str(log.body))
        texts += [f"{k}={v!s}" for k, v in (log.attributes or {}).items()]
    for name, attributes, _ in seen.metric_points():
        texts.append(name)
        texts += [f"{k}={v!s}" for k, v in attributes.items()]
    return texts


def test_a_rotation_is_one_span_with_a_child_per_step_and_every_attribute(
    app: AppUnderTest, scram_postgres: ScramCluster, pg_login: Any
) -> None:
    with captured() as seen:
        rotate_by_event(app, scram_postgres, pg_login)
    spans = seen.spans()
    (root,) = [s for s in spans if s.name == "rotation"]
    attributes = dict(root.attributes or {})
    assert attributes[TM.VAULT] == app.vault.url
    assert attributes[TM.SECRET] == "orders-db"
    assert attributes[TM.ROTATOR] == "postgres"
    assert attributes[TM.STRATEGY] == "single"
    assert attributes[TM.TRIGGER] == "event"
    assert attributes[TM.OUTCOME] == "rotated"
    assert re.fullmatch(r"[0-9a-f]{32}", str(attributes[TM.ID]))
    assert attributes[TM.VERIFY_ATTEMPTS] == 1
    assert float(str(attributes[TM.DURATION_MS])) > 0
    children = {s.name: s for s in spans if s.parent and s.parent.span_id == root.context.span_id}
    assert set(children) == STEP_SPANS
    for step in children.values():
        step_attributes = dict(step.attributes or {})
        for key in (TM.ID, TM.VAULT, TM.SECRET, TM.ROTATOR, TM.STRATEGY, TM.TRIGGER):
            assert step_attributes[key] == attributes[key], (step.name, key)
        assert step.end_time and step.start_time and step.end_time >= step.start_time
    order = sorted(children.values(), key=lambda s: s.start_time or 0)
    assert [s.name for s in order] == [f"rotation.{step}" for step in TM.STEPS]


def test_log_records_carry_the_run_attributes_and_say_in_progress_when_started(
    app: AppUnderTest, scram_postgres: ScramCluster, pg_login: Any
) -> None:
    with captured() as seen:
        rotate_by_event(app, scram_postgres, pg_login)
    records = [r.log_record for r in seen.logs()]
    bodies = [str(r.body) for r in records]
    assert any(b.startswith("rotation started: in-progress") for b in bodies), bodies
    assert not any("not-due" in b for b in bodies), bodies
    run_records = [
        r for r in records if (r.attributes or {}).get(TM.SECRET) == "orders-db" and r.trace_id
    ]
    assert len(run_records) >= 8  # each step, the reports, the summary
    for record in run_records:
        attributes = dict(record.attributes or {})
        for key in TM.RUN_ATTRIBUTES:
            assert key in attributes, (record.body, key)
        assert attributes[TM.VAULT] == app.vault.url
        assert attributes[TM.TRIGGER] == "event"
    (summary,) = [r for r in records if (r.attributes or {}).get(TM.EVENT) == "finished"]
    assert (summary.attributes or {})[TM.OUTCOME] == "rotated"
    assert (summary.attributes or {})[TM.ROTATOR] == "postgres"


def test_metrics_count_rotations_by_outcome_and_verify_attempts(
    app: AppUnderTest, scram_postgres: ScramCluster, pg_login: Any
) -> None:
    with captured() as seen:
        rotate_by_event(app, scram_postgres, pg_login)
        points = seen.metric_points()
    runs = [
        (a, v) for n, a, v in points if n == TM.METRIC_RUNS and a.get(TM.VAULT) == app.vault.url
    ]
    assert ({TM.VAULT: app.vault.url, TM.ROTATOR: "postgres", TM.TRIGGER: "event",
             TM.OUTCOME: "rotated"}, 1) in runs  # fmt: skip
    verify = [
        (a, v)
        for n, a, v in points
        if n == TM.METRIC_VERIFY_ATTEMPTS and a.get(TM.VAULT) == app.vault.url
    ]
    assert verify == [({TM.VAULT: app.vault.url, TM.ROTATOR: "postgres",
                        TM.VERIFY_RESULT: "ok"}, 1)]  # fmt: skip


def test_the_sweep_records_days_to_the_nearest_expiry_per_vault(
    app: AppUnderTest, scram_postgres: ScramCluster, pg_login: Any
) -> None:
    user, password = pg_login()
    put_managed_secret(app, "far", user, password, scram_postgres, expires_in_days=80)
    put_managed_secret(app, "near", user, password, scram_postgres, expires_in_days=50)
    app.client.set_secret("unmanaged", "x", expires_on=in_days(2))
    with captured() as seen:
        app.function("sweep")(TimerRequest(past_due=False))
        points = seen.metric_points()
    (days,) = [
        v for n, a, v in points if n == TM.METRIC_NEAREST_EXPIRY and a == {TM.VAULT: app.vault.url}
    ]
    assert 49.5 < days < 50.5
    records = {(r.log_record.attributes or {}).get(TM.EVENT): r.log_record for r in seen.logs()}
    vault_record = dict(records["sweep-vault"].attributes or {})
    assert vault_record[TM.SECRET] == "near"
    assert vault_record[TM.VAULT] == app.vault.url
    assert dict(records["sweep"].attributes or {})[TM.SWEEP_MANAGED] == 2
    assert [s.name for s in seen.spans()].count("rotation.sweep") == 1


def test_a_failed_rotation_is_marked_failed_with_the_error_type(
    app: AppUnderTest, scram_postgres: ScramCluster, pg_login: Any
) -> None:
    user, password = pg_login()
    put_managed_secret(
        app, "broken", user, password, scram_postgres, tags={T.STRATEGY: "no-such-strategy"}
    )
    with captured() as seen:
        status, _ = app.api("POST", "broken")
    assert 400 <= status < 500
    (root,) = [s for s in seen.spans() if s.name == "rotation"]
    attributes = dict(root.attributes or {})
    assert attributes[TM.OUTCOME] == "failed"
    assert attributes[TM.ERROR] == "ConfigurationError"
    assert attributes[TM.TRIGGER] == "manual"
    (summary,) = [
        r.log_record
        for r in seen.logs()
        if (r.log_record.attributes or {}).get(TM.EVENT) == "finished"
    ]
    assert summary.severity_text in ("WARN", "WARNING")
    assert (summary.attributes or {})[TM.OUTCOME] == "failed"


def test_no_secret_value_reaches_any_exporter(
    app: AppUnderTest, scram_postgres: ScramCluster, pg_login: Any
) -> None:
    with captured() as seen:
        values = rotate_by_event(app, scram_postgres, pg_login)
        app.api("POST", "orders-db")  # a manual rotation too: its candidate is a value
        app.api("GET", "orders-db")
        app.function("sweep")(TimerRequest(past_due=False))
        values.append(json.loads(app.client.get_secret("orders-db").value or "{}")["password"])
        texts = everything_exported(seen)
    assert len(set(values)) == 3
    assert texts
    for value in values:
        assert not [t for t in texts if value in t]


# ---------------------------------------------------------------------- the alerts' KQL

KQL_NAME = re.compile(r"""customDimensions\[["']([^"']+)["']\]""")
KQL_METRIC = re.compile(r"""name\s*==\s*["']([^"']+)["']""")


def kql_files() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(INFRA_DIR.glob("**/*.kql"))}


def test_the_alert_queries_use_names_the_telemetry_emits(
    app: AppUnderTest, scram_postgres: ScramCluster, pg_login: Any
) -> None:
    with captured() as seen:
        rotate_by_event(app, scram_postgres, pg_login)
        put_managed_secret(app, "broken", "u", "p", scram_postgres, tags={T.STRATEGY: "bad"})
        app.api("POST", "broken")
        app.function("sweep")(TimerRequest(past_due=False))
        emitted = {k for r in seen.logs() for k in (r.log_record.attributes or {})}
        events = {(r.log_record.attributes or {}).get(TM.EVENT) for r in seen.logs()}
        outcomes = {(r.log_record.attributes or {}).get(TM.OUTCOME) for r in seen.logs()}
        metric_names = {n for n, _, _ in seen.metric_points()}
    queries = kql_files()
    assert len(queries) >= 5
    for name, text in queries.items():
        referenced = set(KQL_NAME.findall(text))
        assert referenced, name
        assert referenced <= emitted, (name, referenced - emitted)
        for metric in KQL_METRIC.findall(text):
            assert metric in metric_names, (name, metric)
        for event in re.findall(r"""rotation\.event"\]\s*==\s*"([^"]+)""", text):
            assert event in events, (name, event)
        for outcome in re.findall(r"""rotation\.outcome"\]\s*==\s*"([^"]+)""", text):
            assert outcome in outcomes | {"failed"}, (name, outcome)


# ---------------------------------------------------------------------- configuration


def test_without_a_connection_string_nothing_is_configured_or_imported() -> None:
    code = (
        "import sys, composition\n"
        "from azure.identity import ManagedIdentityCredential\n"
        "done = composition.configure_telemetry(ManagedIdentityCredential(client_id='x'), {})\n"
        "print(done, 'azure.monitor.opentelemetry' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.split() == ["False", "False"]


def test_with_a_connection_string_the_distro_gets_the_app_identity_and_no_sampling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import azure.monitor.opentelemetry as distro

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(distro, "configure_azure_monitor", lambda **kw: calls.append(kw))
    monkeypatch.setattr(composition, "_configured", [])
    credential = object()
    env = {composition.APPINSIGHTS: "InstrumentationKey=00000000-0000-0000-0000-000000000000"}
    assert composition.configure_telemetry(credential, env)  # type: ignore[arg-type]
    assert composition.configure_telemetry(credential, env)  # type: ignore[arg-type]
    (call,) = calls
    assert call["credential"] is credential
    assert call["sampling_ratio"] == 1.0
    assert call["logger_name"] == "rotation"
    assert call["instrumentation_options"]["requests"] == {"enabled": False}
    assert "azure_sdk" not in call["instrumentation_options"]
