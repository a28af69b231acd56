"""Unit tests of consumer definitions, the composite confirmer, the "seen" tag, the HTTP probe
(against a real local HTTP server) and outcome events; plus the engine's use of them with the
in-memory vault. The real path (ARM, Event Grid, Redis, PostgreSQL) is tests/e2e/test_consumers.py.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.messaging import CloudEvent

from rotation import tags as T
from rotation.config import SecretConfig, parse_config
from rotation.consumer_checks.base import CheckEnvironment, CheckRequest, ConsumerCheck
from rotation.consumer_checks.composite import CompositeConfirmer
from rotation.consumer_checks.definitions import (
    ConsumerDefinition,
    load_definitions,
    parse_definitions,
)
from rotation.consumer_checks.http_probe import HttpProbeCheck
from rotation.consumer_checks.loader import build_checks
from rotation.consumer_checks.registry import CheckRegistry, default_check_registry
from rotation.consumers import (
    MAX_TAG_VALUE,
    ConsumerReport,
    RotationFacts,
    Sighting,
    decode_sightings,
    encode_sightings,
    update_sightings,
)
from rotation.credential import Credential
from rotation.engine import EngineSettings, RotationEngine
from rotation.errors import ConfigurationError, DuplicateCheckError, TargetUnavailable
from rotation.lock import InProcessLocks
from rotation.outcome import RotationOutcome, RotationRequest, Status, Trigger
from rotation.outcome_events import OutcomePublisher, build_publisher, to_cloud_event
from rotation.registry import RotatorRegistry
from tests.engine.fakes import NOW, FakeRotator, FakeTarget, MemoryStore
from tests.support.answer_server import AnswerServer

VAULT = "https://unit.vault.azure.net"
NEW = "b" * 32
OLD = "a" * 32
SITE = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Web/sites/orders-web"


def config(*consumers: str, name: str = "app-db") -> SecretConfig:
    tags = {T.ROTATOR: "fake", T.TARGET: "fake-host", T.CONSUMERS: ",".join(consumers)}
    return parse_config(name, tags, FakeRotator)


def facts(*, first_check: bool = False) -> RotationFacts:
    return RotationFacts(VAULT, "app-db", NEW, OLD, NOW, first_check)


class NoTarget:
    """TargetAccess for checks that must not need it."""

    def usernames(self) -> tuple[str | None, str | None]:
        raise AssertionError("not asked for")

    def admin(self) -> Credential | None:
        raise AssertionError("not asked for")


class Scripted(ConsumerCheck):
    """A check answering from a script: a version, or an exception to raise."""

    kind: ClassVar[str] = "scripted"

    def __init__(self, name: str, *answers: str | Exception | None, nudgeable: bool = False):
        super().__init__(ConsumerDefinition(name, self.kind), CheckEnvironment())
        self.answers = list(answers)
        self.nudgeable = nudgeable
        self.nudges = 0
        self.requests: list[CheckRequest] = []

    def observe(self, request: CheckRequest) -> str | None:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def can_nudge(self) -> bool:
        return self.nudgeable

    def nudge(self, request: CheckRequest) -> None:
        self.nudges += 1


class TargetScripted(Scripted):
    kind: ClassVar[str] = "target-scripted"
    needs_target: ClassVar[bool] = True


# ---------------------------------------------------------------------- definitions


def test_definitions_parse_and_build_every_builtin_kind() -> None:
    text = json.dumps(
        {
            "orders-api": {
                "kind": "http-probe",
                "url": "https://orders.example/v",
                "json_path": "a.b",
            },
            "orders-web": {
                "kind": "app-service",
                "resource_id": SITE,
                "setting": "DB",
                "restart": True,
            },
            "orders-db.sessions": {"kind": "postgres-sessions"},
        }
    )
    definitions = parse_definitions(text)
    assert definitions["orders-web"].options["restart"] is True
    checks = build_checks(definitions, CheckEnvironment(credential=object()))  # type: ignore[arg-type]
    assert {n: c.kind for n, c in checks.items()} == {
        "orders-api": "http-probe",
        "orders-web": "app-service",
        "orders-db.sessions": "postgres-sessions",
    }
    assert checks["orders-web"].can_nudge() and not checks["orders-api"].can_nudge()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ('{"bad name": {"kind": "http-probe"}}', "consumer name 'bad name'"),
        ('{"x": "http-probe"}', "consumer 'x' must be a JSON object"),
        ('{"x": {"url": "https://a"}}', "consumer 'x' needs a 'kind'"),
    ],
)
def test_malformed_definitions_are_configuration_errors(text: str, expected: str) -> None:
    with pytest.raises(ConfigurationError, match="ROTATION_CONSUMERS") as raised:
        parse_definitions(text)
    assert expected in str(raised.value)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"kind": "nope"}, "unknown kind 'nope' (known: app-service, http-probe"),
        ({"kind": "http-probe", "url": "ftp://x/"}, "option 'url' of consumer 'c': must be"),
        ({"kind": "http-probe", "url": "https://u:p@x/"}, "must not carry credentials"),
        ({"kind": "http-probe", "url": "https://x/", "header": "H", "json_path": "v"}, "not both"),
        ({"kind": "http-probe", "url": "https://x/", "timeout_seconds": 0}, "between 0.1 and 60"),
        ({"kind": "http-probe", "url": "https://x/", "token": "t"}, "unknown option(s) token"),
        ({"kind": "app-service", "resource_id": "/subscriptions/x", "setting": "S"}, "web app"),
        ({"kind": "app-service", "resource_id": SITE}, "option 'setting' of consumer 'c'"),
        ({"kind": "app-service", "resource_id": SITE, "setting": "S", "restart": "yes"}, "true"),
        ({"kind": "postgres-sessions", "target": "no-database"}, "host:port/database"),
    ],
)
def test_bad_options_are_refused_at_start_up(body: dict[str, Any], expected: str) -> None:
    definitions = parse_definitions(json.dumps({"c": body}))
    with pytest.raises(ConfigurationError) as raised:
        build_checks(definitions, CheckEnvironment(credential=object()))  # type: ignore[arg-type]
    assert expected in str(raised.value)


def test_definitions_come_from_the_setting_or_a_file_not_both(tmp_path: Path) -> None:
    path = tmp_path / "consumers.json"
    path.write_text(json.dumps({"a": {"kind": "postgres-sessions"}}))
    assert list(load_definitions(None, str(path))) == ["a"]
    assert list(load_definitions('{"b": {"kind": "x"}}', None)) == ["b"]
    assert load_definitions(None, None) == {}
    with pytest.raises(ConfigurationError, match="not both"):
        load_definitions("{}", str(path))
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_definitions(None, str(tmp_path / "missing.json"))


def test_the_registry_refuses_a_second_class_for_a_kind() -> None:
    registry = default_check_registry()
    assert registry.kinds() == ["app-service", "http-probe", "postgres-sessions"]
    registry.register(Scripted)
    registry.register(Scripted)  # the same class again is fine

    class Other(Scripted):
        pass

    with pytest.raises(DuplicateCheckError, match="'scripted' is already registered"):
        registry.register(Other)
    with pytest.raises(TypeError):
        CheckRegistry().register(object)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- composite


def test_moved_only_when_every_consumer_reports_the_new_version() -> None:
    a, b = Scripted("a", NEW), Scripted("b", OLD)
    confirmer = CompositeConfirmer({"a": a, "b": b})
    report = confirmer.check(config("a", "b"), facts(), NoTarget())
    assert report == ConsumerReport(moved=False, seen={"a": NEW, "b": OLD}, errors={})
    b.answers = [NEW]
    assert confirmer.check(config("a", "b"), facts(), NoTarget()).moved
    # A consumer that cannot tell is not moved.
    b.answers = [None]
    assert not confirmer.check(config("a", "b"), facts(), NoTarget()).moved


def test_a_failing_check_is_an_error_never_moved(caplog: pytest.LogCaptureFixture) -> None:
    confirmer = CompositeConfirmer(
        {
            "down": Scripted("down", TargetUnavailable("probe answered 503")),
            "broken": Scripted("broken", KeyError("boom-detail")),
            "fine": Scripted("fine", NEW),
        }
    )
    report = confirmer.check(config("down", "broken", "fine"), facts(), NoTarget())
    assert not report.moved
    assert report.seen == {"fine": NEW}
    assert report.errors["down"] == "probe answered 503"
    assert report.errors["broken"] == "unexpected KeyError in the check"
    assert "boom-detail" not in caplog.text
    assert f"consumer 'down' of {VAULT}/app-db could not be checked" in caplog.text


def test_an_undefined_consumer_names_the_secret_the_tag_and_the_consumer() -> None:
    confirmer = CompositeConfirmer({"a": Scripted("a", NEW)})
    with pytest.raises(ConfigurationError) as raised:
        confirmer.check(config("a", "ghost", name="orders-db"), facts(), NoTarget())
    message = str(raised.value)
    assert "secret 'orders-db'" in message and f"tag '{T.CONSUMERS}'" in message
    assert "consumer 'ghost' is not defined in ROTATION_CONSUMERS (defined: a)" in message


def test_too_many_consumers_for_the_tag_budget_are_refused() -> None:
    names = [f"consumer-number-{i:02d}" for i in range(12)]
    confirmer = CompositeConfirmer({n: Scripted(n, NEW) for n in names})
    with pytest.raises(ConfigurationError, match="would not fit"):
        confirmer.validate(config(*names))
    confirmer.validate(config(*names[:5]))


def test_laggards_are_nudged_once_on_the_first_check_only() -> None:
    lagging = Scripted("lag", OLD, NEW, nudgeable=True)
    fine = Scripted("fine", NEW, nudgeable=True)
    plain = Scripted("plain", OLD)
    confirmer = CompositeConfirmer({"lag": lagging, "fine": fine, "plain": plain})
    report = confirmer.check(config("lag", "fine", "plain"), facts(first_check=True), NoTarget())
    assert report.seen == {"lag": NEW, "fine": NEW, "plain": OLD}
    assert (lagging.nudges, fine.nudges, plain.nudges) == (1, 0, 0)
    lagging.answers = [OLD]
    confirmer.check(config("lag"), facts(first_check=False), NoTarget())
    assert lagging.nudges == 1


def test_only_target_side_checks_get_target_access() -> None:
    plain, target_side = Scripted("p", NEW), TargetScripted("t", NEW)
    access = NoTarget()
    CompositeConfirmer({"p": plain, "t": target_side}).check(config("p", "t"), facts(), access)
    assert plain.requests[0].target is None
    assert target_side.requests[0].target is access


def test_no_defined_consumers_confirms_nothing_it_cannot_check() -> None:
    assert CompositeConfirmer({}).check(config(), facts(), NoTarget()).moved
    with pytest.raises(ConfigurationError, match="consumer 'x' is not defined"):
        CompositeConfirmer({}).check(config("x"), facts(), NoTarget())


# ---------------------------------------------------------------------- the seen tag


def test_sightings_round_trip_and_keep_the_last_answer_on_failure() -> None:
    later = NOW + timedelta(minutes=5)
    first = update_sightings(
        {}, ConsumerReport(False, {"a": OLD, "b": NEW, "c": None, "d": "c" * 32}), facts(), NOW
    )
    raw = encode_sightings(first, NOW)
    assert raw == "a=old@0,b=new@0,c=?@0,d=cccccccc@0"
    decoded = decode_sightings(raw, NOW)
    assert decoded == first
    second = update_sightings(decoded, ConsumerReport(False, {}, {"a": "503"}), facts(), later)
    assert second["a"] == Sighting("old", NOW, later)
    assert not second["a"].moved and second["b"].moved
    assert encode_sightings(second, NOW).startswith("a=old@0!300,")
    assert decode_sightings("legacy=" + NEW + ",x=?", NOW)["x"] == Sighting("?")
    assert decode_sightings("legacy=" + NEW, NOW)["legacy"] == Sighting(NEW[:8])


def test_the_encoded_tag_never_exceeds_key_vault_limits() -> None:
    many = {f"consumer-{i:03d}": Sighting("old", NOW) for i in range(40)}
    assert len(encode_sightings(many, NOW)) <= MAX_TAG_VALUE


# ---------------------------------------------------------------------- http-probe


def make_probe(url: str, **options: Any) -> HttpProbeCheck:
    definition = ConsumerDefinition("api", "http-probe", {"url": url, **options})
    return HttpProbeCheck(definition, CheckEnvironment())


def test_http_probe_reads_the_version_from_json_or_a_header(answer_server: AnswerServer) -> None:
    request = CheckRequest(config("api"), facts())
    answer_server.answer({"secrets": {"app-db": {"version": NEW}}})
    assert make_probe(answer_server.url, json_path="secrets.app-db.version").observe(request) == NEW
    answer_server.answer({"version": f"{VAULT}/secrets/app-db/{OLD}"})
    assert make_probe(answer_server.url).observe(request) == OLD
    answer_server.answer({"version": None})
    assert make_probe(answer_server.url).observe(request) is None
    answer_server.answer(b"", headers={"X-Secret-Version": NEW})
    assert make_probe(answer_server.url, header="X-Secret-Version").observe(request) == NEW


@pytest.mark.parametrize(
    ("body", "status", "error", "expected"),
    [
        ({"version": NEW}, 503, TargetUnavailable, "answered 503"),
        ({"version": NEW}, 302, TargetUnavailable, "answered 302"),
        (b"<html>", 200, ConfigurationError, "not JSON"),
        ({"other": 1}, 200, ConfigurationError, "has no 'version'"),
        ({"version": 7}, 200, ConfigurationError, "must be a string"),
        ({"version": f"{VAULT}/secrets/other/{NEW}"}, 200, ConfigurationError, "'other'"),
        (
            {"version": "https://evil.vault.azure.net/secrets/app-db/x"},
            200,
            ConfigurationError,
            "evil",
        ),
    ],
)
def test_http_probe_failures(
    answer_server: AnswerServer,
    body: Any,
    status: int,
    error: type[Exception],
    expected: str,
) -> None:
    answer_server.answer(body, status, {"Location": "http://127.0.0.1:1/"})
    with pytest.raises(error, match=expected) as raised:
        make_probe(answer_server.url + "?token=hidden").observe(
            CheckRequest(config("api"), facts())
        )
    assert "consumer 'api'" in str(raised.value)
    assert "hidden" not in str(raised.value), "query strings are left out of messages"


def test_http_probe_unreachable_is_retryable() -> None:
    with pytest.raises(TargetUnavailable, match="ConnectionError"):
        make_probe("http://127.0.0.1:9/", timeout_seconds=1).observe(
            CheckRequest(config("api"), facts())
        )


# ---------------------------------------------------------------------- outcome events


def outcome(**kwargs: Any) -> RotationOutcome:
    values: dict[str, Any] = {
        "status": Status.ADVANCED,
        "vault_url": VAULT,
        "secret_name": "app-db",
        "trigger": Trigger.SWEEP,
        "rotation_id": "r1",
        "from_version": OLD,
        "to_version": NEW,
        "state": "overdue",
        "detail": "api uses an unknown version",
    }
    values.update(kwargs)
    return RotationOutcome(**values)


def test_outcome_events_are_cloud_events_with_the_outcome_as_data() -> None:
    event = to_cloud_event("overdue", outcome())
    assert event.type == "KeyVault.Rotation.Overdue"
    assert event.source == f"{VAULT}/secrets/app-db"
    assert event.subject == "app-db"
    assert event.extensions == {"severity": "alert"}
    assert event.data is not None and event.data["event"] == "overdue"
    assert event.data["to_version"] == NEW and event.data["status"] == "advanced"
    assert to_cloud_event("retired", outcome()).extensions == {"severity": "info"}
    assert to_cloud_event("consumers-confirmed", outcome()).type == (
        "KeyVault.Rotation.ConsumersConfirmed"
    )


class FailingSender:
    def __init__(self) -> None:
        self.sent: list[CloudEvent[Any]] = []

    def send(self, events: list[CloudEvent[Any]], **kwargs: Any) -> None:
        self.sent.extend(events)
        raise HttpResponseError(message="topic down")


def test_publishing_failures_are_logged_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    sender = FailingSender()
    OutcomePublisher(sender)("overdue", outcome())
    assert len(sender.sent) == 1
    assert "could not publish KeyVault.Rotation.Overdue for app-db" in caplog.text
    alert = next(r for r in caplog.records if r.getMessage().startswith("rotation alert"))
    assert alert.levelname == "WARNING"
    assert alert.rotation_event == "overdue"  # type: ignore[attr-defined]


def test_the_events_endpoint_must_be_https() -> None:
    assert build_publisher(None, object())._sender is None  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="ROTATION_EVENTS_ENDPOINT"):
        build_publisher("http://topic.example/api/events", object())  # type: ignore[arg-type]


# ---------------------------------------------------------------------- with the engine


@pytest.fixture
def fake_target() -> Iterator[FakeTarget]:
    state = FakeTarget(logins={"app": {"initial-password"}, "admin": {"admin-pw"}})
    FakeRotator.target_state = state
    yield state
    FakeRotator.target_state = FakeTarget()


def make_engine(
    store: MemoryStore, confirmer: CompositeConfirmer, clock: Callable[[], datetime]
) -> tuple[RotationEngine, list[tuple[str, RotationOutcome]]]:
    registry = RotatorRegistry()
    registry.register(FakeRotator)
    events: list[tuple[str, RotationOutcome]] = []
    engine = RotationEngine(
        lambda url: store,
        registry,
        InProcessLocks(),
        consumers=confirmer,
        settings=EngineSettings(verify_attempts=1, consumer_deadline=timedelta(hours=1)),
        clock=clock,
        sleep=lambda s: None,
        on_outcome=lambda event, result: events.append((event, result)),
    )
    return engine, events


class UsernamesCheck(TargetScripted):
    """Reports 'moved' once it was told the two login names and saw an admin."""

    kind: ClassVar[str] = "usernames"

    def observe(self, request: CheckRequest) -> str | None:
        assert request.target is not None
        self.requests.append(request)
        previous, new = request.target.usernames()
        admin = request.target.admin()
        assert admin is not None and admin.username == "admin"
        return request.facts.new_version if (previous, new) == ("app", "app_clone") else None


def test_the_engine_waits_records_sightings_and_retires(fake_target: FakeTarget) -> None:
    store = MemoryStore()
    store.put_login("admin", "admin", "admin-pw", tags={T.ADMIN_FOR: "app-db"})
    store.put_login(
        "app-db",
        "app",
        "initial-password",
        tags={
            T.ROTATOR: "fake",
            T.TARGET: "fake-host",
            T.STRATEGY: "alternating",
            T.ADMIN_SECRET: "admin",
            T.CONSUMERS: "web,sessions",
        },
        expires_on=NOW + timedelta(days=3),
    )
    web = Scripted("web", store.read("app-db").version, nudgeable=True)
    sessions = UsernamesCheck("sessions", None)
    now = [NOW]
    engine, events = make_engine(
        store, CompositeConfirmer({"web": web, "sessions": sessions}), lambda: now[0]
    )
    request = RotationRequest(vault_url=store.vault_url, secret_name="app-db")

    result = engine.run(request)
    assert result.state == "awaiting-consumers"
    assert web.nudges == 1 and web.requests[0].facts.first_check
    new_version = result.to_version or ""
    tags = store.read("app-db").tags
    assert tags[T.CONSUMERS_SEEN] == "sessions=new@0,web=old@0"

    web.answers = [TargetUnavailable("down")]
    now[0] = NOW + timedelta(minutes=10)
    assert engine.run(request).state == "awaiting-consumers"
    assert store.read("app-db").tags[T.CONSUMERS_SEEN] == "sessions=new@600,web=old@0!600"
    assert not web.requests[-1].facts.first_check and web.nudges == 1

    web.answers = [new_version]
    now[0] = NOW + timedelta(minutes=20)
    assert engine.run(request).state == "completed"
    assert store.read("app-db").tags[T.CONSUMERS_SEEN] == "sessions=new@1200,web=new@1200"
    assert [e for e, _ in events] == ["started", "committed", "consumers-confirmed", "retired"]


def test_the_engine_marks_overdue_after_the_deadline(fake_target: FakeTarget) -> None:
    store = MemoryStore()
    store.put_login(
        "app-db",
        "app",
        "initial-password",
        tags={T.ROTATOR: "fake", T.TARGET: "fake-host", T.STRATEGY: "multiple", T.CONSUMERS: "w"},
        expires_on=NOW + timedelta(days=3),
    )
    now = [NOW]
    engine, events = make_engine(
        store, CompositeConfirmer({"w": Scripted("w", OLD)}), lambda: now[0]
    )
    request = RotationRequest(vault_url=store.vault_url, secret_name="app-db")
    assert engine.run(request).state == "awaiting-consumers"
    now[0] = NOW + timedelta(hours=2)
    result = engine.run(request)
    assert result.state == "overdue"
    assert fake_target.works(Credential("initial-password", "app")), "old credential kept"
    assert [e for e, _ in events] == ["started", "committed", "overdue"]


def test_a_probe_that_drips_its_answer_is_cut_off_at_its_timeout(
    answer_server: AnswerServer,
) -> None:
    """requests' read timeout restarts with every byte: the probe's own deadline does not, so
    a server sending a byte every 50 ms is abandoned at 0.5 s, long before it is done."""
    answer_server.answer({"version": NEW, "padding": "x" * 400})
    answer_server.drip = 0.05
    with pytest.raises(TargetUnavailable, match=r"took longer than 0\.5 s"):
        make_probe(answer_server.url, timeout_seconds=0.5).observe(
            CheckRequest(config("api"), facts())
        )
    assert answer_server.sent < len(answer_server.body)


def test_a_compressed_answer_is_decoded_within_the_same_limits(
    answer_server: AnswerServer,
) -> None:
    """gzip is read (and decompressed) by the probe itself: a normal answer works, a
    compression bomb is refused at the size limit, and an endless stream of empty deflate
    blocks (which decodes to nothing, forever) is cut off at the timeout."""
    request = CheckRequest(config("api"), facts())
    answer_server.answer(gzip.compress(json.dumps({"version": NEW}).encode()),
                         headers={"Content-Encoding": "gzip"})  # fmt: skip
    assert make_probe(answer_server.url).observe(request) == NEW
    for wbits in (15, -15):  # deflate, zlib-wrapped as RFC 9110 says and raw as some send it
        packer = zlib.compressobj(wbits=wbits)
        packed = packer.compress(json.dumps({"version": NEW}).encode()) + packer.flush()
        answer_server.answer(packed, headers={"Content-Encoding": "deflate"})
        assert make_probe(answer_server.url).observe(request) == NEW

    answer_server.answer(gzip.compress(b" " * 50_000_000), headers={"Content-Encoding": "gzip"})
    with pytest.raises(ConfigurationError, match="larger than"):
        make_probe(answer_server.url).observe(request)

    answer_server.answer(b"\x78\x9c", headers={"Content-Encoding": "deflate"})
    answer_server.repeat, answer_server.drip = b"\x00\x00\x00\xff\xff", 0.02
    with pytest.raises(TargetUnavailable, match="took longer"):
        make_probe(answer_server.url, timeout_seconds=0.5).observe(request)
