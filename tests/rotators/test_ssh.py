"""The ``ssh`` rotator against a throwaway OpenSSH sshd (tests/support/sshd.py).

Test code authorizes keys by writing the server's authorized_keys files itself and checks
logins with the real ``ssh`` client, independent of the rotator. Every test starts from the
files as they were and puts them back afterwards.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import (
    ConfigurationError,
    RotationConflict,
    TargetUnavailable,
    VerificationFailed,
)
from rotation.rotator import RotatorContext
from rotation.targets import parse_endpoint
from rotation.testing import RotatorContract, free_port
from rotators._ssh_keys import (
    fingerprint,
    load_private_key,
    parse_pins,
    public_key,
)
from rotators._ssh_session import login, read_text, replace_text
from rotators.ssh import SshKeyRotator
from tests.support.sshd import (
    Sshd,
    SshServerContract,
    new_key_pair,
    pem_file_text,
    ssh_context,
    start_sshd,
    stop_sshd,
)

pytestmark = pytest.mark.usefixtures("ssh_keys_restored")


def public_of(credential: Credential) -> str:
    """``ssh-keygen -y``'s public line for the credential's private key (test-side)."""
    with tempfile.TemporaryDirectory() as work:
        key = Path(work) / "id"
        key.write_text(pem_file_text(credential.password))
        key.chmod(0o600)
        return subprocess.check_output(["ssh-keygen", "-y", "-f", str(key)], text=True).strip()


class TestSshContract(SshServerContract, RotatorContract):
    rotator = SshKeyRotator

    @pytest.fixture
    def login_factory(self, sshd: Sshd) -> Callable[[str], Credential]:
        """Contract names (``rot_...``) become keys of the server's one user; any other
        (hostile) name keeps a fresh key under that name, which no OS user has."""

        def make(name: str) -> Credential:
            if name.startswith("rot_"):
                return sshd.add_login(f"test:{name}")
            return Credential(password=new_key_pair()[0], username=name)

        return make

    def can_login(self, credential: Credential) -> bool:
        return self.server.logs_in(credential)

    def test_generate_respects_policy(self, *args: Any, **kwargs: Any) -> None:
        pytest.skip("keys, not passwords: see test_generate_makes_fresh_ed25519_keys")

    def test_generate_makes_fresh_ed25519_keys(
        self, context: RotatorContext, rotator_for: Callable[[RotatorContext], Any]
    ) -> None:
        rotator = rotator_for(context)
        current = Credential(password=new_key_pair()[0], username="app", extra={"k": "v"})
        candidates = [rotator.generate(current) for _ in range(3)]
        publics = [public_of(candidate) for candidate in candidates]
        assert all(line.startswith("ssh-ed25519 ") for line in publics)
        assert len(set(publics)) == 3
        for candidate in candidates:
            assert candidate.username == "app" and candidate.extra == {"k": "v"}
            assert "\n" not in candidate.password
            assert Credential.from_value(candidate.to_value(json_format=True), json_format=True)

    def test_verify_refuses_a_key_that_is_not_authorized(
        self, context: RotatorContext, rotator_for: Callable[[RotatorContext], Any], sshd: Sshd
    ) -> None:
        stranger = Credential(password=new_key_pair()[0], username=sshd.user)
        with pytest.raises(VerificationFailed):
            rotator_for(context).verify(stranger)


# ---------------------------------------------------------------------- the file


def test_rotation_keeps_every_other_line_and_mode_600(sshd: Sshd) -> None:
    others = (
        "# managed by hand\n"
        '\nfrom="10.0.0.1",command="echo hi there" ssh-ed25519 '
        "AAAAC3NzaC1lZDI1NTE5AAAAIGq1wdWzmMOtPxu3rXyc6nZQ0UjVwhHxHKu0I4xWbqr4 ops@desk\n"
        "not a key line at all\n"
    )
    sshd.authorized_keys.write_text(others)
    sshd.authorized_keys.chmod(0o644)
    current = sshd.add_login("first")
    rotator = SshKeyRotator(ssh_context(sshd))
    candidate = rotator.generate(current)
    rotator.apply(current, candidate)
    rotator.apply(current, candidate)
    text = sshd.authorized_keys.read_text()
    assert text.startswith(others)
    assert text.count(public_of(candidate).split()[1]) == 1
    assert text.rstrip("\n").endswith(f"rotation:{rotator.context.secret_name}")
    assert sshd.authorized_keys.stat().st_mode & 0o777 == 0o600
    rotator.retire(current, candidate)
    text = sshd.authorized_keys.read_text()
    assert text.startswith(others) and public_of(current).split()[1] not in text
    assert sshd.logs_in(candidate) and not sshd.logs_in(current)
    assert [p.name for p in sshd.authorized_keys.parent.iterdir() if "rotation-" in p.name] == []


def test_discard_removes_only_the_candidate(sshd: Sshd) -> None:
    current = sshd.add_login("first")
    rotator = SshKeyRotator(ssh_context(sshd))
    candidate = rotator.apply(current, rotator.generate(current))
    rotator.discard(candidate, current)
    rotator.discard(candidate, current)
    assert sshd.logs_in(current) and not sshd.logs_in(candidate)


def test_retire_refuses_when_the_new_key_does_not_log_in(sshd: Sshd) -> None:
    current = sshd.add_login("first")
    rotator = SshKeyRotator(ssh_context(sshd))
    never_applied = rotator.generate(current)
    with pytest.raises(RotationConflict):
        rotator.retire(current, never_applied)
    assert sshd.logs_in(current)


def test_retire_reports_an_old_key_that_another_file_authorizes(sshd: Sshd) -> None:
    current = sshd.add_login("first")
    sshd.other_authorized_keys.write_text(public_of(current) + " elsewhere\n")
    rotator = SshKeyRotator(ssh_context(sshd))
    candidate = rotator.apply(current, rotator.generate(current))
    with pytest.raises(RotationConflict, match="still logs in"):
        rotator.retire(current, candidate)


def test_apply_refuses_a_file_that_does_not_authorize_the_current_key(sshd: Sshd) -> None:
    current = sshd.add_login("elsewhere", other_file=True)
    before = sshd.authorized_keys.read_bytes()
    rotator = SshKeyRotator(ssh_context(sshd))
    with pytest.raises(RotationConflict, match="another file"):
        rotator.apply(current, rotator.generate(current))
    assert sshd.authorized_keys.read_bytes() == before


def test_apply_with_a_current_key_that_no_longer_logs_in(sshd: Sshd) -> None:
    lost = Credential(password=new_key_pair()[0], username=sshd.user)
    rotator = SshKeyRotator(ssh_context(sshd))
    with pytest.raises(ConfigurationError, match="no longer logs in") as raised:
        rotator.apply(lost, rotator.generate(lost))
    assert not raised.value.retryable


def test_a_server_without_sftp_is_a_configuration_error() -> None:
    server = start_sshd(sftp=False)
    try:
        current = server.add_login("first")
        before = server.authorized_keys.read_bytes()
        rotator = SshKeyRotator(ssh_context(server))
        rotator.verify(current)
        with pytest.raises(ConfigurationError, match="SFTP"):
            rotator.apply(current, rotator.generate(current))
        assert server.authorized_keys.read_bytes() == before
    finally:
        stop_sshd(server)


def test_a_concurrent_edit_is_never_overwritten(sshd: Sshd) -> None:
    current = sshd.add_login("first")
    transport = login(
        parse_endpoint(sshd.target, default_port=22, database_required=False),
        parse_pins(sshd.host_public_key),
        sshd.user,
        load_private_key(current.password),
        secret="s",
        redact=[current.password],
    )
    assert transport is not None
    try:
        sftp = transport.open_sftp_client()
        path = str(sshd.authorized_keys)
        text, before = read_text(sftp, path, where="test", secret="s")
        with sshd.authorized_keys.open("a") as handle:
            handle.write("# someone else's edit\n")
        edited = sshd.authorized_keys.read_bytes()
        with pytest.raises(TargetUnavailable, match="changed"):
            replace_text(sftp, path, text + "# ours\n", before, where="test", secret="s")
    finally:
        transport.close()
    assert sshd.authorized_keys.read_bytes() == edited
    assert [p.name for p in sshd.authorized_keys.parent.iterdir() if "rotation-" in p.name] == []


# ---------------------------------------------------------------------- host key pinning


def other_host_key() -> str:
    return new_key_pair()[1]


def test_a_host_key_matching_no_pin_is_refused_before_any_key_is_offered(sshd: Sshd) -> None:
    current = sshd.add_login("first")
    before = sshd.authorized_keys.read_bytes()
    rotator = SshKeyRotator(ssh_context(sshd, **{T.option(T.SSH_HOST_KEY): other_host_key()}))
    for step in (lambda: rotator.verify(current), lambda: rotator.apply(current, current)):
        with pytest.raises(ConfigurationError) as raised:
            step()
        assert raised.value.tag == T.SSH_HOST_KEY
        assert "matches no pin" in str(raised.value)
    assert sshd.authorized_keys.read_bytes() == before
    # sshd logs every key offered to it (LogLevel VERBOSE): this one never was.
    log = (sshd.root / "sshd.log").read_text()
    assert fingerprint(public_key(current.password)[1]) not in log


def test_a_pinned_key_type_the_server_lacks_is_a_configuration_error(sshd: Sshd) -> None:
    current = sshd.add_login("first")
    ecdsa = (
        "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOm"
        "xkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg="
    )
    rotator = SshKeyRotator(ssh_context(sshd, **{T.option(T.SSH_HOST_KEY): ecdsa}))
    with pytest.raises(ConfigurationError, match="no host key of the pinned type") as raised:
        rotator.verify(current)
    assert raised.value.tag == T.SSH_HOST_KEY


def test_a_fingerprint_pin_and_a_list_of_pins(sshd: Sshd) -> None:
    current = sshd.add_login("first")
    host_fp = subprocess.run(
        ["ssh-keygen", "-l", "-f", "-"],
        input=sshd.host_public_key,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]
    assert host_fp.startswith("SHA256:")
    for pins in (host_fp, f"{other_host_key()}, {sshd.host_public_key}"):
        SshKeyRotator(ssh_context(sshd, **{T.option(T.SSH_HOST_KEY): pins})).verify(current)
    wrong_fp = "SHA256:" + "A" * 43
    with pytest.raises(ConfigurationError):
        SshKeyRotator(ssh_context(sshd, **{T.option(T.SSH_HOST_KEY): wrong_fp})).verify(current)


# ---------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("options", "tag"),
    [
        ({T.option(T.SSH_HOST_KEY): ""}, T.SSH_HOST_KEY),
        ({T.option(T.SSH_HOST_KEY): "ssh-ed25519"}, T.SSH_HOST_KEY),
        ({T.option(T.SSH_HOST_KEY): "ssh-dss AAAAB3NzaC1kc3MAAACBAP"}, T.SSH_HOST_KEY),
        ({T.option(T.SSH_HOST_KEY): "SHA256:short"}, T.SSH_HOST_KEY),
        ({T.option(T.SSH_HOST_KEY): "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIGq1"}, T.SSH_HOST_KEY),
        ({T.option(T.SSH_HOST_KEY): "ssh-ed25519 AAAA\nevil"}, T.SSH_HOST_KEY),
        ({T.option(T.SSH_AUTHORIZED_KEYS): ".bashrc"}, T.SSH_AUTHORIZED_KEYS),
        ({T.option(T.SSH_AUTHORIZED_KEYS): "../other/authorized_keys"}, T.SSH_AUTHORIZED_KEYS),
        ({T.option(T.SSH_AUTHORIZED_KEYS): ".ssh/authorized_keys\x00"}, T.SSH_AUTHORIZED_KEYS),
        ({T.option(T.TLS_CA): "-----BEGIN CERTIFICATE-----"}, T.TLS_CA),
    ],
)
def test_bad_options_are_configuration_errors(
    sshd: Sshd, options: dict[str, str], tag: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        SshKeyRotator.check_config(ssh_context(sshd, **options))
    assert raised.value.tag == tag


@pytest.mark.parametrize(
    "target", [None, "", "host:0", "host/path", "user@host:22", "host:22\r\nx", "h o:22"]
)
def test_bad_targets_are_configuration_errors(sshd: Sshd, target: str | None) -> None:
    with pytest.raises(ConfigurationError) as raised:
        SshKeyRotator.check_config(ssh_context(sshd, target=target))
    assert raised.value.tag == T.TARGET


@pytest.mark.parametrize(
    "username", [None, "", "-oProxyCommand=x", "a;b", "a b", "a\nb", "$(id)", "x" * 33, "é"]
)
def test_hostile_user_names_are_refused_before_any_connection(
    sshd: Sshd, username: str | None
) -> None:
    rotator = SshKeyRotator(ssh_context(sshd, target=f"127.0.0.1:{free_port()}"))
    current = Credential(password=new_key_pair()[0], username=username)
    for step in (
        lambda: rotator.apply(current, rotator.generate(current)),
        lambda: rotator.verify(current),
    ):
        with pytest.raises(ConfigurationError):
            step()


def test_a_value_that_is_no_private_key(sshd: Sshd) -> None:
    current = sshd.add_login("first")
    rotator = SshKeyRotator(ssh_context(sshd))
    not_a_key = current.with_password("correct horse battery staple")
    with pytest.raises(ConfigurationError, match="not an OpenSSH private key"):
        rotator.apply(not_a_key, rotator.generate(current))
    with pytest.raises(VerificationFailed):
        rotator.verify(not_a_key)


def test_the_kind_is_in_the_catalogue() -> None:
    from rotators.catalogue import default_registry

    assert default_registry(include_plugins=False).get("ssh") is SshKeyRotator
