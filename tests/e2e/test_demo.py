"""The README's first command: the local demo rotates a credential and prints no value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("strategy", ["single", "alternating"])
def test_demo_rotates_and_reports(strategy: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    result = subprocess.run(
        [sys.executable, "-m", "demo", "--strategy", strategy],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "new credential" in out and "logs in: yes" in out
    assert "committed version" in out and '"state": "completed"' in out
    assert '"password"' not in out
    if strategy == "alternating":
        # The old login is kept as the standby, then reset by the next rotation (shown).
        assert "old credential ('orders_" in out and "kept the login of version" in out
        assert "its password reset) logs in: no" in out
        assert "now the standby) logs in: yes" in out
