"""Unit tests of the ``ldap`` rotator where no local server behaves that way: Active
Directory's ``unicodePwd`` semantics (a fake directory that keeps AD's rules: quoted UTF-16LE
values, a self change must delete the current value in the same modify that adds the new
one, an admin replaces), and the parsing of targets, DNs and options (no I/O).

Everything OpenLDAP does is tested against slapd in test_ldap.py and test_ldap_tls.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from ldap3 import MODIFY_ADD, MODIFY_DELETE, MODIFY_REPLACE
from ldap3.utils.dn import parse_dn

from rotation.credential import Credential
from rotation.errors import ConfigurationError, RotationConflict, VerificationFailed
from rotation.rotator import RotatorContext, Strategy
from rotators import ldap as ldap_module
from rotators._ldap import (
    LdapEndpoint,
    LoginRefused,
    account_dn,
    parse_ldap_url,
    unicode_pwd,
)
from rotators.ldap import LdapRotator
from tests.support.rotator_tests import assert_target_refused, rotator_context

BASE = "ou=svc,dc=corp,dc=example"
TARGET = f"ldaps://dc1.corp.example/{BASE}"
ADMIN_DN = "cn=rotator,ou=admins,dc=corp,dc=example"
AD = {"ldap-dialect": "active-directory", "tls-ca": "system"}
CONSTRAINT_VIOLATION = 19
#: What a domain controller says when the password policy refuses a new password.
POLICY_DIAGNOSTIC = (
    "0000052D: Constraint violation - check_password_restrictions: the password does not "
    "meet the complexity requirements"
)


def _decode(value: bytes) -> str:
    """AD's reading of a unicodePwd value; anything but a quoted UTF-16LE string fails."""
    text = value.decode("utf-16-le")
    assert text.startswith('"') and text.endswith('"') and len(text) >= 2
    return text[1:-1]


class FakeAd:
    """Accounts and passwords, with AD's rules for binds and unicodePwd modifies."""

    def __init__(self) -> None:
        self.passwords: dict[str, str] = {}
        self.modifies: list[tuple[str, str, dict[str, Any]]] = []
        #: Passwords the domain's policy refuses (constraintViolation).
        self.too_weak: set[str] = set()

    def connect(
        self, endpoint: LdapEndpoint, tls: object, dn: str, password: str, *, starttls: bool
    ) -> FakeConnection:
        assert tls is not None, "AD is only ever reached over TLS"
        if self.passwords.get(dn) != password:
            raise LoginRefused("invalidCredentials")
        return FakeConnection(self, dn)


class FakeConnection:
    """A bound connection: ``modify`` only (AD has no RFC 3062 password modify)."""

    def __init__(self, directory: FakeAd, bound: str) -> None:
        self.directory, self.bound = directory, bound
        self.result: dict[str, Any] = {}

    def modify(self, dn: str, changes: dict[str, Any]) -> bool:
        self.directory.modifies.append((self.bound, dn, changes))
        ops = changes["unicodePwd"]
        kinds = [kind for kind, _ in ops]
        values = [_decode(v) for _, (v,) in ops]
        if kinds == [MODIFY_DELETE, MODIFY_ADD] and self.bound == dn:
            if values[0] != self.directory.passwords[dn]:
                return self._refuse(CONSTRAINT_VIOLATION, "constraintViolation")
            new = values[1]
        elif kinds == [MODIFY_REPLACE] and self.bound == ADMIN_DN:
            new = values[0]
        else:
            return self._refuse(53, "unwillingToPerform")
        if new in self.directory.too_weak:
            return self._refuse(CONSTRAINT_VIOLATION, "constraintViolation", POLICY_DIAGNOSTIC)
        self.directory.passwords[dn] = new
        return True

    def _refuse(self, code: int, description: str, message: str = "") -> bool:
        self.result = {"result": code, "description": description, "message": message}
        return False

    def unbind(self) -> None:
        pass


