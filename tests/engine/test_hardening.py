"""Unit tests of the engine's defences: redaction, the rotator wrapper, candidate checks,
the admin opt-in and the lock's local deadline (the real paths are in tests/e2e)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import ClassVar
from urllib.parse import quote

import pytest

from rotation import tags as T
from rotation.candidates import check_candidate
from rotation.config import parse_config
from rotation.credential import Credential
from rotation.errors import (
    ConfigurationError,
    LockLost,
    RotatorFailed,
    TargetUnavailable,
    VerificationFailed,
)
from rotation.guarded import GuardedRotator
from rotation.lock import HeldLock, LeaseTiming
from rotation.policy import PasswordPolicy
from rotation.rotator import RotatorContext, Strategy
from rotation.sanitize import REDACTED, redact, sanitize_error
from tests.engine.fakes import FakeRotator

PASSWORD = 'pa  ss\nw"ord/&+%'  # two spaces, a newline, a quote, URL specials


@pytest.mark.parametrize(
    "form",
    [
        PASSWORD,
        quote(PASSWORD, safe=""),
        json.dumps(PASSWORD)[1:-1],
        repr(PASSWORD)[1:-1],
        repr((PASSWORD + "é").encode("utf-8"))[2:-1],
        repr(f'"{PASSWORD}"'.encode("utf-16-le"))[2:-1],
        base64.b64encode(PASSWORD.encode()).decode(),
    ],
    ids=["as-is", "url-encoded", "json-escaped", "repr", "utf-8-bytes", "utf-16le", "base64"],
)
def test_every_form_of_a_secret_is_redacted(form: str) -> None:
    text = f"driver said: login with {form} failed"
    assert form in text
    redacted = redact(text, [PASSWORD])
    assert REDACTED in redacted
    for other in (PASSWORD, quote(PASSWORD, safe=""), json.dumps(PASSWORD)[1:-1]):
        assert other not in redacted


def test_the_key_inside_a_connection_string_is_redacted_alone_too() -> None:
    key = "c2VjcmV0LWFjY291bnQta2V5LXZhbHVlLTAxMjM0NTY3ODk="
    value = f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={key};EndpointSuffix=x"
    redacted = redact(f"HMAC with {key} refused; value {value}", [value])
    assert key not in redacted and key.rstrip("=") not in redacted
    assert "AccountName=acct" not in redacted  # the whole value goes first


def test_sanitize_error_redacts_before_folding_whitespace() -> None:
    message = sanitize_error(ValueError(f"bad password {PASSWORD}"), [PASSWORD])
    assert "pa ss" not in message and "pa  ss" not in message
    assert message == f"ValueError: bad password {REDACTED}"


def test_redaction_survives_a_lone_surrogate() -> None:
    secret = "\udfff" + "b" * 20
    assert redact(f"login with {secret} failed", [secret]) == f"login with {REDACTED} failed"


def test_sanitize_error_bounds_the_message() -> None:
    assert len(sanitize_error(ValueError("x" * 10_000), [])) < 600


class LeakyRotator(FakeRotator):
    """Lets every kind of exception escape, quoting the passwords it was given."""

    kind = "leaky"
    raises: ClassVar[type[BaseException]] = RuntimeError

    def apply(self, current: Credential, candidate: Credential) -> Credential:
        error = self.raises(f"could not set {candidate.password} (admin {self.admin_pw()})")
        raise error

    def admin_pw(self) -> str:
        return self.context.admin.password if self.context.admin else ""


def context(admin: Credential | None = None) -> RotatorContext:
    return RotatorContext(
        secret_name="db",
        target="fake-host",
        strategy=Strategy.SINGLE,
        policy=PasswordPolicy(),
        admin=admin,
    )


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (RuntimeError, RotatorFailed),
        (UnicodeEncodeError, RotatorFailed),
        (RecursionError, RotatorFailed),
        (ConnectionResetError, TargetUnavailable),
        (TimeoutError, TargetUnavailable),
        (VerificationFailed, VerificationFailed),
        (ConfigurationError, ConfigurationError),
    ],
)
def test_the_wrapper_types_and_redacts_whatever_a_rotator_lets_escape(
    raised: type[BaseException], expected: type[BaseException]
) -> None:
    cls = type("Leaky", (LeakyRotator,), {"raises": staticmethod(_maker(raised))})
    admin = Credential(password="admin secret  value", username="root")
    rotator = GuardedRotator.create(cls, context(admin), ["current-pw"])
    candidate = Credential(password="candidate  pw", username="app")
    with pytest.raises(expected) as caught:
        rotator.apply(Credential(password="current-pw", username="app"), candidate)
    text = str(caught.value)
    assert "candidate" not in text.replace("could not set", "")
    assert "admin secret" not in text and "secret  value" not in text
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def _maker(raised: type[BaseException]) -> Callable[[str], BaseException]:
    if raised is UnicodeEncodeError:
        return lambda message: UnicodeEncodeError("utf-8", message, 0, 1, "surrogates")
    return raised


def test_the_wrapper_guards_check_config_too() -> None:
    class Broken(FakeRotator):
        kind = "broken"

        @classmethod
        def check_config(cls, context: RotatorContext) -> None:
            raise ValueError(f"bad target {context.admin.password if context.admin else ''}")

    with pytest.raises(RotatorFailed) as caught:
        GuardedRotator.create(Broken, context(Credential(password="topsecret")), [])
    assert "topsecret" not in str(caught.value)


class PickyRotator(FakeRotator):
    kind = "picky"
    unsafe_password_characters = "#%"
    max_password_length = 40


@pytest.mark.parametrize(
    "password",
    ["abc\x00def", "tab\there", "line\nbreak", "nbsp\u00a0here", "bidi\u202eoverride", "\ud800"],
)
def test_a_candidate_no_target_can_store_is_refused(password: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        check_candidate(Credential(password=password, username="app"), FakeRotator, secret="db")
    assert caught.value.tag == T.PASSWORD_POLICY
    assert password not in str(caught.value)


@pytest.mark.parametrize("username", ["nul\x00user", "new\nline", "bidi\u202e"])
def test_a_user_name_with_control_characters_is_refused(username: str) -> None:
    with pytest.raises(ConfigurationError, match="control characters"):
        check_candidate(Credential(password="fine", username=username), FakeRotator, secret="db")


def test_an_empty_password_is_an_intent_for_a_minting_target() -> None:
    check_candidate(Credential(password="", username="o'brien; drop"), FakeRotator, secret="db")


def test_a_plain_space_is_storable() -> None:
    check_candidate(Credential(password="with space"), FakeRotator, secret="db")


def test_a_candidate_is_checked_against_what_its_rotator_declares() -> None:
    for password in ("has#hash", "x" * 41):
        with pytest.raises(ConfigurationError):
            check_candidate(Credential(password=password), PickyRotator, secret="db")
    check_candidate(Credential(password="fine-password"), PickyRotator, secret="db")


@pytest.mark.parametrize(
    ("policy", "fragment"),
    [
        ("symbol-set=\x00;symbols=3", "control characters or separators"),
        ("symbol-set=ab\u2028c;symbols=1", "control characters or separators"),
        ("symbol-set=#-;symbols=2", "'#'"),
        ("length=64", "exceeds"),
    ],
)
def test_a_policy_tag_the_target_cannot_store_is_a_configuration_error(
    policy: str, fragment: str
) -> None:
    tags = {T.ROTATOR: "picky", T.TARGET: "fake-host", T.PASSWORD_POLICY: policy}
    with pytest.raises(ConfigurationError) as caught:
        parse_config("db", tags, PickyRotator)
    assert caught.value.tag == T.PASSWORD_POLICY
    assert fragment in str(caught.value)


@pytest.mark.parametrize("name", ["orders-db-rotation-staged", "X-ROTATION-STAGED"])
def test_a_companion_name_cannot_be_managed(name: str) -> None:
    with pytest.raises(ConfigurationError, match="staging companion"):
        parse_config(name, {T.ROTATOR: "fake", T.TARGET: "h"}, FakeRotator)


def test_a_held_lock_stops_being_trusted_at_its_local_deadline() -> None:
    now = [100.0]
    held = HeldLock("db", deadline=110.0, clock=lambda: now[0])
    held.ensure()
    now[0] = 109.9
    held.ensure()
    now[0] = 110.0
    with pytest.raises(LockLost, match="deadline"):
        held.ensure()
    # Once lost, a late renewal does not bring it back.
    held.extend(200.0)
    now[0] = 111.0
    with pytest.raises(LockLost):
        held.ensure()


def test_a_renewal_extends_the_deadline_and_a_failed_one_loses_the_lock() -> None:
    now = [0.0]
    held = HeldLock("db", deadline=10.0, clock=lambda: now[0])
    held.extend(30.0)
    held.extend(20.0)  # never backwards
    now[0] = 25.0
    held.ensure()
    held.mark_lost()
    with pytest.raises(LockLost, match="renewed"):
        held.ensure()


@pytest.mark.parametrize("seconds", [15, 30, 60])
def test_lease_timing_keeps_two_renewals_inside_the_trusted_time(seconds: int) -> None:
    timing = LeaseTiming(seconds)
    assert timing.trusted_seconds + timing.margin_seconds == seconds
    assert timing.renew_every_seconds * 2 <= timing.trusted_seconds
    assert timing.margin_seconds > timing.trusted_seconds


@pytest.mark.parametrize("seconds", [0, 14, 61])
def test_lease_timing_refuses_what_azure_storage_refuses(seconds: int) -> None:
    with pytest.raises(ValueError):
        LeaseTiming(seconds)
