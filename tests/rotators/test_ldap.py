"""The ``ldap`` rotator against a throwaway OpenLDAP slapd (tests/support/slapd.py).

Test code creates and deletes the accounts as the rootdn through its own ldap3 connection,
and checks passwords with its own binds; the rotator's admin is ``cn=rotator``, which the
server's ACLs let write ``userPassword`` under ``ou=people`` and nothing else.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from rotation.credential import Credential
from rotation.errors import ConfigurationError, RotationConflict
from rotation.policy import PasswordPolicy
from rotation.rotator import RotatorContext, Strategy
from rotation.testing import RotatorContract, free_port, unique_name
from rotators.ldap import LdapRotator
from tests.rotators.test_password_limits import HOSTILE_SYMBOLS
from tests.support.rotator_tests import WrongAdminPassword, rotator_context
from tests.support.slapd import ADMIN_DN, PEOPLE, Slapd, person_dn

#: Names full of what DNs and filters treat specially; each must rotate (escaped, not parsed).
HOSTILE = ("o'brien,cn=x+sn=y", 'q"x";=<>#', " b\\t* (x)")


@pytest.fixture
def accounts(slapd: Slapd) -> Iterator[Callable[[str], Credential]]:
    """Makes an account and its clone (unknown password); deletes both at teardown."""
    made: list[str] = []

    def make(name: str) -> Credential:
        made.append(name)
        return slapd.add_pair(name, LdapRotator.default_policy.generate())

    yield make
    slapd.delete_pairs(*made)


def logs_in(slapd: Slapd, credential: Credential) -> bool:
    return slapd.bind(person_dn(credential.username or ""), credential.password)


class _SlapdContract(RotatorContract):
    """The contract's fixtures for the test slapd (subclassed per admin setting)."""

    hostile_usernames = HOSTILE
    hostile_usernames_rotate = True

    @pytest.fixture(autouse=True)
    def _server(self, slapd: Slapd) -> None:
        self.slapd = slapd

    @pytest.fixture
    def target(self, slapd: Slapd) -> str:
        return slapd.target()

    @pytest.fixture
    def login_factory(self, accounts: Callable[[str], Credential]) -> Callable[[str], Credential]:
        return accounts

    @pytest.fixture
    def down_target(self) -> str:
        return f"ldap://127.0.0.1:{free_port()}/{PEOPLE}"

    def can_login(self, credential: Credential) -> bool:
        return logs_in(self.slapd, credential)

    def principals(self) -> set[str]:
        return self.slapd.uids()


class TestLdapContract(WrongAdminPassword, _SlapdContract):
    """Both strategies with the rotator's admin (single then resets as the admin)."""

    rotator = LdapRotator

    @pytest.fixture
    def admin_credential(self, slapd: Slapd) -> Credential:
        return Credential(password=slapd.admin_password, username=ADMIN_DN)


class SelfServiceLdap(LdapRotator):
    """The rotator restricted to the single strategy, so the contract runs it admin-less."""

    strategies = (Strategy.SINGLE,)


class TestLdapSelfServiceContract(_SlapdContract):
    """Single without an admin: the account changes its own password (RFC 3062)."""

    rotator = SelfServiceLdap


# ---------------------------------------------------------------------------- behaviour


def _context(
    target: str,
    strategy: Strategy = Strategy.SINGLE,
    *,
    admin: Credential | None = None,
    options: dict[str, str] | None = None,
) -> RotatorContext:
    context = rotator_context(
        LdapRotator, "ldap-secret", target, strategy=strategy, admin=admin, options=options
    )
    LdapRotator.check_config(context)
    return context


def test_seeded_pair_rotates_alternating(slapd: Slapd) -> None:
    """uid=app -> uid=app_clone and back, the old account alive until the next rotation."""
    admin = Credential(password=slapd.admin_password, username=ADMIN_DN)
    context = _context(slapd.target(), Strategy.ALTERNATING, admin=admin)
    app = Credential(password=slapd.seeded_passwords["app"], username="app")
    rotator = LdapRotator(context)
    clone = rotator.apply(app, rotator.generate(app))
    rotator.verify(clone)
    assert clone.username == "app_clone"
    assert logs_in(slapd, clone) and logs_in(slapd, app)
    back = rotator.apply(clone, rotator.generate(clone))
    assert back.username == "app"
    assert logs_in(slapd, back) and logs_in(slapd, clone) and not logs_in(slapd, app)


