"""The operator CLI (``python -m rotation``) in a process of its own against the local stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from rotation import tags as T
from tests.e2e.conftest import AppUnderTest, in_days, pg_logs_in
from tests.e2e.test_postgres_rotation import current, put_managed_secret
from tests.support.pg_cluster import ScramCluster

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> tuple[int, str]:
    """Run the CLI with the test's app settings (os.environ); return exit code and stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "rotation", *args],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout


def cli_json(*args: str) -> tuple[int, Any]:
    code, out = cli(*args, "--json")
    return code, json.loads(out)


def test_status_doctor_rotate_and_onboard_with_exit_codes(
    app: AppUnderTest, scram_postgres: ScramCluster, pg_login: Any
) -> None:
    vault = app.vault.name
    user, old = pg_login()
    put_managed_secret(app, "cli-db", user, old, scram_postgres, expires_in_days=80)

    code, body = cli_json("status", vault)
    assert code == 0
    assert [s["secret_name"] for s in body["secrets"]] == ["cli-db"]
    assert body["secrets"][0]["health"] == "ok"
    code, text = cli("status", vault)
    assert code == 0 and "cli-db" in text and "HEALTH" in text

    code, body = cli_json("rotate", vault, "cli-db", "--dry-run")
    assert code == 0 and body["status"] == "dry-run"
    code, body = cli_json("rotate", vault, "cli-db")
    assert code == 0 and body["status"] == "rotated"
    value, _ = current(app, "cli-db")
    assert pg_logs_in(scram_postgres, user, value["password"])
    code, text = cli("status", vault, "cli-db")
    assert code == 0 and value["password"] not in text and old not in text

    # Onboarding validates with the real parser and the rotator's check, then writes tags.
    app.client.set_secret(
        "new-db",
        json.dumps({"username": user, "password": value["password"]}),
        content_type="application/json",
        expires_on=in_days(80),
    )
    code, body = cli_json("onboard", vault, "new-db", "--rotator", "postgres", "--target", "x")
    assert code == 3, body
    assert T.TARGET in body["error"]["message"]
    assert T.ROTATOR not in (app.client.get_secret("new-db").properties.tags or {})
    code, body = cli_json(
        "onboard",
        vault,
        "new-db",
        "--rotator",
        "postgres",
        "--target",
        scram_postgres.target,
        "--window",
        "Sat,Sun 02:00-05:00 UTC",
    )
    assert code == 0, body
    tags = app.client.get_secret("new-db").properties.tags or {}
    assert tags[T.ROTATOR] == "postgres" and tags[T.WINDOW] == "Sat,Sun 02:00-05:00 UTC"

    # A misconfigured secret makes status and doctor exit 1.
    put_managed_secret(app, "broken-db", user, old, scram_postgres, tags={T.VALIDITY_DAYS: "soon"})
    code, body = cli_json("doctor", vault)
    assert code == 1
    assert {s["secret_name"]: s["health"] for s in body["secrets"]}["broken-db"] == (
        "misconfigured"
    )
    code, _ = cli_json("status", vault)
    assert code == 1

    # Not found, refused, usage.
    assert cli_json("status", vault, "no-such-secret")[0] == 4
    assert cli_json("status", "not-a-configured-vault")[0] == 4
    assert cli_json("rotate", vault, "bad..name")[0] == 3
    assert cli("rotate")[0] == 2
    app.client.set_secret("shared-key", "v1", tags={T.ROTATOR: "random"})
    code, body = cli_json("rotate", vault, "shared-key", "--revoke")
    assert code == 3 and body["error"]["code"] == "RevokeRefused"
