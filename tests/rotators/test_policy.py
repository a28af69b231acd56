"""rotation/policy.py: generation honours every setting; bad tags are clear errors."""

from __future__ import annotations

import random
import string
import unicodedata

import pytest
from ldap3.protocol.sasl.sasl import sasl_prep

from rotation.errors import ConfigurationError
from rotation.policy import MAX_LENGTH, MIN_LENGTH, POLICY_TAG, PasswordPolicy, never_storable

SAMPLES = 200


def _count(password: str, pool: str) -> int:
    return sum(c in pool for c in password)


@pytest.mark.parametrize("length", [MIN_LENGTH, 17, 32, 100, MAX_LENGTH])
def test_length_is_exact(length: int) -> None:
    policy = PasswordPolicy(length=length)
    assert {len(policy.generate()) for _ in range(20)} == {length}


def test_minimum_counts_are_met_every_time() -> None:
    policy = PasswordPolicy(length=20, lower=3, upper=4, digits=5, symbols=6, symbol_set="!#")
    for _ in range(SAMPLES):
        password = policy.generate()
        assert _count(password, string.ascii_lowercase) >= 3
        assert _count(password, string.ascii_uppercase) >= 4
        assert _count(password, string.digits) >= 5
        assert _count(password, "!#") >= 6
        assert policy.satisfied_by(password)


def test_minimums_that_fill_the_length_exactly() -> None:
    policy = PasswordPolicy(length=16, lower=4, upper=4, digits=4, symbols=4, symbol_set="-")
    for _ in range(50):
        password = policy.generate()
        assert sorted(password).count("-") == 4
        assert _count(password, string.digits) == 4


def test_disabled_class_never_appears() -> None:
    policy = PasswordPolicy(length=64, upper=0, digits=0, symbols=0)
    for _ in range(SAMPLES):
        assert set(policy.generate()) <= set(string.ascii_lowercase)


def test_symbol_set_replaces_the_default_symbols() -> None:
    policy = PasswordPolicy(length=64, lower=0, upper=0, digits=0, symbols=1, symbol_set="@$")
    assert {c for _ in range(20) for c in policy.generate()} == {"@", "$"}


def test_exclude_removes_characters_from_every_class() -> None:
    excluded = "lIO01-"
    policy = PasswordPolicy(length=200, symbols=2, symbol_set="-_", exclude=excluded)
    seen = {c for _ in range(50) for c in policy.generate()}
    assert not seen & set(excluded)
    assert "_" in seen  # the remaining symbol is still used


def test_passwords_are_random() -> None:
    policy = PasswordPolicy()
    assert len({policy.generate() for _ in range(SAMPLES)}) == SAMPLES


def test_every_enabled_character_eventually_appears() -> None:
    policy = PasswordPolicy(length=64, symbols=1)
    seen = {c for _ in range(300) for c in policy.generate()}
    expected = set(string.ascii_letters + string.digits + policy.symbol_set)
    assert seen == expected


def test_satisfied_by_rejects_what_breaks_the_policy() -> None:
    policy = PasswordPolicy(length=16, lower=1, upper=1, digits=1, symbols=0)
    assert policy.satisfied_by("aB3" + "a" * 13)
    assert not policy.satisfied_by("aB3" + "a" * 12)  # too short
    assert not policy.satisfied_by("ab3" + "a" * 13)  # no upper case
    assert not policy.satisfied_by("aB3!" + "a" * 12)  # a symbol though symbols are off


def test_tag_overrides_field_by_field() -> None:
    base = PasswordPolicy(length=40, symbols=2, symbol_set="!#")
    policy = base.overridden_by(" length=24 ; digits=3;exclude=0O;symbol-set=-_ ")
    assert policy == PasswordPolicy(
        length=24, lower=1, upper=1, digits=3, symbols=2, symbol_set="-_", exclude="0O"
    )
    assert base.overridden_by("") == base


@pytest.mark.parametrize(
    ("tag", "fragment"),
    [
        ("size=20", "unknown policy setting 'size'"),
        ("length", "unknown policy setting 'length'"),
        ("length=twenty", "'length' must be a whole number"),
        ("digits=-1", "'digits' cannot be negative"),
        ("length=\u0664\u0660", "'length' must be a whole number"),
        ("digits=+2", "'digits' must be a whole number"),
        ("digits=1_0", "'digits' must be a whole number"),
        ("length=8", "between 16 and 1024"),
        ("length=5000", "between 16 and 1024"),
        ("lower=0;upper=0;digits=0;symbols=0", "every character class is disabled"),
        ("digits=1;exclude=0123456789", "removes every character"),
        ("length=16;lower=10;upper=10", "add up to more than the length"),
    ],
)
def test_bad_tags_are_configuration_errors_naming_the_tag(tag: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        PasswordPolicy().overridden_by(tag, secret="db-secret")
    message = str(raised.value)
    assert fragment in message
    assert raised.value.tag == POLICY_TAG and POLICY_TAG in message
    assert raised.value.secret == "db-secret" and "db-secret" in message
    assert not raised.value.retryable


@pytest.mark.parametrize(
    "policy",
    [
        PasswordPolicy(length=8),
        PasswordPolicy(lower=0, upper=0, digits=0, symbols=0),
        PasswordPolicy(symbols=1, symbol_set=""),
        PasswordPolicy(length=16, lower=17),
    ],
)
def test_impossible_policies_cannot_generate(policy: PasswordPolicy) -> None:
    with pytest.raises(ConfigurationError):
        policy.generate()


def _every_code_point_allowed_in_a_symbol_set() -> list[str]:
    return [chr(c) for c in range(0x20, 0x30000) if not never_storable(chr(c))]


def test_every_allowed_character_is_its_own_saslprep_and_nfkc_form() -> None:
    """What ldap3 and PostgreSQL's SCRAM send for a password (SASLprep) and what libldap and
    most drivers send (the raw UTF-8) are the same bytes for every password the policy can
    generate: each allowed character is stable beside ASCII letters and beside each other."""
    allowed = _every_code_point_allowed_in_a_symbol_set()
    assert "é" in allowed and "漢" in allowed and " " in allowed
    unstable = []
    for char in allowed:
        text = f"a{char}Z{char}"
        try:
            prepared = sasl_prep(text)
        except Exception:  # a prohibited character: record it
            prepared = None
        if prepared != text or unicodedata.normalize("NFKC", text) != text:
            unstable.append(f"U+{ord(char):04X}")
    assert unstable == []


def test_no_two_allowed_characters_compose() -> None:
    """A random sample of pairs (and the Hangul jamo that compose algorithmically)."""
    allowed = [c for c in _every_code_point_allowed_in_a_symbol_set() if not c.isascii()]
    rng = random.Random(1234)
    pairs = [rng.choice(allowed) + rng.choice(allowed) for _ in range(50_000)]
    pairs += ["\u1100" + c for c in allowed if "\u1100" <= c <= "\u11ff"]
    composed = [p for p in pairs if unicodedata.normalize("NFKC", p) != p]
    assert composed == []


@pytest.mark.parametrize(
    "symbol", ["²", "\uff21", "①", "\u0301", "\u034f", "\ufe0f", "\u1806", "א", "\u1161", "ﬁ"]
)
def test_a_symbol_set_that_normalization_would_change_is_refused(symbol: str) -> None:
    with pytest.raises(ConfigurationError, match="normalization") as raised:
        PasswordPolicy().overridden_by(f"symbols=2;symbol-set=-{symbol}", secret="s")
    assert f"U+{ord(symbol):04X}" in str(raised.value)