def test_retry_after_self_change_succeeds(
    slapd: Slapd, accounts: Callable[[str], Credential]
) -> None:
    """A crash after the password modify: the retry binds with the candidate and succeeds."""
    current = accounts(unique_name("ldapretry"))
    rotator = LdapRotator(_context(slapd.target()))
    candidate = rotator.generate(current)
    rotator.apply(current, candidate)
    assert not logs_in(slapd, current)
    assert LdapRotator(_context(slapd.target())).apply(current, candidate) == candidate
    assert logs_in(slapd, candidate)


def test_neither_password_binds_is_a_conflict(
    slapd: Slapd, accounts: Callable[[str], Credential]
) -> None:
    current = accounts(unique_name("ldaplost"))
    rotator = LdapRotator(_context(slapd.target()))
    stale = current.with_password(rotator.context.policy.generate())
    with pytest.raises(RotationConflict):
        rotator.apply(stale, rotator.generate(stale))
    assert logs_in(slapd, current)


def test_admin_without_write_access_is_refused(
    slapd: Slapd, accounts: Callable[[str], Credential]
) -> None:
    """An account that binds but may not write others' passwords: ConfigurationError."""
    weak = accounts(unique_name("ldapweak"))
    victim = accounts(unique_name("ldapvictim"))
    admin = Credential(password=weak.password, username=person_dn(weak.username or ""))
    rotator = LdapRotator(_context(slapd.target(), Strategy.ALTERNATING, admin=admin))
    with pytest.raises(ConfigurationError) as raised:
        rotator.apply(victim, rotator.generate(victim))
    assert raised.value.tag == "rotation-admin-secret"
    assert logs_in(slapd, victim)


def test_missing_clone_is_a_configuration_error(slapd: Slapd) -> None:
    admin = Credential(password=slapd.admin_password, username=ADMIN_DN)
    name = unique_name("ldapnoclone")
    slapd.add_person(name, "pw-" + unique_name())
    try:
        rotator = LdapRotator(_context(slapd.target(), Strategy.ALTERNATING, admin=admin))
        current = Credential(password="unused-here", username=name)
        with pytest.raises(ConfigurationError, match="noSuchObject"):
            rotator.apply(current, rotator.generate(current))
    finally:
        slapd.delete_people(name)


@pytest.mark.parametrize("with_admin", [False, True], ids=["self-service", "admin"])
def test_longest_password_of_every_symbol_binds(
    slapd: Slapd, accounts: Callable[[str], Credential], with_admin: bool
) -> None:
    """``max_password_length`` characters, half of them every ASCII symbol, the space and
    non-ASCII letters (tests/rotators/test_password_limits.py's set): applied by the rotator,
    then accepted by the test's own bind."""
    length = LdapRotator.max_password_length
    policy = PasswordPolicy(length=length, symbols=length // 2, symbol_set=HOSTILE_SYMBOLS)
    admin = Credential(password=slapd.admin_password, username=ADMIN_DN) if with_admin else None
    context = replace(_context(slapd.target(), admin=admin), policy=policy)
    current = accounts(unique_name("ldaplong"))
    rotator = LdapRotator(context)
    applied = rotator.apply(current, rotator.generate(current))
    rotator.verify(applied)
    assert len(applied.password) == length and " " in applied.password
    assert logs_in(slapd, applied) and not logs_in(slapd, current)


@pytest.mark.parametrize("with_admin", [False, True], ids=["self-service", "admin"])
def test_the_directory_stores_the_password_octets_the_vault_holds(
    slapd: Slapd, accounts: Callable[[str], Credential], with_admin: bool
) -> None:
    """A password that SASLprep would rewrite (the policy never generates one; a value given
    to ``apply`` may still hold one): the directory gets its UTF-8 octets untouched, so a
    client that sends the vault's value as it is (libldap, JNDI) logs in, and its SASLprep
    form (what ldap3 would have sent for a ``str``) does not."""
    admin = Credential(password=slapd.admin_password, username=ADMIN_DN) if with_admin else None
    rotator = LdapRotator(_context(slapd.target(), admin=admin))
    current = accounts(unique_name("ldapoctets"))
    odd = Credential(
        password="Pw-\u00b2\uff21\u2460-e\u0301-" + "x" * 20, username=current.username
    )
    applied = rotator.apply(current, odd)
    rotator.verify(applied)
    folded = replace(odd, password=unicodedata.normalize("NFKC", odd.password))
    assert logs_in(slapd, odd) and not logs_in(slapd, folded) and not logs_in(slapd, current)
