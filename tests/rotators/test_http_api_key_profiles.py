"""Profiles of the http-api-key rotator: validation on load, the loader, and a user profile
that sends the key in the query string (against the emulated Datadog over plain local HTTP)."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from emulators.datadog import DatadogEmulator
from emulators.faults import FaultInjector
from emulators.proxy import PlainListener
from rotation.credential import Credential
from rotation.errors import ConfigurationError, TargetUnavailable, VerificationFailed
from rotation.policy import PasswordPolicy
from rotation.rotator import RotatorContext, Strategy
from rotation.testing import free_port
from rotators.http_api_key import (
    PROFILES_DIR_SETTING,
    ProfileError,
    builtin_profile_names,
    load_profile,
    parse_profile,
)
from rotators.http_api_key.client import DELAY_HEADERS, MAX_BODY_BYTES
from rotators.http_api_key.rotator import HttpApiKeyRotator
from tests.support.answer_server import AnswerServer

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "rotators" / "http_api_key" / "profiles"


def datadog_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((BUILTIN_DIR / "datadog.json").read_text())
    return data


def mutated(change: str, value: Any) -> dict[str, Any]:
    """The Datadog profile with the dotted field ``change`` set to ``value`` (``...``: removed)."""
    data = copy.deepcopy(datadog_json())
    *parents, last = change.split(".")
    node = data
    for part in parents:
        node = node[part]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return data


def test_builtin_profiles_load() -> None:
    assert "datadog" in builtin_profile_names()
    for name in builtin_profile_names():
        profile = load_profile(name, profiles_dir=None)
        assert profile.name == name
        assert profile.base_url.startswith("https://")
        assert profile.source == "builtin"


def test_datadog_profile_matches_the_documented_api() -> None:
    profile = load_profile("datadog")
    assert profile.base_url == "https://api.datadoghq.com"
    assert profile.create.request.method == "POST"
    assert profile.create.request.path == "/api/v2/api_keys"
    assert profile.create.request.body == {
        "data": {"type": "api_keys", "attributes": {"name": "{key_name}"}}
    }
    assert (profile.create.key_path, profile.create.id_path) == ("data.attributes.key", "data.id")
    assert profile.revoke.request.path == "/api/v2/api_keys/{key_id}"
    assert profile.verify.request.path == "/api/v1/validate"
    assert profile.verify.expect_json == {"valid": True}
    assert set(profile.management_headers) >= {"DD-API-KEY", "DD-APPLICATION-KEY"}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", ..., "'name' is required"),
        ("name", "bad name!", "'name' may use only"),
        ("base_url", "http://api.example.com", "must use https"),
        ("base_url", "ftp://api.example.com", "absolute https:// URL"),
        ("base_url", "https://user:pw@api.example.com", "no query, fragment or user info"),
        ("crate", {}, "unknown field 'crate'"),
        ("create.key_path", ..., "'create.key_path' is required"),
        ("create.key_path", "data..key", "not a dotted JSON path"),
        ("create.method", "FETCH", "'create.method' must be one of"),
        ("create.path", "api/v2/api_keys", "must start with '/'"),
        ("create.body", {"name": "{key}"}, "placeholder '{key}' is not available in 'create'"),
        ("create.store", {"password": "data.attributes.key"}, "'create.store.password'"),
        ("create.colour", "red", "unknown field 'create.colour'"),
        ("verify", ..., "'verify' is required"),
        ("verify.headers", {"DD-API-KEY": "static"}, "must send the key under test"),
        ("verify.headers", {"X": 5}, "'verify.headers.X' must be a string"),
        ("verify.body", {"k": "{key}"}, "not allowed on a GET request"),
        ("revoke.path", "/api/v2/api_keys", "must name the key to revoke"),
        ("revoke.gone_statuses", [200], "must list 4xx status codes"),
        ("find.query", {"filter": "{admin.password}"}, "not available in 'find'"),
        ("management_headers", {}, "must say how management calls authenticate"),
        ("management_headers", {"X": "{key}"}, "not available in 'management_headers'"),
        ("timeout_seconds", 0, "between 1 and 120"),
        ("timeout_seconds", True, "must be a number"),
        ("create", [], "'create' must be a JSON object"),
    ],
)
def test_invalid_profiles_are_refused_with_the_field_named(
    field: str, value: Any, message: str
) -> None:
    with pytest.raises(ProfileError) as raised:
        parse_profile(mutated(field, value), source="test.json", secret="s1")
    text = str(raised.value)
    assert message in text
    assert "test.json" in text
    assert raised.value.tag == "rotation-profile"
    assert raised.value.secret == "s1"
    assert isinstance(raised.value, ConfigurationError)


def test_plain_http_is_accepted_for_loopback_only() -> None:
    assert parse_profile(mutated("base_url", "http://127.0.0.1:8080")).base_url
    assert parse_profile(mutated("base_url", "http://localhost:8080/")).base_url == (
        "http://localhost:8080"
    )


def test_user_profiles_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROFILES_DIR_SETTING, str(tmp_path))
    custom = mutated("name", "acme")
    (tmp_path / "acme.json").write_text(json.dumps(custom))
    profile = load_profile("acme")
    assert profile.name == "acme"
    assert profile.source == str(tmp_path / "acme.json")
    # A file overrides the built-in of the same name.
    (tmp_path / "datadog.json").write_text(json.dumps(mutated("timeout_seconds", 3)))
    assert load_profile("datadog").timeout_seconds == 3
    (tmp_path / "wrongname.json").write_text(json.dumps(custom))
    with pytest.raises(ProfileError, match="its 'name' is 'acme'"):
        load_profile("wrongname")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ProfileError, match="not valid JSON"):
        load_profile("broken", secret="s2")
    with pytest.raises(ProfileError, match=r"unknown profile 'nope' \(available: .*acme"):
        load_profile("nope")
    with pytest.raises(ProfileError, match="not a profile name"):
        load_profile("../etc/passwd")


# -- a user profile that sends the key in the query string --------------------------------


@pytest.fixture
def local_datadog() -> Iterator[tuple[DatadogEmulator, str]]:
    emulator = DatadogEmulator()
    listener = PlainListener(emulator, FaultInjector())
    try:
        yield emulator, listener.url
    finally:
        listener.stop()


def test_key_in_query_never_reaches_logs_or_errors(
    local_datadog: tuple[DatadogEmulator, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    emulator, url = local_datadog
    profile = mutated("name", "dd-query")
    profile["base_url"] = url
    profile["verify"] = {"path": "/api/v1/validate", "query": {"api_key": "{key}"}}
    (tmp_path / "dd-query.json").write_text(json.dumps(profile))
    monkeypatch.setenv(PROFILES_DIR_SETTING, str(tmp_path))
    api, app = emulator.create_org()
    key, key_id = emulator.add_api_key(api, "initial")
    current = Credential(password=key, extra={"key_id": key_id})
    context = RotatorContext(
        secret_name="query-secret",
        target=None,
        strategy=Strategy.MULTIPLE,
        policy=PasswordPolicy(),
        admin=Credential(password=api, extra={"application_key": app}),
        options={"profile": "dd-query"},
    )
    rotator = HttpApiKeyRotator(context)
    caplog.set_level(logging.DEBUG)
    try:
        minted = rotator.apply(current, rotator.generate(current))
        rotator.verify(minted)
        rotator.retire(current, minted)
        with pytest.raises(VerificationFailed) as refused:
            rotator.verify(current)
    finally:
        rotator.close()
    down = HttpApiKeyRotator(replace(context, target=f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(TargetUnavailable) as unreachable:
        down.verify(minted)
    down.close()
    assert "api_key=" not in caplog.text, "urllib3 logged a query string"
    for value in (key, minted.password, api, app):
        assert value not in caplog.text
        assert value not in str(refused.value)
        assert value not in str(unreachable.value)


def test_retry_delay_reads_seconds_dates_and_rate_limit_reset() -> None:
    from rotation.retry_after import retry_delay

    assert retry_delay({"Retry-After": "3"}) == 3.0
    assert retry_delay({"X-RateLimit-Reset": "7"}, names=DELAY_HEADERS) == 7.0
    assert retry_delay({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0) == 10.0
    assert retry_delay({"Retry-After": "soon"}) is None
    assert retry_delay({"Retry-After": "\u00b2"}) is None  # str.isdigit says yes, float says no
    assert retry_delay({}) is None


@pytest.mark.parametrize("stall", ["drip", "huge", "unknown-charset"])
def test_an_answer_that_drips_or_never_ends_is_bounded(
    answer_server: AnswerServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stall: str
) -> None:
    """The profile's timeout bounds the whole answer, not each byte, and an answer larger
    than 1 MiB is refused without holding it in memory (the server is not done either way)."""
    profile = mutated("name", "dd-stall")
    profile["base_url"] = answer_server.base_url
    profile["timeout_seconds"] = 1
    (tmp_path / "dd-stall.json").write_text(json.dumps(profile))
    monkeypatch.setenv(PROFILES_DIR_SETTING, str(tmp_path))
    if stall == "drip":
        answer_server.answer({"valid": True, "padding": "x" * 400})
        answer_server.drip = 0.05
        expected: type[Exception] = TargetUnavailable
    elif stall == "huge":
        answer_server.answer(b"x" * (MAX_BODY_BYTES * 32), status=400)
        expected = ConfigurationError
    else:  # a charset Python does not know is read as UTF-8, not taken for a bug
        bogus = {"Content-Type": "application/json; charset=x-bogus"}
        answer_server.answer(b'{"valid": false}', status=403, headers=bogus)
        expected = VerificationFailed
    context = RotatorContext(
        secret_name="stall-secret",
        target=None,
        strategy=Strategy.MULTIPLE,
        policy=PasswordPolicy(),
        admin=Credential(password="api-key-admin", extra={"application_key": "app-key"}),
        options={"profile": "dd-stall"},
    )
    rotator = HttpApiKeyRotator(context)
    try:
        with pytest.raises(expected) as raised:
            rotator.verify(Credential(password="the-current-api-key", extra={"key_id": "k1"}))
    finally:
        rotator.close()
    if stall != "unknown-charset":
        assert answer_server.sent < len(answer_server.body)
    assert "the-current-api-key" not in str(raised.value)
