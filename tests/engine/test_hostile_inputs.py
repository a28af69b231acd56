"""Hostile input at every entry (issue 10, finding 6): names, events, queue messages, query
parameters and secret values are validated and refused as permanent errors, never a 5xx,
an unhandled exception or a retry loop. Also both Event Grid schemas through the worker's
binding converter (issue 11). The real path is tests/e2e/test_hostile_input.py."""

from __future__ import annotations

import json
import logging
import typing
from collections.abc import Callable
from typing import Any, cast

import azure.functions as func
import pytest
from azure.functions.eventgrid import EventGridEventInConverter

import function_app
from rotation import tags as T
from rotation.credential import MAX_JSON_DEPTH, Credential
from rotation.engine import RotationEngine
from rotation.errors import (
    ConfigurationError,
    InvalidName,
    LockBusy,
    LockLost,
    MalformedEvent,
    RotationConflict,
    RotationError,
    TargetUnavailable,
    VerificationFailed,
    VerificationPending,
)
from rotation.events import parse_event
from rotation.http_api import handle_request, handle_vault_request
from rotation.lock import InProcessLocks
from rotation.names import secret_name, shown, vault_name, vault_reference, vault_url, version
from rotation.outcome import RotationOutcome, RotationRequest, Status
from rotation.registry import RotatorRegistry
from rotation.service import RotationService
from rotation.settings import AppSettings
from rotation.workqueue import decode_message
from rotators.random_secret import RandomSecretRotator
from tests.engine.fakes import MemoryStore
from tests.support.functions_host import event_grid_input, queue_input
from tests.support.keyvault_event_samples import MS_SAMPLE_CLOUD_EVENT, MS_SAMPLE_EVENT_GRID

VAULT = "https://kv-unit.vault.azure.net"
V32 = "0123456789abcdef0123456789abcdef"


def host_elements(array_text: str) -> list[str]:
    """The host invokes the function once per array element, with that element's JSON."""
    return [json.dumps(element) for element in json.loads(array_text)]


# ---------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["a", "app-db", "A" * 127, "0-9", "-"])
def test_valid_secret_names(name: str) -> None:
    assert secret_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "..", "%2e%2e", "a/b", "a b", "a\x00", "[", "]", "é", "a" * 128, "x" * 10_000, "a.b"],
)
def test_invalid_secret_names_are_invalid_name_with_a_bounded_message(name: str) -> None:
    with pytest.raises(InvalidName) as caught:
        secret_name(name)
    assert isinstance(caught.value, ConfigurationError)
    assert len(str(caught.value)) < 300
    assert "\x00" not in str(caught.value)


@pytest.mark.parametrize("bad", [None, 5, b"db", ["db"], {"db": 1}])
def test_names_of_another_type_are_refused(bad: object) -> None:
    for check in (secret_name, vault_name, version, vault_url, vault_reference):
        with pytest.raises(InvalidName):
            check(bad)


@pytest.mark.parametrize("name", ["kv-a", "abc", "A" + "b" * 22 + "1", "my-vault-01"])
def test_valid_vault_names(name: str) -> None:
    assert vault_name(name) == name.lower()


@pytest.mark.parametrize(
    "name", ["ab", "a" * 25, "1abc", "abc-", "a--b", "a_b", "a.b", "[", "kv\x00a", "ké-a"]
)
def test_invalid_vault_names(name: str) -> None:
    with pytest.raises(InvalidName):
        vault_name(name)


@pytest.mark.parametrize("value", [V32, V32.upper(), "v1", "a" * 64])
def test_valid_versions(value: str) -> None:
    assert version(value) == value