@pytest.fixture
def ad(monkeypatch: pytest.MonkeyPatch) -> FakeAd:
    directory = FakeAd()
    monkeypatch.setattr(ldap_module, "connect", directory.connect)
    return directory


def _context(
    strategy: Strategy = Strategy.SINGLE,
    *,
    admin: Credential | None = None,
    options: dict[str, str] | None = None,
    target: str = TARGET,
) -> RotatorContext:
    context = rotator_context(
        LdapRotator, "ad-secret", target, strategy=strategy, admin=admin, options=options
    )
    LdapRotator.check_config(context)
    return context


def _account(ad: FakeAd, name: str = "svc-app") -> Credential:
    credential = Credential(password=LdapRotator.default_policy.generate(), username=name)
    ad.passwords[f"cn={name},{BASE}"] = credential.password
    return credential


def test_unicode_pwd_is_quoted_utf16le() -> None:
    assert unicode_pwd("pä$") == '"pä$"'.encode("utf-16-le")
    assert unicode_pwd("x") == b'"\x00x\x00"\x00'


def test_ad_self_change_deletes_old_and_adds_new_in_one_modify(ad: FakeAd) -> None:
    current = _account(ad)
    rotator = LdapRotator(_context(options=AD))
    candidate = rotator.generate(current)
    rotator.apply(current, candidate)
    rotator.verify(candidate)
    dn = f"cn=svc-app,{BASE}"
    assert ad.passwords[dn] == candidate.password
    assert ad.modifies == [
        (
            dn,
            dn,
            {
                "unicodePwd": [
                    (MODIFY_DELETE, [unicode_pwd(current.password)]),
                    (MODIFY_ADD, [unicode_pwd(candidate.password)]),
                ]
            },
        )
    ]
    with pytest.raises(VerificationFailed):
        rotator.verify(current)


def test_ad_retry_after_the_change_succeeds_without_a_second_modify(ad: FakeAd) -> None:
    current = _account(ad)
    rotator = LdapRotator(_context(options=AD))
    candidate = rotator.generate(current)
    rotator.apply(current, candidate)
    assert LdapRotator(_context(options=AD)).apply(current, candidate) == candidate
    assert len(ad.modifies) == 1


def test_ad_stale_current_is_a_conflict(ad: FakeAd) -> None:
    current = _account(ad)
    rotator = LdapRotator(_context(options=AD))
    stale = current.with_password("not-" + current.password)
    with pytest.raises(RotationConflict):
        rotator.apply(stale, rotator.generate(stale))
    assert ad.modifies == []


def test_ad_policy_refusal_is_a_configuration_error(ad: FakeAd) -> None:
    current = _account(ad)
    rotator = LdapRotator(_context(options=AD))
    candidate = rotator.generate(current)
    ad.too_weak.add(candidate.password)
    with pytest.raises(ConfigurationError, match="constraintViolation") as raised:
        rotator.apply(current, candidate)
    assert "0000052D" in str(raised.value), "the directory's diagnostic says why"
    assert candidate.password not in str(raised.value)
    assert ad.passwords[f"cn=svc-app,{BASE}"] == current.password


def test_ad_alternating_admin_replaces_the_clone(ad: FakeAd) -> None:
    admin = Credential(password="admin-pw-123", username=ADMIN_DN)
    ad.passwords[ADMIN_DN] = admin.password
    current = _account(ad)
    _account(ad, "svc-app_clone")
    rotator = LdapRotator(_context(Strategy.ALTERNATING, admin=admin, options=AD))
    applied = rotator.apply(current, rotator.generate(current))
    rotator.verify(applied)
    clone = f"cn=svc-app_clone,{BASE}"
    assert ad.modifies == [
        (ADMIN_DN, clone, {"unicodePwd": [(MODIFY_REPLACE, [unicode_pwd(applied.password)])]})
    ]
    assert ad.passwords[f"cn=svc-app,{BASE}"] == current.password


