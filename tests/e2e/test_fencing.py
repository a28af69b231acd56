"""A rotation process frozen past its lease, or whose renewal hangs, never acts again
(issue 10, finding 2): real separate processes, SIGSTOP/SIGCONT, a 15 s lease in Azurite,
the emulated Key Vault over HTTPS and a PostgreSQL cluster that demands passwords.

After every run returns, the current Key Vault value logs in and at most one new version of
the secret was written; the run that lost its lock answers 409, never 500.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from emulators.faults import FaultRule
from rotation import tags as T
from rotation.vault import staging_name
from tests.e2e.conftest import AppUnderTest, pg_logs_in
from tests.e2e.test_postgres_rotation import current, put_managed_secret
from tests.support.pg_cluster import ScramCluster

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 15
#: Each lock check of a rotation, with the strategy that reaches it: before the staging
#: write, apply, the pre-commit read and the commit write (single, which commits its final
#: state at once and writes nothing after it), then retire and the final tags (alternating).
LOCK_CHECKS = [("single", n) for n in range(1, 5)] + [("alternating", 5), ("alternating", 6)]


def start_rotation(app: AppUnderTest, name: str, *extra: str) -> subprocess.Popen[str]:
    """A separate process that rotates ``name`` once through function_app."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.rotation_process", app.vault.name, name, *extra],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 90) -> dict[str, Any]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-2000:]
    answer: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return answer


def is_stopped(pid: int) -> bool:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return fields[0] == "T"


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def short_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROTATION_LOCK_LEASE_SECONDS", str(LEASE_SECONDS))
    # Several frozen runs on one PostgreSQL would otherwise fill its blast-radius slots
    # (tests/e2e/test_blast_radius.py covers those); this test is about the secret's lock.
    monkeypatch.setenv("ROTATION_MAX_PER_TARGET", "0")


@pytest.mark.slow
def test_a_process_frozen_past_its_lease_at_any_step_never_acts_again(
    app: AppUnderTest,
    scram_postgres: ScramCluster,
    pg_login: Any,
    short_lease: None,
    tmp_path: Path,
) -> None:
    app.client.set_secret(
        "frozen-admin",
        json.dumps({"username": scram_postgres.superuser, "password": scram_postgres.password}),
        content_type="application/json",
        tags={T.ADMIN_FOR: "*", T.TARGET: scram_postgres.target},
    )
    alternating = {T.STRATEGY: "alternating", T.ADMIN_SECRET: "frozen-admin"}
    secrets: dict[int, tuple[str, str]] = {}
    frozen: dict[int, subprocess.Popen[str]] = {}
    try:
        for strategy, step in LOCK_CHECKS:
            name = f"frozen-{step}"
            user, password = pg_login()
            tags = alternating if strategy == "alternating" else {}
            first = put_managed_secret(app, name, user, password, scram_postgres, tags=tags)
            secrets[step] = (name, first)
            frozen[step] = start_rotation(
                app, name, "--pause-at", str(step), "--marker", str(tmp_path / f"{step}.pid")
            )
        for step, process in frozen.items():
            marker = tmp_path / f"{step}.pid"
            wait_for(
                lambda m=marker, p=process: (
                    (m.exists() and is_stopped(p.pid)) or p.poll() is not None
                ),
                60,
                f"the run to freeze at lock check {step}",
            )
            assert process.poll() is None, f"step {step}: {process.communicate()[1][-2000:]}"
        # Past the lease: its holders are frozen, so nobody renews it.
        time.sleep(LEASE_SECONDS + 2)

        # Another instance picks the work up as a retry would: only if the version the
        # frozen run started from is still current (a run that already committed is done).
        for step, (name, first) in secrets.items():
            status, body = app.api("POST", name, version=first)
            assert status == 200, (step, body)
    finally:
        for process in frozen.values():
            if process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)
    for step, process in frozen.items():
        answer = finish(process)
        assert answer["status"] == 409, (step, answer)
        name, _ = secrets[step]
        value, _ = current(app, name)
        assert pg_logs_in(scram_postgres, value["username"], value["password"]), (
            f"step {step}: the current value does not log in"
        )
        versions = len(app.versions(name))
        assert versions == 2, f"frozen at lock check {step}: {versions - 1} new versions"


@pytest.mark.slow
def test_a_hung_renewal_stops_the_run_before_its_candidate_reaches_the_target(
    app: AppUnderTest,
    scram_postgres: ScramCluster,
    pg_login: Any,
    short_lease: None,
) -> None:
    user, password = pg_login()
    put_managed_secret(app, "hung-db", user, password, scram_postgres)
    slow_staging = app.vault.stack.faults.add(
        FaultRule(operation="set_secret", secret=staging_name("hung-db"), latency=20)
    )
    hung = start_rotation(app, "hung-db", "--hang-renewal", "30")
    try:
        wait_for(lambda: app.vault.stack.faults.fired(slow_staging) == 1, 30, "the staging write")
        # The other instance retries until the lapsed lease lets it in.
        deadline = time.monotonic() + 45
        while True:
            status, body = app.api("POST", "hung-db")
            if status != 409 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert status == 200, body
        answer = finish(hung)
    finally:
        if hung.poll() is None:
            hung.kill()
    assert answer["status"] == 409, answer
    value, _ = current(app, "hung-db")
    assert pg_logs_in(scram_postgres, user, value["password"])
    assert not pg_logs_in(scram_postgres, user, password)
    assert len(app.versions("hung-db")) == 2