@pytest.mark.parametrize("value", ["", "a" * 65, "../x", "a/b", "a\x00", " a", "v-1", "é"])
def test_invalid_versions(value: str) -> None:
    with pytest.raises(InvalidName):
        version(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://KV-A.vault.azure.net", "https://kv-a.vault.azure.net"),
        ("https://kv-a.vault.azure.net/", "https://kv-a.vault.azure.net"),
        ("HTTPS://kv-a.vault.azure.net:443", "https://kv-a.vault.azure.net"),
        ("https://kv-a.vault.azure.cn", "https://kv-a.vault.azure.cn"),
        ("https://kv-a.vault.usgovcloudapi.net", "https://kv-a.vault.usgovcloudapi.net"),
    ],
)
def test_valid_vault_urls(value: str, expected: str) -> None:
    assert vault_url(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "http://kv-a.vault.azure.net",
        "ftp://kv-a.vault.azure.net",
        "https://kv-a.vault.azure.net:444",
        "https://kv-a.vault.azure.net:x",
        "https://kv-a.vault.azure.net:",
        "https://user:pw@kv-a.vault.azure.net",
        "https://[::1]",
        "https://[",
        "https://kv-a].vault.azure.net",
        "https://kv-a.vault.azure.net.",
        "https://kv-a.vault.azure.net.evil.com",
        "https://evil.com",
        "https://kv-a.vault.azure.net/secrets",
        "https://kv-a.vault.azure.net?x=1",
        "https://kv-a.vault.azure.net#x",
        "https://..vault.azure.net",
        "https://kv-a.vault.azure.net\x00",
        "https://kv-a.vault.azure.net\n",
        "https://" + "a" * 10_000 + ".vault.azure.net",
        "https://ké.vault.azure.net",
        "",
    ],
)
def test_invalid_vault_urls_never_raise_value_error(value: str) -> None:
    with pytest.raises(InvalidName):
        vault_url(value)


def test_shown_is_bounded_and_escapes_control_characters() -> None:
    text = shown("a\x00b\nc\ud800" + "x" * 1000)
    assert "\x00" not in text and "\n" not in text and "\ud800" not in text
    assert "\\x00" in text and "\\ud800" in text and "(1006 chars)" in text
    assert len(text) < 120


def test_allowed_vault_never_raises() -> None:
    settings = AppSettings.from_env({"ROTATION_VAULTS": VAULT, "AZURE_CLIENT_ID": "id"})
    for value in ["[", "]", "https://[", "..", "\x00", "x" * 10_000, "ftp://kv-unit", None, 3]:
        assert settings.allowed_vault(value) is None
    assert settings.allowed_vault("KV-UNIT") == VAULT
    assert settings.allowed_vault("kv-unit.vault.azure.net") == VAULT
    assert settings.allowed_vault(VAULT + "/") == VAULT
    assert settings.allowed_vault("https://kv-unit.vault.azure.cn") is None


def test_settings_refuse_vault_urls_that_are_not_key_vault() -> None:
    for value in ["https://evil.com", "https://kv-a.vault.azure.net:8443", "https://[::1]"]:
        with pytest.raises(ConfigurationError, match="ROTATION_VAULTS"):
            AppSettings.from_env({"ROTATION_VAULTS": value})


# ---------------------------------------------------------------------------- events


def kv_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "Id": f"{VAULT}/secrets/app-db/{V32}",
        "VaultName": "kv-unit",
        "ObjectType": "Secret",
        "ObjectName": "app-db",
        "Version": V32,
        "NBF": None,
        "EXP": 1_800_000_000,
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not ...}


def eg_event(data: object, event_type: str = "Microsoft.KeyVault.SecretNearExpiry") -> str:
    return json.dumps(
        {
            "id": "e1",
            "topic": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv",
            "subject": "app-db",
            "eventType": event_type,
            "eventTime": "2026-11-23T12:00:00.1234567Z",
            "data": data,
            "dataVersion": "1",
            "metadataVersion": "1",
        }
    )


def cloud_event(data: object, event_type: str = "Microsoft.KeyVault.SecretNearExpiry") -> str:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": "e2",
            "source": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv",
            "subject": "app-db",
            "type": event_type,
            "time": "2026-11-23T12:00:00.1234567Z",
            "data": data,
        }
    )


@pytest.mark.parametrize("make", [eg_event, cloud_event], ids=["event-grid", "cloudevents"])
def test_both_schemas_through_the_binding_converter(make: Callable[[object], str]) -> None:
    trigger_input = event_grid_input(make(kv_data()))
    expected = func.CloudEvent if make is cloud_event else func.EventGridEvent
    assert isinstance(trigger_input, expected)
    event = parse_event(function_app.event_as_dict(trigger_input))
    assert (event.vault_url, event.secret_name, event.version) == (VAULT, "app-db", V32)
    assert event.asks_for_rotation


