"""The ``ssh-password`` rotator against a throwaway sshd that allows password logins.

``chpasswd`` changes real accounts, so the tests create throwaway OS users (``useradd``:
names ``rot_<hex>``, no home, shell ``nologin``) and delete them (``userdel``) afterwards.
That needs root, as here and in CI; elsewhere the module is skipped. The admin is the user
the server runs as (root), logging in with a key; test code checks password logins with
its own paramiko transport (host key compared), never with the rotator's code.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from rotation import tags as T
from rotation.candidates import check_candidate
from rotation.config import parse_config
from rotation.credential import Credential
from rotation.errors import ConfigurationError
from rotation.testing import RotatorContract
from rotators.ssh_password import SshPasswordRotator
from tests.support.sshd import (
    Sshd,
    SshServerContract,
    context_factory,
    make_os_user,
    new_key_pair,
    password_logs_in,
    server_context,
)


class TestSshPasswordContract(SshServerContract, RotatorContract):
    rotator = SshPasswordRotator
    server_fixture = "password_sshd"

    @pytest.fixture
    def admin_credential(self, password_sshd: Sshd) -> Credential:
        return password_sshd.add_login("admin")

    @pytest.fixture
    def bad_admin_credential(self, password_sshd: Sshd) -> Credential:
        return Credential(password=new_key_pair()[0], username=password_sshd.user)

    @pytest.fixture
    def login_factory(self, os_users: list[str]) -> Callable[[str], Credential]:
        """Contract names (``rot_...``) become OS users; a hostile name cannot be one, so
        it keeps a password under that name and the rotator must refuse it."""

        def make(name: str) -> Credential:
            if name.startswith("rot_"):
                return make_os_user(os_users, name)
            return Credential(password=SshPasswordRotator.default_policy.generate(), username=name)

        return make

    def can_login(self, credential: Credential) -> bool:
        return password_logs_in(self.server, credential)


def test_a_password_with_colons_spaces_and_symbols(
    password_sshd: Sshd, os_users: list[str]
) -> None:
    current = make_os_user(os_users, "rot_" + os.urandom(4).hex())
    admin = password_sshd.add_login("admin")
    make = context_factory(password_sshd, SshPasswordRotator, admin)
    rotator = SshPasswordRotator(make(SshPasswordRotator.strategies[0]))
    candidate = current.with_password("a:b c'd\"e$(id);`x`\\y-" + os.urandom(8).hex())
    rotator.verify(rotator.apply(current, candidate))
    assert password_logs_in(password_sshd, candidate)
    assert not password_logs_in(password_sshd, current)


def test_the_authorized_keys_tag_is_refused(password_sshd: Sshd) -> None:
    context = server_context(
        password_sshd, SshPasswordRotator, {T.option(T.SSH_AUTHORIZED_KEYS): "authorized_keys"}
    )
    with pytest.raises(ConfigurationError) as raised:
        SshPasswordRotator.check_config(context)
    assert raised.value.tag == T.SSH_AUTHORIZED_KEYS


@pytest.mark.parametrize(
    ("policy", "refused"),
    [
        ("length=511", False),
        ("length=512", True),
        ("length=170;symbols=2;symbol-set=\u6f22", False),  # 170 x 3 bytes = 510
        ("length=171;symbols=2;symbol-set=\u6f22", True),
    ],
)
def test_a_policy_that_could_exceed_chpasswd_s_byte_limit_is_refused_at_parse_time(
    policy: str, refused: bool
) -> None:
    """PAM's ``chpasswd`` refuses passwords of 512 bytes and more: a policy that could
    generate one is a configuration error before any run, counted in UTF-8 bytes."""
    tags = {
        T.ROTATOR: "ssh-password",
        T.TARGET: "127.0.0.1:22",
        T.ADMIN_SECRET: "ssh-admin",
        T.PASSWORD_POLICY: policy,
    }
    if not refused:
        parse_config("s1", tags, SshPasswordRotator)
        return
    with pytest.raises(ConfigurationError, match="bytes") as raised:
        parse_config("s1", tags, SshPasswordRotator)
    assert raised.value.tag == T.PASSWORD_POLICY


def test_the_longest_password_in_bytes_logs_in(password_sshd: Sshd, os_users: list[str]) -> None:
    """511 UTF-8 bytes, two-byte letters among them: set by chpasswd, accepted by sshd; one
    byte more is refused before the target sees it."""
    current = make_os_user(os_users, "rot_" + os.urandom(4).hex())
    make = context_factory(password_sshd, SshPasswordRotator, password_sshd.add_login("admin"))
    rotator = SshPasswordRotator(make(SshPasswordRotator.strategies[0]))
    longest = current.with_password("\u00e9" * 200 + "Ab1-" + "x" * 107)
    assert len(longest.password.encode("utf-8")) == SshPasswordRotator.max_password_bytes
    check_candidate(longest, SshPasswordRotator, secret="s1")
    rotator.verify(rotator.apply(current, longest))
    assert password_logs_in(password_sshd, longest)
    with pytest.raises(ConfigurationError, match="bytes"):
        check_candidate(
            longest.with_password(longest.password + "y"), SshPasswordRotator, secret="s1"
        )
