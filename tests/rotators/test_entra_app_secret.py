"""The ``entra-app-secret`` rotator against the emulated Entra ID (Graph at
``https://graph.microsoft.com``, tokens at ``https://login.microsoftonline.com``) through the
module's own stack's TLS proxy: real ``requests`` calls to Graph with the managed identity's
token from the identity endpoint, and real ``azure.identity.ClientSecretCredential`` logins.

Runs the shared contract suite (with the tests whose assumptions do not fit minted secrets
replaced, as for http-api-key) and the tests specific to Entra ID.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from emulators.faults import FaultRule
from emulators.graph import READ_WRITE_OWNED_BY, Application, GraphEmulator
from emulators.identity import ManagedIdentity
from emulators.stack import AzureStack
from rotation import defaults
from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import ConfigurationError, TargetUnavailable, VerificationFailed
from rotation.policy import PasswordPolicy
from rotation.rotator import Rotator, RotatorContext, Strategy
from rotation.testing import LeakWatch, RotatorContract, unique_name
from rotators.entra_app_secret.graph import PERMISSION
from rotators.entra_app_secret.rotator import EntraAppSecretRotator
from rotators.entra_app_secret.settings import CLOUDS, parse_app_path
from tests.support.rotator_tests import assert_unavailable_while_down

HOSTS = ("graph.microsoft.com", "login.microsoftonline.com")


@pytest.fixture(scope="module")
def graph(stack: AzureStack) -> GraphEmulator:
    return stack.graph


@pytest.fixture(scope="module")
def identity(stack: AzureStack, graph: GraphEmulator) -> ManagedIdentity:
    """The function app's identity, with Application.ReadWrite.OwnedBy."""
    found = stack.identity.add_identity()
    graph.grant(found.principal_id, READ_WRITE_OWNED_BY)
    return found


