"""rotators/README.md's example plugin, built from the README itself and run.

``test_registry.py`` proves that ``default_registry`` reads the entry-point group from a
hand-made ``dist-info``. This module goes the way a user goes: it writes the files the README
shows, builds and installs the package with pip (into a private directory, never into the
project's venv), runs the README's contract-suite file with pytest against the real Redis, and
checks that a fresh interpreter's registry finds the plugin. So the README cannot rot.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "rotators" / "README.md"
#: A file block in the README: a bold file path on its own paragraph, then a fenced block.
FILE_BLOCK = re.compile(r"\*\*`([^`]+)`\*\*[^\n]*\n(?:[^\n]+\n)*?\n```\w*\n(.*?)```", re.S)
PLUGIN_DIR = "acme-rotators"
KIND = "example-redis"


def readme_files() -> dict[str, str]:
    """``path -> content`` of every file the README shows."""
    return dict(FILE_BLOCK.findall(README.read_text(encoding="utf-8")))


def test_the_readme_shows_a_complete_plugin() -> None:
    files = readme_files()
    assert set(files) == {
        f"{PLUGIN_DIR}/acme_rotators.py",
        f"{PLUGIN_DIR}/pyproject.toml",
        f"{PLUGIN_DIR}/tests/test_contract.py",
    }
    assert (
        '[project.entry-points."keyvault_rotation.rotators"]'
        in files[f"{PLUGIN_DIR}/pyproject.toml"]
    )


def test_every_command_in_the_readme_is_one_this_test_runs() -> None:
    """The README's shell block is what :func:`test_readme_plugin_installs_and_passes` runs
    (with a private install target instead of the project's venv)."""
    text = README.read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block is not None
    commands = [line for line in block.group(1).splitlines() if line.strip()]
    assert commands == [
        f".venv/bin/pip install -e ../{PLUGIN_DIR}",
        f".venv/bin/pytest ../{PLUGIN_DIR}/tests -q -p no:cacheprovider",
        '.venv/bin/python -c "from rotators.catalogue import default_registry; '
        f"print(default_registry().get('{KIND}'))\"",
    ]


def _python(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python *args`` (this interpreter) in ``cwd`` with ``env``; never raises on failure."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The README's files written under a temp dir and pip-installed into a private
    ``site`` directory there; returns (work dir, environment that sees the plugin)."""
    work = tmp_path_factory.mktemp("plugin")
    for path, content in readme_files().items():
        target = work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    site = work / "site"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    built = _python(
        work,
        env,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",  # setuptools from this venv: no download needed
        "--target",
        str(site),
        str(work / PLUGIN_DIR),
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert list(site.glob("acme_rotators-*.dist-info/entry_points.txt"))
    # Only the plugin's private site: the project itself is importable because
    # scripts/bootstrap.sh installs it (editable), as a plugin author's venv would.
    env["PYTHONPATH"] = str(site)
    return work, env


def test_readme_plugin_passes_the_contract_suite(
    installed_plugin: tuple[Path, dict[str, str]],
) -> None:
    result = _python(
        *installed_plugin,
        "-m",
        "pytest",
        f"{PLUGIN_DIR}/tests",
        "-q",
        "-p",
        "no:cacheprovider",
        "-rs",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    summary = re.search(r"(\d+) passed(?:, (\d+) skipped)?", output)
    assert summary is not None, output
    assert int(summary.group(1)) >= 15, output
    assert "failed" not in output and "error" not in summary.group(0)


def test_the_app_registry_finds_the_installed_plugin(
    installed_plugin: tuple[Path, dict[str, str]],
) -> None:
    result = _python(
        *installed_plugin,
        "-c",
        "from rotators.catalogue import default_registry; "
        f"cls = default_registry().get('{KIND}'); print(cls.__module__, cls.__qualname__)",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["acme_rotators", "RedisPasswordRotator"]