def test_ad_wrong_admin_is_a_configuration_error(ad: FakeAd) -> None:
    ad.passwords[ADMIN_DN] = "the-real-one"
    current = _account(ad)
    _account(ad, "svc-app_clone")
    wrong = Credential(password="not-it", username=ADMIN_DN)
    rotator = LdapRotator(_context(Strategy.ALTERNATING, admin=wrong, options=AD))
    with pytest.raises(ConfigurationError) as raised:
        rotator.apply(current, rotator.generate(current))
    assert raised.value.tag == "rotation-admin-secret"


# ------------------------------------------------------------------ parsing (no I/O)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (TARGET, LdapEndpoint("dc1.corp.example", 636, "ldaps", BASE)),
        ("ldap://dir:1389/dc=x%2Cdc=y", LdapEndpoint("dir", 1389, "ldap", "dc=x,dc=y")),
        ("ldap://[::1]/o=a b", LdapEndpoint("::1", 389, "ldap", "o=a b")),
    ],
)
def test_parse_target_accepts(text: str, expected: LdapEndpoint) -> None:
    assert parse_ldap_url(text, secret="s") == expected


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "http://dir/dc=x",
        "dir.example/dc=x",
        "ldap://user:pw@dir/dc=x",
        "ldap://dir",
        "ldap://dir/",
        "ldap://dir/dc=x?uid?sub?(uid=*)",
        "ldap://dir/dc=x#frag",
        "ldap://dir/not-a-dn",
        "ldap://dir/dc=x%0Acn=y",
        "ldap://dir:99999/dc=x",
    ],
)
def test_parse_target_refuses(text: str | None) -> None:
    assert_target_refused(parse_ldap_url, text)


@pytest.mark.parametrize("name", ["a,cn=admin", "x)(uid=*", '=+<>#;"\\', " lead", "trail "])
def test_account_dn_escapes_the_name_into_one_rdn(name: str) -> None:
    dn = account_dn(name, rdn="uid", base=BASE, secret="s")
    parts = parse_dn(dn, escape=False, strip=False)
    assert len(parts) == 1 + len(parse_dn(BASE))
    assert parts[0][0] == "uid"
    assert dn.endswith("," + BASE)


@pytest.mark.parametrize("name", [None, "", "a\nb", "nul\x00", "x" * 257])
def test_account_dn_refuses(name: str | None) -> None:
    with pytest.raises(ConfigurationError):
        account_dn(name, rdn="uid", base=BASE, secret="s")


@pytest.mark.parametrize(
    ("options", "admin", "strategy", "tag"),
    [
        ({"ldap-dialect": "novell"}, None, Strategy.SINGLE, "rotation-ldap-dialect"),
        ({"ldap-rdn": "uid)(x"}, None, Strategy.SINGLE, "rotation-ldap-rdn"),
        ({}, None, Strategy.ALTERNATING, "rotation-admin-secret"),
        (
            {},
            Credential(password="p", username="not a dn"),
            Strategy.SINGLE,
            "rotation-admin-secret",
        ),
        (
            {},
            Credential(password="p", username=None),
            Strategy.ALTERNATING,
            "rotation-admin-secret",
        ),
        ({"tls-ca": "system", "strategy": "x"}, None, Strategy.MULTIPLE, "rotation-strategy"),
    ],
)
def test_bad_options_are_refused(
    options: dict[str, str], admin: Credential | None, strategy: Strategy, tag: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        _context(strategy, admin=admin, options=options)
    assert raised.value.tag == tag


def test_rdn_defaults_follow_the_dialect() -> None:
    assert LdapRotator.parse_settings(_context(options={"tls-ca": "system"})).target.rdn == "uid"
    assert LdapRotator.parse_settings(_context(options=AD)).target.rdn == "cn"
    custom = {**AD, "ldap-rdn": "sAMAccountName"}
    assert LdapRotator.parse_settings(_context(options=custom)).target.rdn == "sAMAccountName"