def test_the_trigger_annotation_is_one_the_worker_accepts() -> None:
    """The worker checks the annotation with the converter at indexing (a Union fails)."""
    from tests.e2e.conftest import indexed_functions

    fn = indexed_functions()["secret_near_expiry"].get_user_function()
    annotation = typing.get_type_hints(fn)["event"]
    assert EventGridEventInConverter.check_input_type_annotation(annotation)


@pytest.mark.parametrize("sample", [MS_SAMPLE_EVENT_GRID, MS_SAMPLE_CLOUD_EVENT])
def test_microsofts_documented_sample_is_parsed_with_whitespace_trimmed(sample: str) -> None:
    (element,) = host_elements(sample)
    event = parse_event(function_app.event_as_dict(event_grid_input(element)))
    assert event.secret_name == "newsecret"
    assert event.version == "ee059b2bb5bc48398a53b168c6cdcb10"
    assert event.vault_url == "https://sample-kv.vault.azure.net"
    assert not event.asks_for_rotation  # SecretNewVersionCreated


def test_the_sample_as_a_near_expiry_event_asks_for_rotation() -> None:
    """The documented sample (stray spaces kept) with the near-expiry event type."""
    (element,) = host_elements(
        MS_SAMPLE_EVENT_GRID.replace("SecretNewVersionCreated", "SecretNearExpiry")
    )
    event = parse_event(function_app.event_as_dict(event_grid_input(element)))
    assert event.asks_for_rotation and event.version == "ee059b2bb5bc48398a53b168c6cdcb10"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (kv_data(Id="https://[kv-unit.vault.azure.net/secrets/x/y"), "Key Vault URL"),
        (kv_data(Id="https://kv-unit.vault.azure.net]/x"), "Key Vault URL"),
        (kv_data(Id="http://kv-unit.vault.azure.net/secrets/app-db/v"), "https"),
        (kv_data(Id="https://evil.example/secrets/app-db/v"), "host"),
        (kv_data(Id=f"https://other-kv.vault.azure.net/secrets/app-db/{V32}"), "VaultName"),
        (kv_data(ObjectName=".."), "ObjectName"),
        (kv_data(ObjectName="a/b"), "ObjectName"),
        (kv_data(ObjectName="x" * 10_000), "too long"),
        (kv_data(ObjectName=5), "string"),
        (kv_data(Version="../../x"), "Version"),
        (kv_data(Version="a\x00b"), "Version"),
        (kv_data(VaultName="["), "Key Vault name"),
        (kv_data(Id=..., VaultName="a--b"), "Key Vault name"),
        (kv_data(ObjectName=...), "ObjectName"),
        ({**kv_data(), "objectname": "other"}, "conflicting"),
        ([kv_data()], "data object"),
        ("text", "data object"),
        (None, "data object"),
    ],
)
def test_malformed_event_data_is_refused_with_the_reason(data: object, reason: str) -> None:
    for make in (eg_event, cloud_event):
        trigger_input = event_grid_input(make(data))
        with pytest.raises(MalformedEvent, match=reason):
            parse_event(function_app.event_as_dict(trigger_input))


@pytest.mark.parametrize(
    "event",
    [[], "x", 5, None, {}, {"eventType": 5, "data": {}}, {"type": ["x"]}, {1: 2}],
)
def test_parse_event_refuses_anything_with_malformed_event_only(event: object) -> None:
    with pytest.raises(MalformedEvent):
        parse_event(event)


def test_event_as_dict_of_something_else_is_refused_by_parse_event() -> None:
    with pytest.raises(MalformedEvent):
        parse_event(function_app.event_as_dict(object()))


# ---------------------------------------------------------------------------- queue


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        b"\xff\xfe",
        "[" * 100_000,
        "[]",
        "null",
        json.dumps({"vault_url": "ftp://kv-unit.vault.azure.net", "secret_name": "db"}),
        json.dumps({"vault_url": "http://kv-unit.vault.azure.net", "secret_name": "db"}),
        json.dumps({"vault_url": "https://[", "secret_name": "db"}),
        json.dumps({"vault_url": VAULT, "secret_name": ".."}),
        json.dumps({"vault_url": VAULT, "secret_name": "db", "version": "../x"}),
        json.dumps({"vault_url": VAULT, "secret_name": "db" * 5000}),
        json.dumps({"vault_url": VAULT, "secret_name": ["db"]}),
    ],
)
def test_malformed_queue_messages_are_configuration_errors(body: str | bytes) -> None:
    with pytest.raises(ConfigurationError):
        decode_message(body)


