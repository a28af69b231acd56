"""The ``entra-app-secret`` rotator against the emulated Entra ID (Graph at
``https://graph.microsoft.com``, tokens at ``https://login.microsoftonline.com``) through the
module's own stack's TLS proxy: real ``requests`` calls to Graph with the managed identity's
token from the identity endpoint, and real ``azure.identity.ClientSecretCredential`` logins.

Runs the shared contract suite (with the tests whose assumptions do not fit minted secrets
replaced, as for http-api-key) and the tests specific to Entra ID.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
from rotators.entra_app_secret.rotator import CLOUDS, EntraAppSecretRotator, parse_app_path

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
def _environment(
    stack: AzureStack, identity: ManagedIdentity, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    monkeypatch.setenv("AZURE_CLIENT_ID", identity.client_id)
    yield
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


@pytest.fixture
def rotators() -> Iterator[Callable[..., EntraAppSecretRotator]]:
    made: list[EntraAppSecretRotator] = []

    def make(target: str, **changes: Any) -> EntraAppSecretRotator:
        made.append(EntraAppSecretRotator(context_for(target, **changes)))
        return made[-1]

    yield make
    for rotator in made:
        rotator.close()


@pytest.fixture
def app(graph: GraphEmulator, identity: ManagedIdentity) -> Application:
    return new_app(graph, identity)


@pytest.fixture
def current(graph: GraphEmulator, app: Application) -> Credential:
    return secret_of(graph, app, "consumers")


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
        make_context: Callable[..., RotatorContext],
        rotator_for: Callable[[RotatorContext], Rotator],
        strategy: Strategy,
        rotator_class: type[Rotator],
        policy: str | None,
    ) -> None:
        """Replaced: Entra ID mints the secret, so generate returns a unique intent."""
        rotator = rotator_for(make_context(strategy))
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

    def test_apply_twice_is_idempotent(
        self,
        context: RotatorContext,
        rotator_for: Callable[[RotatorContext], Rotator],
        initial_credential: Credential,
    ) -> None:
        """Replaced: the engine stages the minted secret at once, so a retry passes it back;
        apply returns it unchanged and adds nothing."""
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
        for host in HOSTS:
            self.stack.faults.add(FaultRule(host=host, drop=True, times=None))
        rotator = rotator_for(context)
        with pytest.raises(TargetUnavailable) as applied:
            rotator.apply(initial_credential, rotator.generate(initial_credential))
        assert applied.value.retryable
        with pytest.raises(TargetUnavailable):
            rotator.verify(initial_credential)
        self.stack.faults.clear()
        assert self.emulator.password_names(self.app) == [initial_credential.extra["display_name"]]

    def test_secrets_never_leak(
        self,
        context: RotatorContext,
        make_context: Callable[..., RotatorContext],
        rotator_for: Callable[[RotatorContext], Rotator],
        strategy: Strategy,
        initial_credential: Credential,
        bad_admin_credential: Credential | None,
        down_target: str | None,
        leak_watch: LeakWatch,
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


def test_full_rotation_shape(
    graph: GraphEmulator,
    app: Application,
    current: Credential,
    rotators: Callable[..., EntraAppSecretRotator],
) -> None:
    rotator = rotators(app.object_id)
    intent = rotator.generate(current)
    minted = rotator.apply(current, intent)
    assert minted.password and minted.password != current.password
    assert minted.extra["display_name"] == intent.extra["display_name"]
    assert minted.extra["key_id"] != current.extra["key_id"]
    assert minted.extra["tenant_id"] == graph.tenant_id
    assert minted.extra["client_id"] == app.app_id
    rotator.verify(minted)
    assert graph.logs_in(app.app_id, current.password), "the old secret lives until retired"
    rotator.retire(current, minted)
    assert not graph.logs_in(app.app_id, current.password)
    assert graph.logs_in(app.app_id, minted.password)
    with pytest.raises(VerificationFailed):
        rotator.verify(current)
    assert graph.password_names(app) == [intent.extra["display_name"]]


def test_addressed_by_app_id(
    graph: GraphEmulator,
    app: Application,
    current: Credential,
    rotators: Callable[..., EntraAppSecretRotator],
) -> None:
    rotator = rotators(f"appId={app.app_id.upper()}")
    minted = rotator.apply(current, rotator.generate(current))
    rotator.verify(minted)
    rotator.retire(current, minted)
    assert graph.logs_in(app.app_id, minted.password)
    assert not graph.logs_in(app.app_id, current.password)


def test_lost_add_answer_removes_the_orphan_on_retry(
    graph: GraphEmulator,
    app: Application,
    current: Credential,
    rotators: Callable[..., EntraAppSecretRotator],
) -> None:
    """A crash (or a lost answer) between addPassword and staging the minted secret: Graph
    never shows that secret again, so the retry removes it and adds a new one."""
    rotator = rotators(app.object_id)
    intent = rotator.generate(current)
    name = intent.extra["display_name"]
    graph.graph.lose_next_response("add_password")
    with pytest.raises(TargetUnavailable):
        rotator.apply(current, intent)
    assert graph.password_names(app).count(name) == 1, "added, its answer lost"
    retry = rotators(app.object_id, secret_name=rotator.context.secret_name)
    minted = retry.apply(current, intent)
    assert graph.password_names(app) == ["consumers", name], "the orphan was removed"
    retry.verify(minted)
    assert graph.logs_in(app.app_id, current.password)


def test_retire_is_idempotent_and_spares_the_new_secret(
    graph: GraphEmulator,
    app: Application,
    current: Credential,
    rotators: Callable[..., EntraAppSecretRotator],
) -> None:
    rotator = rotators(app.object_id)
    minted = rotator.apply(current, rotator.generate(current))
    rotator.retire(current, minted)
    rotator.retire(current, minted)
    rotators(app.object_id).retire(current, minted)
    rotator.retire(minted, minted)  # same key id: never removed
    assert graph.logs_in(app.app_id, minted.password)


def test_discard_of_a_minted_candidate_removes_it(
    graph: GraphEmulator,
    app: Application,
    current: Credential,
    rotators: Callable[..., EntraAppSecretRotator],
) -> None:
    rotator = rotators(app.object_id)
    minted = rotator.apply(current, rotator.generate(current))
    rotator.discard(minted, current)
    assert not graph.logs_in(app.app_id, minted.password)
    assert graph.logs_in(app.app_id, current.password)


def test_an_expired_secret_is_refused(
    stack: AzureStack,
    graph: GraphEmulator,
    app: Application,
    rotators: Callable[..., EntraAppSecretRotator],
) -> None:
    now = stack.clock.now()
    text, record = graph.directory.add_password(app, "short", end=now + timedelta(hours=1))
    expiring = Credential(
        password=text,
        extra={"tenant_id": graph.tenant_id, "client_id": app.app_id, "key_id": record.key_id},
    )
    rotator = rotators(app.object_id)
    rotator.verify(expiring)
    stack.clock.advance(timedelta(hours=2))
    with pytest.raises(VerificationFailed) as refused:
        rotator.verify(expiring)
    assert "AADSTS7000222" in str(refused.value)


def test_new_secret_lifetime_follows_the_tag_and_the_directory_clock(
    stack: AzureStack,
    graph: GraphEmulator,
    app: Application,
    current: Credential,
    rotators: Callable[..., EntraAppSecretRotator],
) -> None:
    rotator = rotators(app.object_id, options={"entra-secret-days": "30"})
    minted = rotator.apply(current, rotator.generate(current))
    record = next(p for p in app.passwords if p.key_id == minted.extra["key_id"])
    assert abs(record.end - (stack.clock.now() + timedelta(days=30))) < timedelta(minutes=5)


# -- refusals ---------------------------------------------------------------------------------


def test_without_the_permission_nothing_changes(
    stack: AzureStack,
    graph: GraphEmulator,
    identity: ManagedIdentity,
    current: Credential,
    app: Application,
    rotators: Callable[..., EntraAppSecretRotator],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stranger = stack.identity.add_identity()
    graph.directory.add_owner(app.object_id, stranger.principal_id)  # owner, no permission
    monkeypatch.setenv("AZURE_CLIENT_ID", stranger.client_id)
    rotator = rotators(app.object_id)
    with pytest.raises(ConfigurationError) as raised:
        rotator.apply(current, rotator.generate(current))
    assert not raised.value.retryable
    assert PERMISSION in str(raised.value) and "Authorization_RequestDenied" in str(raised.value)
    assert graph.password_names(app) == ["consumers"]


def test_an_application_the_identity_does_not_own_is_refused(
    graph: GraphEmulator,
    current: Credential,
    rotators: Callable[..., EntraAppSecretRotator],
) -> None:
    foreign = graph.create_application(unique_name("foreign"))
    rotator = rotators(foreign.object_id)
    value = Credential(
        password=current.password, extra={**current.extra, "client_id": foreign.app_id}
    )
    with pytest.raises(ConfigurationError) as raised:
        rotator.apply(value, rotator.generate(value))
    assert "owner" in str(raised.value) and "403" in str(raised.value)
    assert graph.password_names(foreign) == []


def test_a_missing_application_names_the_target(
    current: Credential, rotators: Callable[..., EntraAppSecretRotator]
) -> None:
    rotator = rotators("00000000-0000-4000-8000-000000000001")
    with pytest.raises(ConfigurationError) as raised:
        rotator.apply(current, rotator.generate(current))
    assert raised.value.tag == T.TARGET and "Request_ResourceNotFound" in str(raised.value)


def test_a_value_for_another_application_is_refused(
    graph: GraphEmulator,
    identity: ManagedIdentity,
    app: Application,
    current: Credential,
    rotators: Callable[..., EntraAppSecretRotator],
) -> None:
    other = new_app(graph, identity)
    rotator = rotators(other.object_id)
    with pytest.raises(ConfigurationError) as raised:
        rotator.apply(current, rotator.generate(current))
    assert raised.value.tag == T.TARGET
    assert graph.password_names(other) == []


def test_the_cap_is_refused_before_adding(
    graph: GraphEmulator,
    app: Application,
    current: Credential,
    rotators: Callable[..., EntraAppSecretRotator],
) -> None:
    for index in range(defaults.ENTRA_MAX_SECRETS - 1):
        graph.add_secret(app, f"other-{index}")
    rotator = rotators(app.object_id)
    with pytest.raises(ConfigurationError) as raised:
        rotator.apply(current, rotator.generate(current))
    assert "already holds" in str(raised.value) and not raised.value.retryable
    assert len(graph.password_names(app)) == defaults.ENTRA_MAX_SECRETS


def test_graphs_own_limit_is_a_configuration_error(
    graph: GraphEmulator,
    app: Application,
    current: Credential,
    rotators: Callable[..., EntraAppSecretRotator],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(graph.directory, "max_passwords", 1)
    rotator = rotators(app.object_id)
    with pytest.raises(ConfigurationError) as raised:
        rotator.apply(current, rotator.generate(current))
    assert "maximum" in str(raised.value) and "400" in str(raised.value)


@pytest.mark.parametrize("missing", ["client_id", "tenant_id"])
def test_a_value_without_its_ids_is_refused(
    app: Application,
    current: Credential,
    rotators: Callable[..., EntraAppSecretRotator],
    missing: str,
) -> None:
    value = Credential(
        password=current.password, extra={k: v for k, v in current.extra.items() if k != missing}
    )
    rotator = rotators(app.object_id)
    with pytest.raises(ConfigurationError):
        rotator.verify(value)


def test_a_throttled_read_is_retried(
    stack: AzureStack,
    graph: GraphEmulator,
    app: Application,
    current: Credential,
    rotators: Callable[..., EntraAppSecretRotator],
) -> None:
    rule = stack.faults.add(
        FaultRule(host=HOSTS[0], operation="get_application", status=429, retry_after=0)
    )
    rotator = rotators(app.object_id)
    minted = rotator.apply(current, rotator.generate(current))
    assert stack.faults.fired(rule) == 1
    assert graph.logs_in(app.app_id, minted.password)


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
