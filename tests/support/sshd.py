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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from rotation import tags as T
from rotation.credential import Credential
from rotation.rotator import Rotator, RotatorContext, Strategy
from rotation.testing import free_port, unique_name
from rotators.ssh import SshKeyRotator
from rotators.ssh_password import SshPasswordRotator

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


def ssh_options(sshd: Sshd, rotator: type[Rotator] = SshKeyRotator) -> dict[str, str]:
    """The option tags of a context for the test server: the host key pinned and, for the
    ``ssh`` rotator, its authorized_keys file."""
    options = {T.option(T.SSH_HOST_KEY): sshd.host_public_key}
    if rotator is SshKeyRotator:
        options[T.option(T.SSH_AUTHORIZED_KEYS)] = str(sshd.authorized_keys)
    return options


def server_context(
    sshd: Sshd,
    rotator: type[Rotator],
    options: Mapping[str, str],
    target: str | None = _DEFAULT,
) -> RotatorContext:
    """A context for ``rotator`` on the test server (``target`` and ``options`` override)."""
    return RotatorContext(
        secret_name=unique_name("secret").replace("_", "-"),
        target=sshd.target if target is _DEFAULT else target,
        strategy=rotator.strategies[0],
        policy=rotator.default_policy,
        options={**ssh_options(sshd, rotator), **options},
    )


def ssh_context(sshd: Sshd, *, target: str | None = _DEFAULT, **options: str) -> RotatorContext:
    """:func:`server_context` for the ``ssh`` rotator."""
    return server_context(sshd, SshKeyRotator, options, target)


def context_factory(
    sshd: Sshd, rotator: type[Rotator], admin: Credential | None = None
) -> Callable[..., RotatorContext]:
    """A ``make_context`` for a ``RotatorContract`` subclass: the base class's, with the
    options of :func:`server_context` and ``admin`` unless the caller names one."""

    def make(strategy: Strategy, **overrides: Any) -> RotatorContext:
        options = overrides.pop("options", None) or {}
        overrides.setdefault("admin", admin)
        context = replace(server_context(sshd, rotator, options), strategy=strategy, **overrides)
        rotator.check_config(context)
        return context

    return make


class SshServerContract:
    """Mixin (before ``RotatorContract``) for an SSH rotator's contract class: the target,
    a down target and ``make_context`` come from the server fixture named
    :attr:`server_fixture`, which is also :attr:`server` during each test. Hostile names are
    refused before any connection (see ``rotators._ssh_target.check_username``)."""

    server_fixture: ClassVar[str] = "sshd"
    rotator: ClassVar[type[Rotator]]
    hostile_usernames: ClassVar[tuple[str, ...]] = ("o'brien;x", "a b", "$(id)")
    hostile_usernames_rotate: ClassVar[bool | None] = False
    server: Sshd

    @pytest.fixture(autouse=True)
    def _bind_server(self, request: pytest.FixtureRequest) -> None:
        server = request.getfixturevalue(self.server_fixture)
        assert isinstance(server, Sshd)
        self.server = server

    @pytest.fixture
    def target(self, _bind_server: None) -> str:
        return self.server.target

    @pytest.fixture
    def down_target(self) -> str:
        return f"127.0.0.1:{free_port()}"

    @pytest.fixture
    def make_context(
        self, _bind_server: None, admin_credential: Credential | None
    ) -> Callable[..., RotatorContext]:
        return context_factory(self.server, self.rotator, admin_credential)


def _write_config(
    root: Path,
    port: int,
    user: str,
    host_key: Path,
    keys: list[Path],
    *,
    sftp: bool,
    password_users: str | None,
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
                f"PasswordAuthentication {'yes' if password_users else 'no'}",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "PermitRootLogin prohibit-password",
                f"AllowUsers {user} {password_users or ''}",
                "Subsystem sftp internal-sftp" if sftp else "",
                "LogLevel VERBOSE",
                "",
            ]
        )
    )
    return config


def start_sshd(*, sftp: bool = True, password_users: str | None = None) -> Sshd:
    """Start a server for the current user (without the SFTP subsystem if ``sftp`` is
    false; also for the users matching the pattern ``password_users``, with password
    logins allowed, if given); returns once it sends its banner."""
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
    config = _write_config(
        root, port, user, host_key, keys, sftp=sftp, password_users=password_users
    )
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


#: The throwaway users' names (``rotation.testing.unique_name``), allowed to log in.
USERS = "rot_*"


@pytest.fixture(scope="session")
def password_sshd() -> Iterator[Sshd]:
    """A second server that also lets the throwaway OS users log in with a password
    (``ssh-password``); skipped unless the tests run as root (``useradd``)."""
    if os.geteuid() != 0:
        pytest.skip("chpasswd tests create throwaway OS users, which needs root")
    server = start_sshd(password_users=USERS)
    yield server
    stop_sshd(server)


@pytest.fixture
def os_users() -> Iterator[list[str]]:
    """Names appended here are deleted (userdel) at teardown. userdel refuses while sshd
    still has a process of the user (exit 8: a login just closed) or another tool holds the
    password file's lock (1, 10), so it is tried again for a while."""
    made: list[str] = []
    yield made
    for name in made:
        deadline = time.monotonic() + 30
        while (code := subprocess.run(["userdel", name], capture_output=True).returncode) in (
            1,
            8,
            10,
        ):
            assert time.monotonic() < deadline, f"userdel {name}: exit {code}"
            time.sleep(0.2)
        assert code in (0, 6), f"userdel {name}: exit {code}"  # 6: no such user


def make_os_user(os_users: list[str], name: str) -> Credential:
    """A throwaway OS user with a fresh password set by test code (local chpasswd)."""
    password = SshPasswordRotator.default_policy.generate()
    os_users.append(name)
    subprocess.run(
        ["useradd", "-M", "-N", "-d", "/nonexistent", "-s", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
    )
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)
    return Credential(password=password, username=name)


def password_logs_in(server: Sshd, credential: Credential) -> bool:
    """Whether sshd accepts the password (refused -> False; other failures raise)."""
    transport = paramiko.Transport(("127.0.0.1", server.port))
    try:
        transport.start_client(timeout=10)
        presented = transport.get_remote_server_key().get_base64()
        assert presented == server.host_public_key.split()[1], "not the test server"
        try:
            transport.auth_password(credential.username, credential.password)
        except paramiko.AuthenticationException:
            return False
        return bool(transport.is_authenticated())
    finally:
        transport.close()