# ---------------------------------------------------------------------------- credentials


def deep_json(depth: int) -> str:
    return '{"password": "p", "x": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (deep_json(4000), "nested"),
        (deep_json(MAX_JSON_DEPTH + 1), "nested"),
        ('{"password": "p\\ud800"}', "Unicode"),
        ('{"username": "\\udfff", "password": "p"}', "Unicode"),
        ('{"password": "p", "note": "\\ud800"}', "Unicode"),
        ('{"password": "p", "\\ud800": 1}', "Unicode"),
        ('{"username": "app", "password": "pa\\u0000ss"}', "control"),
        ('{"username": "ap\\u0000p", "password": "pass"}', "control"),
        ('{"username": "app\\n", "password": "pass"}', "control"),
        (json.dumps({"username": "u" * 20_000, "password": "p"}), "longer"),
        (json.dumps({"username": "app", "password": "p" * 5000}), "longer"),
        (json.dumps({"password": "p", "blob": "x" * 30_000}), "larger"),
        ('{"password": "p", "n": ' + "1" * 5000 + "}", "not JSON"),
    ],
)
def test_hostile_json_values_are_configuration_errors_naming_the_secret(
    value: str, reason: str
) -> None:
    with pytest.raises(ConfigurationError, match=reason) as caught:
        Credential.from_value(value, json_format=True, secret="app-db")
    message = str(caught.value)
    assert "app-db" in message
    assert "pa\x00ss" not in message and "u" * 50 not in message


@pytest.mark.parametrize("value", ["p\x00", "p\ud800", "x" * 5000, "a\tb"])
def test_hostile_bare_values_are_configuration_errors(value: str) -> None:
    with pytest.raises(ConfigurationError, match="app-db"):
        Credential.from_value(value, json_format=False, secret="app-db")


def test_valid_values_still_parse() -> None:
    cred = Credential.from_value(
        json.dumps({"username": "app", "password": "p w!ü€", "key_id": "k", "meta": {"a": [1]}}),
        json_format=True,
        secret="app-db",
    )
    assert (cred.username, cred.password) == ("app", "p w!ü€")
    assert cred.extra == {"key_id": "k", "meta": {"a": [1]}}
    assert Credential.from_value("bare-secret", json_format=False).password == "bare-secret"
    assert Credential.from_value('{"password": ""}', json_format=True).password == ""
    assert Credential.from_value(deep_json(MAX_JSON_DEPTH - 2), json_format=True).password == "p"


# ---------------------------------------------------------------------------- service


class StubEngine:
    """An engine whose run() raises (or returns) what the test says, counting calls."""

    def __init__(self, result: BaseException | None = None) -> None:
        self.result = result
        self.requests: list[RotationRequest] = []

    def run(self, request: RotationRequest) -> RotationOutcome:
        self.requests.append(request)
        if self.result is not None:
            raise self.result
        return RotationOutcome(
            status=Status.NOT_DUE,
            vault_url=request.vault_url,
            secret_name=request.secret_name,
            trigger=request.trigger,
        )

    def is_due(self, expires_on: object) -> bool:
        return True


def make_service(engine: StubEngine, store: MemoryStore | None = None) -> RotationService:
    store = store or MemoryStore(VAULT)
    return RotationService(
        settings=AppSettings.from_env({"ROTATION_VAULTS": VAULT, "AZURE_CLIENT_ID": "id"}),
        engine=cast(RotationEngine, engine),
        stores=lambda url: store,
        registry=RotatorRegistry(),
    )