@pytest.fixture(autouse=True)
def _as_the_function_app(
    stack: AzureStack, identity: ManagedIdentity, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """``AZURE_CLIENT_ID`` names the identity (as the Functions host sets it); no fault rule
    outlives its test."""
    with monkeypatch.context() as patched:
        patched.setenv("AZURE_CLIENT_ID", identity.client_id)
        try:
            yield
        finally:
            stack.faults.clear()


def new_app(graph: GraphEmulator, identity: ManagedIdentity) -> Application:
    """A fresh app registration owned by the function app's identity."""
    return graph.create_application(unique_name("app"), owners=(identity.principal_id,))


def secret_of(graph: GraphEmulator, app: Application, name: str) -> Credential:
    """A client secret added as an owner would in the portal, as the managed value holds it."""
    text, key_id = graph.add_secret(app, name)
    extra = {"tenant_id": graph.tenant_id, "client_id": app.app_id, "key_id": key_id}
    return Credential(password=text, extra={**extra, "display_name": name})


def context_for(target: str | None, **changes: Any) -> RotatorContext:
    values: dict[str, Any] = {
        "secret_name": unique_name("client-secret").replace("_", "-"),
        "target": target,
        "strategy": Strategy.MULTIPLE,
        "policy": EntraAppSecretRotator.default_policy,
        "options": {},
    }
    values.update(changes)
    return RotatorContext(**values)


# -- the contract suite ---------------------------------------------------------------------


class TestEntraAppSecretContract(RotatorContract):
    """The contract suite for ``entra-app-secret`` (one app registration per test)."""

    rotator = EntraAppSecretRotator
    emulator: GraphEmulator
    app: Application
    stack: AzureStack

    @pytest.fixture(autouse=True)
    def _bind_emulator(self, stack: AzureStack, graph: GraphEmulator) -> None:
        self.stack, self.emulator = stack, graph

    @pytest.fixture
    def target(self, graph: GraphEmulator, identity: ManagedIdentity) -> str | None:
        self.app = new_app(graph, identity)
        return self.app.object_id

    @pytest.fixture
    def login_factory(self, graph: GraphEmulator, target: str) -> Callable[[str], Credential]:
        return lambda name: secret_of(graph, self.app, name)

    def can_login(self, credential: Credential) -> bool:
        return self.emulator.logs_in(self.app.app_id, credential.password)

    @pytest.mark.parametrize("policy", [None], ids=["default"])
    def test_generate_respects_policy(
        self,
        context: RotatorContext,
        rotator_for: Callable[[RotatorContext], Rotator],
        policy: None,
    ) -> None:
        """Replaced: Entra ID mints the secret, so generate returns a unique intent."""
        rotator = rotator_for(context)
        current = Credential(password="s", extra={"k": "v", "key_id": "old", "client_id": "c"})
        intents = [rotator.generate(current) for _ in range(5)]
        for intent in intents:
            assert intent.password == ""
            assert "key_id" not in intent.extra
            assert intent.extra["k"] == "v" and intent.extra["client_id"] == "c"
            assert intent.extra["display_name"].startswith(
                f"rotation-{rotator.context.secret_name}-"
            )
        assert len({i.extra["display_name"] for i in intents}) == len(intents)

    def test_apply_twice_is_idempotent(  # type: ignore[override]
        self, rotator_for: Callable[[RotatorContext], Rotator], initial_credential: Credential
    ) -> None:
        """Replaced: the engine stages the minted secret at once, so a retry passes it back;
        apply returns it unchanged and adds nothing."""
        context = context_for(self.app.object_id)
        rotator = rotator_for(context)
        minted = rotator.apply(initial_credential, rotator.generate(initial_credential))
        again = rotator_for(context).apply(initial_credential, minted)
        assert again == minted and again.password == minted.password
        rotator.verify(again)
        assert self.can_login(again) and self.can_login(initial_credential)
        assert len(self.emulator.password_names(self.app)) == 2

    def test_down_target_is_retryable(
        self,
        context: RotatorContext,
        rotator_for: Callable[[RotatorContext], Rotator],
        initial_credential: Credential,
    ) -> None:
        """Replaced: Graph and the login endpoint unreachable (connections dropped)."""
        rotator = rotator_for(context)
        assert_unavailable_while_down(self, self.stack, HOSTS, rotator, initial_credential)
        assert self.emulator.password_names(self.app) == [initial_credential.extra["display_name"]]

    def test_secrets_never_leak(  # type: ignore[override]
        self,
        leak_watch: LeakWatch,
        initial_credential: Credential,
        context: RotatorContext,
        rotator_for: Callable[[RotatorContext], Rotator],
    ) -> None:
        """Replaced: the same checks following the minted secret, plus a refused login, an
        unreachable and a failing Graph."""
        rotator = rotator_for(context)
        leak_watch.secret(initial_credential.password)
        minted: list[Credential] = []
        intent = rotator.generate(initial_credential)
        assert (
            leak_watch.call(lambda: minted.append(rotator.apply(initial_credential, intent)))
            is None
        )
        leak_watch.secret(minted[0].password)
        for text in (repr(minted[0]), repr(rotator), repr(context)):
            leak_watch.text(text)
        assert leak_watch.call(lambda: rotator.verify(minted[0])) is None
        assert leak_watch.call(lambda: rotator.retire(initial_credential, minted[0])) is None
        for refused in (initial_credential, minted[0].with_password(minted[0].password + "x")):
            error = leak_watch.call(lambda c=refused: rotator.verify(c))  # type: ignore[misc]
            assert isinstance(error, VerificationFailed)
        self.stack.faults.add(FaultRule(host=HOSTS[0], operation="add_password", status=500))
        error = leak_watch.call(lambda: rotator.apply(minted[0], rotator.generate(minted[0])))
        assert isinstance(error, TargetUnavailable)
        for host in HOSTS:
            self.stack.faults.add(FaultRule(host=host, drop=True, times=None))
        error = leak_watch.call(lambda: rotator.apply(minted[0], rotator.generate(minted[0])))
        assert isinstance(error, TargetUnavailable)
        assert isinstance(leak_watch.call(lambda: rotator.verify(minted[0])), TargetUnavailable)
        leak_watch.check()


# -- minted-secret specifics ----------------------------------------------------------------


@dataclass
class Case:
    """One app registration owned by the identity, its portal-made secret ``current``, and
    the rotators made for it (closed at teardown)."""

    stack: AzureStack
    graph: GraphEmulator
    app: Application
    current: Credential
    made: list[EntraAppSecretRotator] = field(default_factory=list)

    def rotator(self, target: str | None = None, **changes: Any) -> EntraAppSecretRotator:
        """A rotator for ``target`` (default: the app's object id), as the engine makes it."""
        context = context_for(target or self.app.object_id, **changes)
        self.made.append(EntraAppSecretRotator(context))
        return self.made[-1]

    def mint(self, rotator: EntraAppSecretRotator | None = None) -> Credential:
        """generate + apply from ``current``."""
        chosen = rotator or self.rotator()
        return chosen.apply(self.current, chosen.generate(self.current))

    def works(self, credential: Credential) -> bool:
        return self.graph.logs_in(self.app.app_id, credential.password)

    def names(self) -> list[str | None]:
        return self.graph.password_names(self.app)


@pytest.fixture
def case(stack: AzureStack, graph: GraphEmulator, identity: ManagedIdentity) -> Iterator[Case]:
    app = new_app(graph, identity)
    made = Case(stack, graph, app, secret_of(graph, app, "consumers"))
    yield made
    for rotator in made.made:
        rotator.close()


def test_full_rotation_shape(case: Case) -> None:
    rotator = case.rotator()
    intent = rotator.generate(case.current)
    minted = rotator.apply(case.current, intent)
    assert minted.password and minted.password != case.current.password
    assert minted.extra["display_name"] == intent.extra["display_name"]
    assert minted.extra["key_id"] != case.current.extra["key_id"]
    assert minted.extra["tenant_id"] == case.graph.tenant_id
    assert minted.extra["client_id"] == case.app.app_id
    rotator.verify(minted)
    assert case.works(case.current), "the old secret lives until retired"
    rotator.retire(case.current, minted)
    assert not case.works(case.current) and case.works(minted)
    with pytest.raises(VerificationFailed):
        rotator.verify(case.current)
    assert case.names() == [intent.extra["display_name"]]


def test_addressed_by_app_id(case: Case) -> None:
    rotator = case.rotator(f"appId={case.app.app_id.upper()}")
    minted = case.mint(rotator)
    rotator.verify(minted)
    rotator.retire(case.current, minted)
    assert case.works(minted) and not case.works(case.current)


def test_lost_add_answer_removes_the_orphan_on_retry(case: Case) -> None:
    """A crash (or a lost answer) between addPassword and staging the minted secret: Graph
    never shows that secret again, so the retry removes it and adds a new one."""
    rotator = case.rotator()
    intent = rotator.generate(case.current)
    name = intent.extra["display_name"]
    case.graph.graph.lose_next_response("add_password")
    with pytest.raises(TargetUnavailable):
        rotator.apply(case.current, intent)
    assert case.names().count(name) == 1, "added, its answer lost"
    retry = case.rotator(secret_name=rotator.context.secret_name)
    minted = retry.apply(case.current, intent)
    assert case.names() == ["consumers", name], "the orphan was removed"
    retry.verify(minted)
    assert case.works(case.current)


def test_retire_is_idempotent_and_spares_the_new_secret(case: Case) -> None:
    rotator = case.rotator()
    minted = case.mint(rotator)
    rotator.retire(case.current, minted)
    rotator.retire(case.current, minted)
    case.rotator().retire(case.current, minted)
    rotator.retire(minted, minted)  # same key id: never removed
    assert case.works(minted)


def test_discard_of_a_minted_candidate_removes_it(case: Case) -> None:
    rotator = case.rotator()
    minted = case.mint(rotator)
    rotator.discard(minted, case.current)
    assert not case.works(minted) and case.works(case.current)


def test_an_expired_secret_is_refused(case: Case) -> None:
    now = case.stack.clock.now()
    text, record = case.graph.directory.add_password(
        case.app, "short", end=now + timedelta(hours=1)
    )
    expiring = Credential(password=text, extra={**case.current.extra, "key_id": record.key_id})
    rotator = case.rotator()
    rotator.verify(expiring)
    case.stack.clock.advance(timedelta(hours=2))
    with pytest.raises(VerificationFailed) as refused:
        rotator.verify(expiring)
    assert "AADSTS7000222" in str(refused.value)


def test_new_secret_lifetime_follows_the_tag_and_the_directory_clock(case: Case) -> None:
    minted = case.mint(case.rotator(options={"entra-secret-days": "30"}))
    record = next(p for p in case.app.passwords if p.key_id == minted.extra["key_id"])
    expected = case.stack.clock.now() + timedelta(days=30)
    assert abs(record.end - expected) < timedelta(minutes=5)


def test_a_throttled_read_is_retried(case: Case) -> None:
    rule = case.stack.faults.add(
        FaultRule(host=HOSTS[0], operation="get_application", status=429, retry_after=0)
    )
    minted = case.mint()
    assert case.stack.faults.fired(rule) == 1
    assert case.works(minted)


def test_a_long_retry_after_is_retryable_at_once(case: Case) -> None:
    rule = case.stack.faults.add(
        FaultRule(host=HOSTS[0], operation="get_application", status=429, retry_after=3600)
    )
    with pytest.raises(TargetUnavailable) as raised:
        case.mint()
    assert raised.value.retryable and "429" in str(raised.value)
    assert case.stack.faults.fired(rule) == 1, "no second try: the wait was too long"
    assert case.names() == ["consumers"]


@pytest.mark.parametrize("operation", ["add_password", "remove_password"])
def test_a_failing_write_is_not_repeated(case: Case, operation: str) -> None:
    rule = case.stack.faults.add(FaultRule(host=HOSTS[0], operation=operation, status=503))
    rotator = case.rotator()
    with pytest.raises(TargetUnavailable):
        minted = case.mint(rotator)
        rotator.retire(case.current, minted)
    assert case.stack.faults.fired(rule) == 1


# -- refusals ---------------------------------------------------------------------------------


def test_without_the_permission_nothing_changes(
    case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    stranger = case.stack.identity.add_identity()
    case.graph.directory.add_owner(case.app.object_id, stranger.principal_id)  # no permission
    monkeypatch.setenv("AZURE_CLIENT_ID", stranger.client_id)
    with pytest.raises(ConfigurationError) as raised:
        case.mint()
    assert not raised.value.retryable
    assert PERMISSION in str(raised.value) and "Authorization_RequestDenied" in str(raised.value)
    assert case.names() == ["consumers"]


def test_an_application_the_identity_does_not_own_is_refused(case: Case) -> None:
    foreign = case.graph.create_application(unique_name("foreign"))
    case.current = Credential(
        password=case.current.password, extra={**case.current.extra, "client_id": foreign.app_id}
    )
    with pytest.raises(ConfigurationError) as raised:
        case.mint(case.rotator(foreign.object_id))
    assert "owner" in str(raised.value) and "403" in str(raised.value)
    assert case.graph.password_names(foreign) == []


def test_a_missing_application_names_the_target(case: Case) -> None:
    with pytest.raises(ConfigurationError) as raised:
        case.mint(case.rotator("00000000-0000-4000-8000-000000000001"))
    assert raised.value.tag == T.TARGET and "Request_ResourceNotFound" in str(raised.value)


def test_a_value_for_another_application_is_refused(case: Case, identity: ManagedIdentity) -> None:
    other = new_app(case.graph, identity)
    with pytest.raises(ConfigurationError) as raised:
        case.mint(case.rotator(other.object_id))
    assert raised.value.tag == T.TARGET
    assert case.graph.password_names(other) == []


def test_the_cap_is_refused_before_adding(case: Case) -> None:
    for index in range(defaults.ENTRA_MAX_SECRETS - 1):
        case.graph.add_secret(case.app, f"other-{index}")
    with pytest.raises(ConfigurationError) as raised:
        case.mint()
    assert "already holds" in str(raised.value) and not raised.value.retryable
    assert len(case.names()) == defaults.ENTRA_MAX_SECRETS


def test_graphs_own_limit_is_a_configuration_error(
    case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(case.graph.directory, "max_passwords", 1)
    with pytest.raises(ConfigurationError) as raised:
        case.mint()
    assert "maximum" in str(raised.value) and "400" in str(raised.value)


@pytest.mark.parametrize("missing", ["client_id", "tenant_id"])
def test_a_value_without_its_ids_is_refused(case: Case, missing: str) -> None:
    extra = {k: v for k, v in case.current.extra.items() if k != missing}
    with pytest.raises(ConfigurationError):
        case.rotator().verify(Credential(password=case.current.password, extra=extra))


def test_an_intent_never_logs_in(case: Case) -> None:
    with pytest.raises(VerificationFailed):
        case.rotator().verify(case.rotator().generate(case.current))


@pytest.mark.parametrize(
    "extra",
    [
        {"tenant_id": "../../evil"},
        {"tenant_id": "t" * 300},
        {"client_id": "x'); drop"},
        {"tenant_id": 7},
    ],
)
def test_hostile_value_fields_are_refused(case: Case, extra: dict[str, Any]) -> None:
    value = Credential(password=case.current.password, extra={**case.current.extra, **extra})
    with pytest.raises(ConfigurationError):
        case.rotator().verify(value)


@pytest.mark.parametrize("name", ["consumers", "rotation-a\nb", "rotation-" + "x" * 200, None])
def test_a_candidate_without_a_rotation_name_is_refused(case: Case, name: str | None) -> None:
    candidate = Credential(password="", extra={**case.current.extra, "display_name": name})
    with pytest.raises(ConfigurationError):
        case.rotator().apply(case.current, candidate)
    assert case.names() == ["consumers"]


# -- configuration (no I/O) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "not-a-guid",
        "appId=nope",
        "appId=",
        "objectId=00000000-0000-4000-8000-000000000001",
        "00000000-0000-4000-8000-000000000001/addPassword",
        "00000000-0000-4000-8000-00000000000\n1",
    ],
)
def test_bad_targets_are_refused(target: str | None) -> None:
    with pytest.raises(ConfigurationError) as raised:
        EntraAppSecretRotator.check_config(context_for(target))
    assert raised.value.tag == T.TARGET


def test_target_forms() -> None:
    guid = "0A1B2C3D-0000-4000-8000-000000000001"
    assert parse_app_path(guid, secret=None) == f"applications/{guid.lower()}"
    assert parse_app_path(f"appId={guid}", secret=None) == f"applications(appId='{guid.lower()}')"


@pytest.mark.parametrize(
    ("changes", "tag"),
    [
        ({"strategy": Strategy.SINGLE}, T.STRATEGY),
        ({"strategy": Strategy.ALTERNATING}, T.STRATEGY),
        ({"options": {"entra-cloud": "mars"}}, T.ENTRA_CLOUD),
        ({"options": {"entra-secret-days": "0"}}, T.ENTRA_SECRET_DAYS),
        ({"options": {"entra-secret-days": "soon"}}, T.ENTRA_SECRET_DAYS),
        ({"options": {"entra-secret-days": "99999"}}, T.ENTRA_SECRET_DAYS),
        ({"options": {"entra-secret-days": "9" * 5000}}, T.ENTRA_SECRET_DAYS),
        ({"options": {"entra-secret-days": "\u0663"}}, T.ENTRA_SECRET_DAYS),
    ],
)
def test_bad_configuration_is_refused(changes: dict[str, Any], tag: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        EntraAppSecretRotator.check_config(
            context_for("00000000-0000-4000-8000-000000000001", **changes)
        )
    assert raised.value.tag == tag


@pytest.mark.parametrize("cloud", sorted(CLOUDS))
def test_sovereign_clouds_pick_their_hosts(cloud: str) -> None:
    settings = EntraAppSecretRotator.parse_settings(
        context_for("00000000-0000-4000-8000-000000000001", options={"entra-cloud": cloud})
    )
    assert (settings.graph_url, settings.login_host) == CLOUDS[cloud]


def test_registered_in_the_catalogue() -> None:
    from rotation.registry import load_class
    from rotators.catalogue import BUILTIN

    assert load_class(BUILTIN["entra-app-secret"]) is EntraAppSecretRotator
    assert EntraAppSecretRotator.default_policy == PasswordPolicy()
