"""The ``ldap`` rotator over LDAPS and StartTLS against slapd (certificate for ``localhost``
from the tests' local CA): verified connections rotate, unverified ones are refused before
any password is sent, and the TLS mode follows the tags."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rotation.credential import Credential
from rotation.errors import ConfigurationError
from rotation.rotator import RotatorContext, Strategy
from rotation.testing import unique_name
from rotators._ldap import TlsMode
from rotators.ldap import LdapRotator
from tests.support.rotator_tests import rotator_context
from tests.support.slapd import ADMIN_DN, Slapd, person_dn
from tests.support.tls import CERT_HOST, WRONG_HOST


@pytest.fixture
def account(slapd: Slapd) -> Iterator[Callable[[], Credential]]:
    """Makes accounts (with their clones); deleted at teardown."""
    made: list[str] = []

    def make() -> Credential:
        made.append(unique_name("ldaptls"))
        return slapd.add_pair(made[-1], LdapRotator.default_policy.generate())

    yield make
    slapd.delete_pairs(*made)


def _context(
    target: str,
    options: dict[str, str],
    strategy: Strategy = Strategy.SINGLE,
    admin: Credential | None = None,
) -> RotatorContext:
    context = rotator_context(
        LdapRotator, "ldap-tls", target, strategy=strategy, admin=admin, options=options
    )
    LdapRotator.check_config(context)
    return context


def _binds(slapd: Slapd, credential: Credential) -> bool:
    return slapd.bind(person_dn(credential.username or ""), credential.password)


@pytest.mark.parametrize(
    ("scheme", "extra"), [("ldaps", {}), ("ldap", {"tls": "starttls"})], ids=["ldaps", "starttls"]
)
@pytest.mark.parametrize("strategy", [Strategy.SINGLE, Strategy.ALTERNATING])
def test_rotates_over_verified_tls(
    slapd: Slapd,
    account: Callable[[], Credential],
    scheme: str,
    extra: dict[str, str],
    strategy: Strategy,
) -> None:
    current = account()
    admin = None
    if strategy is Strategy.ALTERNATING:
        admin = Credential(password=slapd.admin_password, username=ADMIN_DN)
    options = {"tls-ca": str(slapd.ca_file), **extra}
    rotator = LdapRotator(_context(slapd.target(scheme, CERT_HOST), options, strategy, admin))
    assert rotator.target.mode is (TlsMode.LDAPS if scheme == "ldaps" else TlsMode.STARTTLS)
    applied = rotator.apply(current, rotator.generate(current))
    rotator.verify(applied)
    assert _binds(slapd, applied)
    assert _binds(slapd, current) is (strategy is Strategy.ALTERNATING)


@pytest.mark.parametrize(
    ("scheme", "extra"), [("ldaps", {}), ("ldap", {"tls": "starttls"})], ids=["ldaps", "starttls"]
)
@pytest.mark.parametrize("problem", ["wrong-host", "wrong-ca"])
def test_unverified_certificate_is_refused(
    slapd: Slapd,
    account: Callable[[], Credential],
    wrong_ca: Path,
    scheme: str,
    extra: dict[str, str],
    problem: str,
) -> None:
    """A certificate for another name, or from another CA: ConfigurationError naming the CA
    tag, for apply and verify, and the password is unchanged."""
    current = account()
    host = WRONG_HOST if problem == "wrong-host" else CERT_HOST
    ca = slapd.ca_file if problem == "wrong-host" else wrong_ca
    rotator = LdapRotator(_context(slapd.target(scheme, host), {"tls-ca": str(ca), **extra}))
    candidate = rotator.generate(current)
    with pytest.raises(ConfigurationError) as applied:
        rotator.apply(current, candidate)
    assert applied.value.tag == "rotation-tls-ca"
    with pytest.raises(ConfigurationError) as verified:
        rotator.verify(current)
    assert verified.value.tag == "rotation-tls-ca"
    assert _binds(slapd, current) and not _binds(slapd, candidate)


# ------------------------------------------------------------------ TLS mode (no I/O)


@pytest.mark.parametrize(
    ("target", "options", "mode"),
    [
        ("ldap://127.0.0.1/dc=x", {}, TlsMode.PLAIN),
        ("ldap://localhost:1389/dc=x", {"tls": "disable"}, TlsMode.PLAIN),
        ("ldap://dir.example.net/dc=x", {}, TlsMode.STARTTLS),
        ("ldap://127.0.0.1/dc=x", {"tls": "starttls"}, TlsMode.STARTTLS),
        ("ldap://127.0.0.1/dc=x", {"tls-ca": "system"}, TlsMode.STARTTLS),
        ("ldaps://dir.example.net/dc=x", {}, TlsMode.LDAPS),
    ],
)
def test_tls_mode(target: str, options: dict[str, str], mode: TlsMode) -> None:
    settings = LdapRotator.parse_settings(_context(target, options))
    assert settings.target.mode is mode
    assert (settings.anchor is None) is (mode is TlsMode.PLAIN)


def test_ca_setting_turns_loopback_to_starttls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROTATION_TLS_CA_FILE", "system")
    settings = LdapRotator.parse_settings(_context("ldap://127.0.0.1/dc=x", {}))
    assert settings.target.mode is TlsMode.STARTTLS


@pytest.mark.parametrize(
    ("target", "options", "tag"),
    [
        ("ldap://127.0.0.1/dc=x", {"tls": "disable", "tls-ca": "system"}, "rotation-tls"),
        ("ldaps://127.0.0.1/dc=x", {"tls": "starttls"}, "rotation-tls"),
        ("ldap://127.0.0.1/dc=x", {"tls": "maybe"}, "rotation-tls"),
        ("ldap://dir.example.net/dc=x", {"tls": "disable"}, "rotation-tls"),
        ("ldap://10.0.0.5/dc=x", {"tls": "disable"}, "rotation-tls"),
        ("ldap://127.0.0.1/dc=x", {"ldap-dialect": "active-directory"}, "rotation-tls"),
        ("ldaps://127.0.0.1/dc=x", {"tls-ca": "relative/ca.pem"}, "rotation-tls-ca"),
    ],
)
def test_contradictory_tls_tags_are_refused(target: str, options: dict[str, str], tag: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        _context(target, options)
    assert raised.value.tag == tag
