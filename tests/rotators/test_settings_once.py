"""A run parses a rotator's settings once: the engine's set-up (``GuardedRotator.create``,
which ``Engine.make_rotator`` calls) checks the context and builds the rotator with one
``parse_settings`` call, and the rotator keeps that very object. No network I/O."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import ConfigurationError
from rotation.guarded import GuardedRotator
from rotation.outcome import RotationOutcome, RotationRequest, Status, Trigger
from rotation.policy import PasswordPolicy
from rotation.rotator import UNPARSED, Rotator, RotatorContext, Strategy
from rotators.catalogue import default_registry
from tests.engine.fakes import FakeRotator, FakeTarget, MemoryStore
from tests.support.engines import quick_engine

ADMIN = Credential(password="admin-pw", username="admin")
ARM = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
AZURE_SQL = ARM + "Microsoft.Sql/servers/srv"
#: A pinned host key (the fingerprint form); nothing connects in these tests.
HOST_KEY = {"ssh-host-key": "SHA256:" + "A" * 43}
#: Kinds whose admin credential has a shape of its own (an LDAP bind DN).
ADMINS = {"ldap": Credential(password="admin-pw", username="cn=admin,dc=example,dc=org")}

#: kind -> (target, strategy, options): a valid description of one managed secret.
VALID: dict[str, tuple[str | None, Strategy, dict[str, str]]] = {
    "azure-sql-admin": (AZURE_SQL, Strategy.SINGLE, {}),
    "cosmos-db-key": (ARM + "Microsoft.DocumentDB/databaseAccounts/acct", Strategy.ALTERNATING, {}),
    "entra-app-secret": ("00000000-0000-0000-0000-000000000001", Strategy.MULTIPLE, {}),
    "ldap": ("ldap://127.0.0.1:389/dc=example,dc=org", Strategy.ALTERNATING, {}),
    "http-api-key": (None, Strategy.MULTIPLE, {"profile": "datadog"}),
    "mysql": ("127.0.0.1:3306", Strategy.ALTERNATING, {}),
    "postgres": ("127.0.0.1:5432/postgres", Strategy.ALTERNATING, {}),
    "rabbitmq": ("amqp://127.0.0.1/%2F", Strategy.ALTERNATING, {}),
    "random": (None, Strategy.SINGLE, {}),
    "redis-acl": ("redis://127.0.0.1:6379", Strategy.MULTIPLE, {}),
    "ssh": ("127.0.0.1:22", Strategy.MULTIPLE, HOST_KEY),
    "ssh-password": ("127.0.0.1:22", Strategy.SINGLE, HOST_KEY),
    "storage-account-key": (
        ARM + "Microsoft.Storage/storageAccounts/acct",
        Strategy.ALTERNATING,
        {},
    ),
}


def _builtin(kind: str) -> type[Rotator]:
    return default_registry(include_plugins=False).get(kind)


def _context(kind: str, **changes: Any) -> RotatorContext:
    target, strategy, options = VALID[kind]
    fields: dict[str, Any] = {
        "secret_name": "s1",
        "target": target,
        "strategy": strategy,
        "policy": _builtin(kind).default_policy,
        "admin": ADMINS.get(kind, ADMIN),
        "options": options,
        **changes,
    }
    return RotatorContext(**fields)


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, object]]]:
    """Records every ``parse_settings`` call of every built-in rotator: (kind, result)."""
    calls: list[tuple[str, object]] = []
    for kind in VALID:
        cls = _builtin(kind)
        original = cls.parse_settings.__func__  # type: ignore[attr-defined]

        def counted(klass: type[Rotator], context: RotatorContext, _orig: Any = original) -> object:
            calls.append((klass.kind, None))
            result = _orig(klass, context)
            calls[-1] = (klass.kind, result)
            return result

        monkeypatch.setattr(cls, "parse_settings", classmethod(counted))
    yield calls


def test_every_builtin_kind_is_described() -> None:
    assert set(VALID) == set(default_registry(include_plugins=False).kinds())


@pytest.mark.parametrize("kind", sorted(VALID))
def test_the_engine_set_up_parses_the_settings_once(
    kind: str, parses: list[tuple[str, object]]
) -> None:
    guarded = GuardedRotator.create(_builtin(kind), _context(kind), ["current-pw"])
    try:
        assert [k for k, _ in parses] == [kind]
        rotator = guarded._rotator
        if parses[0][1] is not None:
            assert rotator.settings is parses[0][1]
    finally:
        guarded.close()


@pytest.mark.parametrize("kind", sorted(VALID))
def test_a_rotator_built_by_hand_still_parses_its_context(
    kind: str, parses: list[tuple[str, object]]
) -> None:
    rotator = _builtin(kind)(_context(kind))
    try:
        assert [k for k, _ in parses] == [kind]
        if parses[0][1] is not None:
            assert rotator.settings == parses[0][1]
    finally:
        rotator.close()


def test_the_one_parse_still_refuses_a_bad_context(parses: list[tuple[str, object]]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        GuardedRotator.create(
            _builtin("postgres"), _context("postgres", target="no-database-here"), []
        )
    assert caught.value.tag == "rotation-target"
    assert [k for k, _ in parses] == ["postgres"]


class _Legacy(Rotator):
    """A plugin written before ``settings``: its own ``check_config``, a one-argument
    constructor that parses for itself."""

    kind = "legacy"
    requires_target = False
    checked: ClassVar[list[str]] = []

    @classmethod
    def check_config(cls, context: RotatorContext) -> None:
        cls.checked.append(context.secret_name)
        super().check_config(context)

    def __init__(self, context: RotatorContext) -> None:
        super().__init__(context)
        self.parsed = self.parse_settings(context)

    def apply(self, current: Credential, candidate: Credential) -> Credential:
        return candidate

    def verify(self, credential: Credential) -> None:
        return None


def test_a_plugin_with_the_old_signatures_is_still_checked_and_built() -> None:
    context = RotatorContext("legacy-1", None, Strategy.SINGLE, PasswordPolicy())
    guarded = GuardedRotator.create(_Legacy, context, [])
    assert _Legacy.checked == ["legacy-1"]
    assert guarded.context is context and guarded.kind == "legacy"


def _run(
    store: MemoryStore, rotator_class: type[Rotator], name: str, *, dry_run: bool = False
) -> RotationOutcome:
    """One sweep-triggered run of ``name`` by a real engine over ``store``, one rotator kind."""
    request = RotationRequest(
        vault_url=store.vault_url, secret_name=name, trigger=Trigger.SWEEP, dry_run=dry_run
    )
    return quick_engine(store, rotator_class).run(request)


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "rotation"])
def test_an_engine_run_parses_the_settings_once(
    dry_run: bool, parses: list[tuple[str, object]]
) -> None:
    """Through the real engine (in-memory vault): a run of a ``random`` secret, whose
    rotation commits at once (single strategy, no target, nothing to retire)."""
    store = MemoryStore()
    store.write(
        "shared-key",
        "initial-value-that-is-long-enough",
        tags={T.ROTATOR: "random", T.STRATEGY: "single"},
        content_type=None,
        expires_on=datetime.now(UTC) + timedelta(days=1),
    )
    outcome = _run(store, _builtin("random"), "shared-key", dry_run=dry_run)
    assert outcome.status is (Status.DRY_RUN if dry_run else Status.ROTATED), outcome
    assert [k for k, _ in parses] == ["random"]


class _ParsingFake(FakeRotator):
    """:class:`FakeRotator` with settings of its own, counting every parse."""

    kind = "parsing-fake"
    parsed: ClassVar[list[str]] = []

    @classmethod
    def parse_settings(cls, context: RotatorContext) -> object:
        super().parse_settings(context)
        cls.parsed.append(context.secret_name)
        return (context.target, context.strategy)

    def __init__(self, context: RotatorContext, settings: object = UNPARSED) -> None:
        super().__init__(context, settings)
        self.settings = self.settings_for(context, settings)


def test_a_run_that_rotates_and_retires_parses_and_reads_the_admin_once() -> None:
    """Multiple strategy, no consumers: one run applies, commits and retires, with two
    rotators (the rotation's and the retirement's) built from one set-up."""
    _ParsingFake.parsed = []
    _ParsingFake.target_state = FakeTarget(logins={"app": {"initial-password"}})
    store = MemoryStore()
    store.put_login("db-admin", "root", "admin-pw", tags={T.ADMIN_FOR: "orders"})
    tags = {
        T.ROTATOR: "parsing-fake",
        T.TARGET: "fake-host",
        T.STRATEGY: "multiple",
        T.ADMIN_SECRET: "db-admin",
    }
    store.put_login("orders", "app", "initial-password", tags=tags, expires_on=datetime.now(UTC))
    outcome = _run(store, _ParsingFake, "orders")

    assert outcome.status is Status.ROTATED, outcome
    assert any("retired the credential" in step for step in outcome.steps), outcome.steps
    assert _ParsingFake.target_state.logins["app"] == {
        Credential.from_value(store.current_value("orders"), json_format=True).password
    }
    assert _ParsingFake.parsed == ["orders"]
    assert store.value_reads.count("db-admin") == 1
