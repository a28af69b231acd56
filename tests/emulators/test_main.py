"""``python -m emulators`` as the README runs it: the printed environment works in a new process."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CLIENT = """
import os, sys
from azure.identity import ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient
credential = ManagedIdentityCredential(client_id=os.environ["AZURE_CLIENT_ID"])
client = SecretClient(sys.argv[1], credential)
client.set_secret("hello", "world")
print(client.get_secret("hello").value)
"""


def _clean_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("HTTPS_PROXY", "https_proxy", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        env.pop(name, None)
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "AZURE_POD_IDENTITY_AUTHORITY_HOST"):
        env.pop(name, None)
    return env


def test_main_prints_a_working_environment(tmp_path: Path) -> None:
    vault = f"main-{uuid.uuid4().hex[:10]}"
    client_id = str(uuid.uuid4())
    env_file = tmp_path / "emulators.env"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulators",
            "--vault",
            vault,
            "--identity",
            client_id,
            "--no-azurite",
            "--env-file",
            str(env_file),
        ],
        cwd=ROOT,
        env=_clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        printed: dict[str, str] = {}
        while "ROTATION_VAULTS" not in printed:
            line = server.stdout.readline()
            assert line, (
                f"python -m emulators exited early: {server.stderr.read() if server.stderr else ''}"
            )
            name, _, value = line.removeprefix("export ").rstrip("\n").partition("=")
            printed[name] = shlex.split(value)[0]
        assert printed["AZURE_CLIENT_ID"] == client_id
        assert printed["VAULT_URL"] == f"https://{vault}.vault.azure.net"
        assert printed["ROTATION_VAULTS"] == printed["VAULT_URL"]
        assert printed["NO_PROXY"] == "127.0.0.1,localhost"
        assert (
            env_file.read_text().splitlines()[0].startswith("export HTTPS_PROXY=http://127.0.0.1:")
        )
        child = subprocess.run(
            [sys.executable, "-c", CLIENT, printed["VAULT_URL"]],
            env={**_clean_env(), **printed},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert child.returncode == 0, child.stderr[-2000:]
        assert child.stdout.strip() == "world"
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=20) == 0