@pytest.mark.parametrize(
    "error",
    [
        ConfigurationError("bad tag"),
        VerificationFailed("refused"),
        RotationConflict("operator"),
        UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
        RecursionError("deep"),
        ValueError("Invalid IPv6 URL"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_permanent_failures_are_acknowledged_with_an_error_log(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    service = make_service(StubEngine(error))
    caplog.set_level(logging.INFO)
    assert service.on_event(json.loads(eg_event(kv_data()))) is None
    body = json.dumps({"vault_url": VAULT, "secret_name": "app-db", "version": V32})
    assert service.on_work_message(body) is None
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2
    assert all("\ud800" not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "error",
    [TargetUnavailable("down"), LockLost("lapsed"), VerificationPending("later")],
    ids=lambda e: type(e).__name__,
)
def test_retryable_failures_raise_for_redelivery(error: RotationError) -> None:
    service = make_service(StubEngine(error))
    with pytest.raises(type(error)):
        service.on_event(json.loads(eg_event(kv_data())))
    with pytest.raises(type(error)):
        service.on_work_message(json.dumps({"vault_url": VAULT, "secret_name": "app-db"}))


def test_a_busy_lock_is_done_for_events_and_retried_for_the_queue() -> None:
    service = make_service(StubEngine(LockBusy("busy")))
    assert service.on_event(json.loads(eg_event(kv_data()))) is None
    with pytest.raises(LockBusy):
        service.on_work_message(json.dumps({"vault_url": VAULT, "secret_name": "app-db"}))


def test_an_unexpected_bug_is_logged_with_an_incident_and_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    service = make_service(StubEngine(AttributeError("secret-ish detail")))
    with pytest.raises(AttributeError):
        service.on_event(json.loads(eg_event(kv_data())))
    (record,) = [r for r in caplog.records if "incident" in r.getMessage()]
    assert "AttributeError" in record.getMessage()
    assert "secret-ish detail" not in record.getMessage()


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe not utf-8",
        b"x" * 100_000,
        json.dumps({"vault_url": "ftp://kv-unit.vault.azure.net", "secret_name": "db"}),
        json.dumps({"vault_url": "https://kv-other.vault.azure.net", "secret_name": "db"}),
        json.dumps({"vault_url": VAULT, "secret_name": ".."}),
    ],
)
def test_bad_work_messages_are_dropped_before_the_engine(
    body: str | bytes, caplog: pytest.LogCaptureFixture
) -> None:
    engine = StubEngine()
    service = make_service(engine)
    assert service.on_work_message(queue_input(body).get_body()) is None
    assert engine.requests == []
    assert any(r.levelno == logging.ERROR and "dropped" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "data",
    [
        kv_data(Id="https://[x"),
        kv_data(ObjectName=".."),
        kv_data(Id=f"https://kv-other.vault.azure.net/secrets/app-db/{V32}", VaultName="kv-other"),
    ],
)
def test_bad_events_are_acknowledged_before_the_engine(
    data: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    engine = StubEngine()
    service = make_service(engine)
    assert service.on_event(function_app.event_as_dict(event_grid_input(eg_event(data)))) is None
    assert engine.requests == []
    assert any(r.levelno == logging.ERROR and "dropped" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------------- HTTP


@pytest.mark.parametrize(
    ("vault", "name", "params", "status"),
    [
        ("[", "app-db", {}, 404),
        ("kv-unit]", "app-db", {}, 404),
        ("https://[", "app-db", {}, 404),
        ("kv-other", "app-db", {}, 404),
        ("kv-unit", "..", {}, 400),
        ("kv-unit", "%2e%2e", {}, 400),
        ("kv-unit", "a\x00", {}, 400),
        ("kv-unit", "x" * 10_000, {}, 400),
        ("kv-unit", "", {}, 400),
        ("kv-unit", "app-db", {"version": "../x"}, 400),
        ("kv-unit", "app-db", {"version": "\x00"}, 400),
        ("kv-unit", "app-db", {"dry_run": "maybe"}, 400),
        ("kv-unit", "app-db", {"dry_run": "ture"}, 400),
        ("kv-unit", "app-db", {"dry-run": "true"}, 400),
        ("kv-unit", "app-db", {"DRY_RUN": "true"}, 400),
        ("kv-unit", "app-db", {"dryRun": "true"}, 400),
        ("kv-unit", "app-db", {"dry_run": "true", "x\u2028": "1"}, 400),
    ],
)
def test_malformed_http_input_is_4xx_before_the_engine(
    vault: str, name: str, params: dict[str, str], status: int
) -> None:
    engine = StubEngine()
    service = make_service(engine)
    for method in ("POST",) if params else ("GET", "POST"):  # GET ignores POST's parameters
        reply = handle_request(service, method, vault, name, params)
        assert reply.status == status, (method, reply.body)
        assert len(json.dumps(reply.body)) < 1000
    assert engine.requests == []


@pytest.mark.parametrize(
    ("error", "status", "retry_after"),
    [
        (LockBusy("busy"), 409, True),
        (LockLost("lapsed"), 409, True),
        (RotationConflict("operator"), 409, False),
        (VerificationFailed("refused"), 409, False),
        (VerificationPending("later"), 503, True),
        (TargetUnavailable("down"), 503, True),
        (ConfigurationError("bad tag"), 400, False),
        (type("OtherRetryable", (RotationError,), {"retryable": True})("x"), 503, True),
        (RotationError("other"), 409, False),
        (KeyError("bug"), 500, False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_http_statuses(error: Exception, status: int, retry_after: bool) -> None:
    reply = handle_request(make_service(StubEngine(error)), "POST", "kv-unit", "app-db", {})
    assert reply.status == status
    assert ("Retry-After" in reply.headers) is retry_after


@pytest.mark.parametrize(
    "hostile",
    [
        {T.WINDOW: "x\ud800"},
        {T.STATE: "x\ud800"},
        {T.ROTATOR: "x\ud800"},
        {T.CONSUMERS_SEEN: "app=new@\u00b2"},
        {T.CONSUMERS_SEEN: "app=new@1!99999999999999999999"},
        {T.CONSUMERS_SEEN: "app=a,b=c@\u00b2,,=x,\ud800=new"},
        {T.ROTATED_AT: "9999-12-31T23:59:59+00:00", T.CONSUMERS_SEEN: "app=new@5!7"},
    ],
    ids=lambda tags: ",".join(f"{k}={v!a}" for k, v in tags.items()),
)
def test_hostile_tags_never_break_the_status_answers(hostile: dict[str, str]) -> None:
    """Tags are editable by anyone who may edit the secret: every status view still answers
    200, and the page still encodes (a lone surrogate once escaped the handler as a 500)."""
    store = MemoryStore(VAULT)
    tags = {T.ROTATOR: "random", T.STATE: "committed", T.ROTATED_AT: "2026-11-01T00:00:00Z"}
    store.put_login("s1", "u", "pw", tags={**tags, **hostile})
    registry = RotatorRegistry()
    registry.register(RandomSecretRotator)
    service = RotationService(
        settings=AppSettings.from_env({"ROTATION_VAULTS": VAULT, "AZURE_CLIENT_ID": "id"}),
        engine=RotationEngine(lambda url: store, registry, InProcessLocks()),
        stores=lambda url: store,
        registry=registry,
    )
    assert handle_request(service, "GET", "kv-unit", "s1", {}).status == 200
    for form in ("json", "html"):
        reply = handle_vault_request(service, "GET", "kv-unit", {"format": form})
        assert reply.status == 200, reply.body
        response = function_app.http_response(reply)
        assert response.status_code == 200 and response.get_body()


def test_dry_run_words() -> None:
    engine = StubEngine()
    service = make_service(engine)
    for word, expected in [("true", True), ("YES", True), ("1", True), ("false", False)]:
        assert handle_request(service, "POST", "kv-unit", "app-db", {"dry_run": word}).status == 200
        assert engine.requests[-1].dry_run is expected
    handle_request(service, "POST", "kv-unit", "app-db", {"version": V32})
    assert engine.requests[-1].expected_version == V32
    # The host hands the function key over with the other parameters.
    for key in ("code", "Code"):
        reply = handle_request(service, "POST", "kv-unit", "app-db", {"dry_run": "1", key: "k"})
        assert reply.status == 200 and engine.requests[-1].dry_run


def test_other_keyvault_event_types_are_ignored_quietly(caplog: pytest.LogCaptureFixture) -> None:
    """An access policy change has no ObjectName: not worth an error line."""
    caplog.set_level(logging.INFO)
    service = make_service(StubEngine())
    policy_change = eg_event(
        {"VaultName": "kv-unit"}, "Microsoft.KeyVault.VaultAccessPolicyChanged"
    )
    assert service.on_event(function_app.event_as_dict(event_grid_input(policy_change))) is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("ignored" in r.getMessage() for r in caplog.records)
    assert service.on_event(json.loads(eg_event({"VaultName": "kv-unit"}))) is None  # near expiry
    assert [r for r in caplog.records if r.levelno >= logging.ERROR]
