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
