"""The ``rabbitmq`` rotator against the real RabbitMQ on 127.0.0.1 (AMQP 5672, management 15672).

Needs the management plugin: ``.ci/rabbitmq-setup.sh`` enables it. Test code manages users
through its own HTTP session as ``guest`` (not through the rotator) and deletes every user and
vhost it created.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pika
import pika.exceptions
import pytest
import requests

from rotation.credential import Credential
from rotation.errors import ConfigurationError, TargetUnavailable, VerificationFailed
from rotation.registry import RotatorRegistry
from rotation.rotator import RotatorContext, Strategy, alternate_username
from rotation.testing import RotatorContract, free_port, unique_name
from rotators.rabbitmq import RabbitMqRotator, RabbitTarget, parse_target
from tests.support.rotator_tests import (
    LocalContract,
    apply_and_verify,
    apply_for_missing_user,
    apply_refused,
    rotator_context,
    target_parsing_tests,
)

HOST = "127.0.0.1"
MANAGEMENT = f"http://{HOST}:15672"
TARGET = f"amqp://{HOST}:5672/%2F?management={MANAGEMENT}"


def seg(value: str) -> str:
    return quote(value, safe="")


class Broker:
    """Test-side management client (as guest), independent of the rotator."""

    def __init__(self) -> None:
        self.http = requests.Session()
        self.http.trust_env = False  # never proxied, whatever the environment says
        self.http.auth = ("guest", "guest")
        self.users: list[str] = []
        self.vhosts: list[str] = []

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        response = self.http.request(method, f"{MANAGEMENT}/api/{path}", json=body, timeout=10)
        if response.status_code >= 400 and not (method == "DELETE" and response.status_code == 404):
            raise AssertionError(f"{method} {path}: HTTP {response.status_code} {response.text}")
        return response

    def make_user(
        self, name: str, *, tags: str = "", vhost: str | None = "/", password: str | None = None
    ) -> Credential:
        password = password or RabbitMqRotator.default_policy.generate()
        self.users += [name, alternate_username(name)]
        self.call("PUT", f"users/{seg(name)}", {"password": password, "tags": tags})
        if vhost is not None:
            self.grant(name, vhost)
        return Credential(password=password, username=name)

    def grant(
        self, user: str, vhost: str, rules: tuple[str, str, str] = (".*", ".*", ".*")
    ) -> None:
        body = dict(zip(("configure", "write", "read"), rules, strict=True))
        self.call("PUT", f"permissions/{seg(vhost)}/{seg(user)}", body)

    def make_vhost(self) -> str:
        name = unique_name("vh")
        self.vhosts.append(name)
        self.call("PUT", f"vhosts/{seg(name)}")
        return name

    def user(self, name: str) -> dict[str, Any] | None:
        response = self.http.get(f"{MANAGEMENT}/api/users/{seg(name)}", timeout=10)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def permissions(self, name: str, kind: str = "permissions") -> dict[str, tuple[str, ...]]:
        entries = self.call("GET", f"users/{seg(name)}/{kind}").json()
        fields = (
            ("configure", "write", "read")
            if kind == "permissions"
            else ("exchange", "write", "read")
        )
        return {e["vhost"]: tuple(e[f] for f in fields) for e in entries}

    def names(self) -> set[str]:
        return {u["name"] for u in self.call("GET", "users").json()}

    def cleanup(self) -> None:
        for name in self.users:
            self.call("DELETE", f"users/{seg(name)}")
        for vhost in self.vhosts:
            self.call("DELETE", f"vhosts/{seg(vhost)}")
        self.http.close()


def amqp_login(credential: Credential, vhost: str = "/") -> bool:
    """Whether the broker accepts this login (independent of the rotator)."""
    parameters = pika.ConnectionParameters(
        host=HOST,
        port=5672,
        virtual_host=vhost,
        credentials=pika.PlainCredentials(credential.username or "", credential.password),
        connection_attempts=1,
        socket_timeout=5,
        stack_timeout=10,
    )
    try:
        connection = pika.BlockingConnection(parameters)
    except pika.exceptions.ProbableAuthenticationError:
        return False
    connection.close()
    return True


@pytest.fixture
def broker() -> Iterator[Broker]:
    try:
        requests.get(MANAGEMENT, timeout=5, proxies={"http": "", "https": ""})
    except requests.ConnectionError:
        pytest.fail(
            f"RabbitMQ management API not answering at {MANAGEMENT}: run .ci/rabbitmq-setup.sh"
        )
    b = Broker()
    yield b
    b.cleanup()


@pytest.fixture
def admin(broker: Broker) -> Credential:
    """A dedicated management admin (administrator tag, no vhost access needed)."""
    return broker.make_user(unique_name("radmin"), tags="administrator", vhost=None)


def context_for(
    strategy: Strategy = Strategy.SINGLE, *, admin: Credential | None, target: str = TARGET
) -> RotatorContext:
    return rotator_context(RabbitMqRotator, "rabbit-secret", target, strategy=strategy, admin=admin)


class TestRabbitMqContract(LocalContract, RotatorContract):
    rotator = RabbitMqRotator
    local_target = TARGET
    # RabbitMQ takes any name; these also exercise URL quoting of the API paths.
    hostile_usernames = ("o'brien; drop", 'q"x"/../%2F?a=b#', "b`t` x\\y")

    @pytest.fixture
    def login_factory(self, broker: Broker) -> Callable[[str], Credential]:
        return broker.make_user

    @pytest.fixture
    def down_target(self) -> str:
        return f"amqp://{HOST}:{free_port()}?management=http://{HOST}:{free_port()}"

    def can_login(self, credential: Credential) -> bool:
        return amqp_login(credential)

    def principals(self) -> set[str]:
        b = Broker()
        try:
            return b.names()
        finally:
            b.http.close()


# ---------------------------------------------------------------------------- target parsing


test_parse_target_accepts, test_parse_target_refuses = target_parsing_tests(
    parse_target,
    accepted=[
        ("amqp://mq", RabbitTarget("mq", 5672, False, "/", "http://mq:15672")),
        ("amqp://mq:5673/%2F", RabbitTarget("mq", 5673, False, "/", "http://mq:15672")),
        ("amqps://mq/prod", RabbitTarget("mq", 5671, True, "prod", "https://mq:15671")),
        (
            "amqp://mq/a%2Fb?management=https://admin.example:443/rabbitmq/",
            RabbitTarget("mq", 5672, False, "a/b", "https://admin.example:443/rabbitmq"),
        ),
    ],
    refused=[
        None,
        "",
        "http://mq:15672",
        "amqp://guest:guest@mq",
        "amqp://mq/a/b",
        "amqp://mq?vhost=x",
        "amqp://mq?management=ftp://mq",
        "amqp://mq?management=http://u:p@mq:15672",
        "amqp://mq:notaport",
    ],
)


def test_multiple_strategy_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        RabbitMqRotator.check_config(context_for(Strategy.MULTIPLE, admin=None))


def test_registers_on_a_fresh_registry() -> None:
    registry = RotatorRegistry()
    registry.register(RabbitMqRotator)
    assert registry.get("rabbitmq") is RabbitMqRotator


# ---------------------------------------------------------------------------- behaviour


def test_single_keeps_tags_and_permissions(broker: Broker, admin: Credential) -> None:
    login = broker.make_user(unique_name(), tags="monitoring,custom-tag")
    before = broker.user(login.username or "")
    rotator = RabbitMqRotator(context_for(admin=admin))
    apply_and_verify(rotator, login)
    after = broker.user(login.username or "")
    assert before is not None and after is not None
    assert sorted(after["tags"]) == sorted(before["tags"]) == ["custom-tag", "monitoring"]
    assert after["password_hash"] != before["password_hash"]
    assert broker.permissions(login.username or "") == {"/": (".*", ".*", ".*")}


def test_alternating_clone_mirrors_base(broker: Broker, admin: Credential) -> None:
    vhost = broker.make_vhost()
    login = broker.make_user(unique_name(), tags="monitoring")
    name = login.username or ""
    broker.grant(name, vhost, ("^app\\.", "^app\\.", ".*"))
    broker.call(
        "PUT",
        f"topic-permissions/{seg(vhost)}/{seg(name)}",
        {"exchange": "amq.topic", "write": "^a", "read": "^b"},
    )
    clone = alternate_username(name)
    # A stale clone with a grant the base does not have: it must be removed.
    broker.make_user(clone, vhost=None)
    stale = broker.make_vhost()
    broker.grant(clone, stale)

    rotator = RabbitMqRotator(context_for(Strategy.ALTERNATING, admin=admin))
    applied = apply_and_verify(rotator, login)
    assert applied.username == clone
    clone_info = broker.user(clone)
    assert clone_info is not None and clone_info["tags"] == ["monitoring"]
    assert broker.permissions(clone) == broker.permissions(name)
    assert broker.permissions(clone, "topic-permissions") == {vhost: ("amq.topic", "^a", "^b")}
    assert amqp_login(applied, vhost) and amqp_login(login, vhost)


def test_missing_user_is_not_created(broker: Broker, admin: Credential) -> None:
    name = unique_name("ghost")
    broker.users.append(name)
    apply_for_missing_user(RabbitMqRotator(context_for(admin=admin)), name)
    assert broker.user(name) is None


@pytest.mark.parametrize("strategy", [Strategy.SINGLE, Strategy.ALTERNATING])
def test_admin_without_administrator_tag_is_a_configuration_error(
    broker: Broker, strategy: Strategy
) -> None:
    weak = broker.make_user(unique_name("weak"), tags="management")
    login = broker.make_user(unique_name())
    raised = apply_refused(
        RabbitMqRotator(context_for(strategy, admin=weak)), login, ConfigurationError
    )
    assert raised.value.tag == "rotation-admin-secret"
    assert weak.password not in str(raised.value)
    assert amqp_login(login)
    assert broker.user(alternate_username(login.username or "")) is None


def test_admin_without_username_is_a_configuration_error(broker: Broker) -> None:
    login = broker.make_user(unique_name())
    apply_refused(
        RabbitMqRotator(context_for(admin=Credential(password="x" * 20))),
        login,
        ConfigurationError,
        match="admin",
    )


def test_verify_without_vhost_access_counts_as_login(
    broker: Broker, admin: Credential, caplog: pytest.LogCaptureFixture
) -> None:
    login = broker.make_user(unique_name(), vhost=None)
    rotator = RabbitMqRotator(context_for(admin=admin))
    caplog.set_level(logging.WARNING)
    try:
        rotator.verify(login)
        assert "may not open vhost" in caplog.text
        with pytest.raises(VerificationFailed):
            rotator.verify(login.with_password(login.password + "x"))
    finally:
        rotator.close()
    assert login.password not in caplog.text


def test_unknown_vhost_in_target_still_verifies_the_password(
    broker: Broker, admin: Credential
) -> None:
    login = broker.make_user(unique_name())
    target = f"amqp://{HOST}:5672/{unique_name('novh')}?management={MANAGEMENT}"
    rotator = RabbitMqRotator(context_for(admin=admin, target=target))
    try:
        rotator.verify(login)
        with pytest.raises(VerificationFailed):
            rotator.verify(login.with_password("wrong-" + login.password))
    finally:
        rotator.close()


@pytest.fixture
def dead_proxy(monkeypatch: pytest.MonkeyPatch) -> str:
    """HTTP(S)_PROXY pointing where nothing listens, as a misrouted request would find."""
    proxy = f"http://127.0.0.1:{free_port()}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    return proxy


def test_no_proxy_keeps_management_calls_local(
    broker: Broker, admin: Credential, dead_proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    login = broker.make_user(unique_name())
    # Control: with the proxy in force and no NO_PROXY, the call goes to the dead proxy.
    apply_refused(RabbitMqRotator(context_for(admin=admin)), login, TargetUnavailable)
    assert amqp_login(login)
    # As the test session sets it: NO_PROXY covers the broker, so the rotation works.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    rotator = RabbitMqRotator(context_for(admin=admin))
    applied = apply_and_verify(rotator, login)
    assert amqp_login(applied) and not amqp_login(login)


def test_alternating_refuses_an_unrelated_user(broker: Broker, admin: Credential) -> None:
    login = broker.make_user(unique_name())
    other = Credential(password="p" * 20, username=unique_name())
    rotator = RabbitMqRotator(context_for(Strategy.ALTERNATING, admin=admin))
    try:
        with pytest.raises(ConfigurationError, match="alternating"):
            rotator.apply(login, other)
    finally:
        rotator.close()
    assert broker.user(other.username or "") is None


def test_hostile_name_round_trips_through_url_quoting(broker: Broker, admin: Credential) -> None:
    name = f"../users/guest%2F?x=#{secrets.token_hex(2)}"
    login = broker.make_user(name)
    guest_before = broker.user("guest")
    rotator = RabbitMqRotator(context_for(admin=admin))
    applied = apply_and_verify(rotator, login)
    assert amqp_login(applied) and not amqp_login(login)
    assert broker.user("guest") == guest_before
