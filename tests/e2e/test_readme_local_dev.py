"""The README's local-development section, run as written against ``python -m emulators``."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emulators import azurite
from tests.emulators.test_main import _clean_env

ROOT = Path(__file__).resolve().parents[2]


def local_dev_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Local development", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def test_the_section_starts_the_emulators_and_names_the_default_vault() -> None:
    first, second, real = local_dev_blocks()
    assert ".venv/bin/python -m emulators --env-file .emulators.env" in first
    assert ". ./.emulators.env" in second
    assert "ROTATION_CREDENTIAL=developer" in real
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "https://local-vault.vault.azure.net" in readme


@pytest.mark.skipif(not azurite.installed(), reason="Azurite is installed by scripts/bootstrap.sh")
def test_the_second_block_rotates_a_secret_on_the_emulators(tmp_path: Path) -> None:
    _, block, _ = local_dev_blocks()
    env_file = tmp_path / ".emulators.env"
    server = subprocess.Popen(
        [sys.executable, "-m", "emulators", "--env-file", str(env_file)],
        cwd=ROOT,
        env=_clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while not env_file.exists():
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "python -m emulators wrote no environment"
            time.sleep(0.2)
        script = block.replace(". ./.emulators.env", f". {env_file}")
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=ROOT,
            env=_clean_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        lines = result.stdout.splitlines()
        assert re.fullmatch(r"rotated [0-9a-f]{32} -> [0-9a-f]{32}", lines[0]), lines
        assert any("committed version" in line for line in lines)
        assert any("nothing to retire" in line and "no target" in line for line in lines)
        assert not any("password" in line for line in lines), lines
        assert "first-value" not in result.stdout + result.stderr
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0
