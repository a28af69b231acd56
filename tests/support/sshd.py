"""The ``sshd`` fixture: a throwaway OpenSSH server for the ``ssh`` rotator's tests, and
test-side SSH checks (a plugin loaded by tests/conftest.py, like ``scram_postgres``).

The server runs ``/usr/sbin/sshd -D -e -f <config>`` on a free port of 127.0.0.1 with its
own Ed25519 host key, public-key authentication only, and one ``AuthorizedKeysFile`` in its
temporary directory. It serves the user the tests run as (``root`` here and in CI, where
``PermitRootLogin prohibit-password`` lets a key in; any user otherwise, since an
unprivileged sshd can only log its own user in). ``StrictModes no`` because the file lives
under ``/tmp``, which everyone may write (sshd would refuse the path); ``UsePAM no`` because
PAM needs a privileged sshd and adds nothing to key logins. As root, sshd wants its
privilege-separation directory ``/run/sshd``, which is created when missing.

Test code checks logins with the real ``ssh`` client (``BatchMode``, the host key in a
``known_hosts`` of its own), never with the rotator's code.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from rotation import tags as T
from rotation.credential import Credential
from rotation.rotator import RotatorContext, Strategy
from rotation.testing import free_port, unique_name
from rotators.ssh import SshKeyRotator

SSHD = "/usr/sbin/sshd"
_START_TIMEOUT_S = 15
HEADER = "-----BEGIN OPENSSH PRIVATE KEY-----"
FOOTER = "-----END OPENSSH PRIVATE KEY-----"


def new_key_pair() -> tuple[str, str]:
    """A fresh Ed25519 key pair made by test code: (stored one-line private key, public
    ``type base64`` line)."""
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode("ascii")
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return " ".join(pem.split()), public.decode("ascii")


def pem_file_text(stored: str) -> str:
    """What the docs tell consumers to do with a stored key: the armour's two spaces back
    to line breaks (``sed -e 's/----- /-----\\n/' -e 's/ -----END/\\n-----END/'``)."""
    return stored.replace("----- ", "-----\n", 1).replace(" -----END", "\n-----END", 1) + "\n"


@dataclass
class Sshd:
    """A running throwaway sshd."""

    port: int
    root: Path
    user: str
    host_public_key: str
    authorized_keys: Path
    #: A second file sshd reads (the rotator is never pointed at it).
    other_authorized_keys: Path
    process: subprocess.Popen[bytes]

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def add_login(self, comment: str, *, other_file: bool = False) -> Credential:
        """A fresh key pair authorized for :attr:`user` (appended to the file, or to the
        other file)."""
        private, public = new_key_pair()
        path = self.other_authorized_keys if other_file else self.authorized_keys
        with path.open("a", encoding="utf-8") as handle:
            handle.write(f"{public} {comment}\n")
        return Credential(password=private, username=self.user)

    def logs_in(self, credential: Credential) -> bool:
        """Whether ``ssh`` logs in with the credential's key (refused -> False; any other
        failure raises). A value that is no key at all is refused by ssh as well."""
        work = Path(tempfile.mkdtemp(prefix="ssh-client-", dir=self.root))
        try:
            key = work / "id"
            key.write_text(pem_file_text(credential.password), encoding="ascii")
            key.chmod(0o600)
            known = work / "known_hosts"
            known.write_text(f"[127.0.0.1]:{self.port} {self.host_public_key}\n")
            result = subprocess.run(
                ["ssh", "-F", "/dev/null", "-i", str(key), "-p", str(self.port),
                 "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                 "-o", "PasswordAuthentication=no", "-o", "StrictHostKeyChecking=yes",
                 "-o", f"UserKnownHostsFile={known}", "-o", "ConnectTimeout=10",
                 "-l", credential.username or self.user, "127.0.0.1", "true"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )  # fmt: skip
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if result.returncode == 0:
            return True
        if "Permission denied" in result.stderr:
            return False
        raise AssertionError(f"ssh failed ({result.returncode}): {result.stderr.strip()}")


_DEFAULT: Any = object()


def ssh_options(sshd: Sshd, **more: str) -> dict[str, str]:
    """The option tags of a context for the test server (host key pinned, its file)."""
    return {
        T.option(T.SSH_HOST_KEY): sshd.host_public_key,
        T.option(T.SSH_AUTHORIZED_KEYS): str(sshd.authorized_keys),
        **more,
    }


def ssh_context(sshd: Sshd, *, target: str | None = _DEFAULT, **options: str) -> RotatorContext:
    """A context for the ``ssh`` rotator on the test server (``target`` overrides it)."""
    return RotatorContext(
        secret_name=unique_name("secret").replace("_", "-"),
        target=sshd.target if target is _DEFAULT else target,
        strategy=Strategy.MULTIPLE,
        policy=SshKeyRotator.default_policy,
        options=ssh_options(sshd, **options),
    )


def _write_config(
    root: Path, port: int, user: str, host_key: Path, keys: list[Path], *, sftp: bool
) -> Path:
    config = root / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                f"PidFile {root / 'sshd.pid'}",
                f"AuthorizedKeysFile {' '.join(map(str, keys))}",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "PermitRootLogin prohibit-password",
                f"AllowUsers {user}",
                "Subsystem sftp internal-sftp" if sftp else "",
                "LogLevel VERBOSE",
                "",
            ]
        )
    )
    return config


def start_sshd(*, sftp: bool = True) -> Sshd:
    """Start a server for the current user (without the SFTP subsystem if ``sftp`` is
    false); returns once it sends its banner."""
    if not os.path.exists(SSHD):
        raise RuntimeError("openssh-server is not installed (/usr/sbin/sshd)")
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="sshd-"))
    host = ed25519.Ed25519PrivateKey.generate()
    host_key = root / "host_ed25519"
    host_key.write_bytes(
        host.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    host_key.chmod(0o600)
    public = host.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    keys = [root / "authorized_keys", root / "other" / "authorized_keys"]
    keys[1].parent.mkdir()
    for path in keys:
        path.write_text("# test logins\n")
        path.chmod(0o600)
    user = getpass.getuser()
    port = free_port()
    config = _write_config(root, port, user, host_key, keys, sftp=sftp)
    log = (root / "sshd.log").open("wb")
    process = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    server = Sshd(port, root, user, public.decode("ascii"), keys[0], keys[1], process)
    deadline = time.monotonic() + _START_TIMEOUT_S
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                if sock.recv(64).startswith(b"SSH-2.0-"):
                    return server
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            output = (root / "sshd.log").read_text(errors="replace")[-2000:]
            stop_sshd(server)
            raise RuntimeError(f"sshd did not start: {output}")
        time.sleep(0.05)


def stop_sshd(server: Sshd) -> None:
    """Stop the server (sshd exits on SIGTERM, closing its sessions) and delete its
    directory."""
    if server.process.returncode is None:
        server.process.terminate()
        server.process.wait(timeout=10)
    shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session")
def sshd() -> Iterator[Sshd]:
    """A throwaway sshd for the whole session, started on first use."""
    server = start_sshd()
    yield server
    stop_sshd(server)


@pytest.fixture
def ssh_keys_restored(sshd: Sshd) -> Iterator[None]:
    """Both authorized_keys files as they were before the test, afterwards."""
    files = (sshd.authorized_keys, sshd.other_authorized_keys)
    before = [path.read_bytes() for path in files]
    yield
    for path, content in zip(files, before, strict=True):
        path.write_bytes(content)
        path.chmod(0o600)
