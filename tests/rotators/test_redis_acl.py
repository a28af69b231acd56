"""The ``redis-acl`` rotator against the real Redis 7 on 127.0.0.1:6379.

Test code manages users through its own connection as the ``default`` user (no password on
these machines), independent of the rotator, and deletes every user it created.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import closing
from typing import Any

import pytest
import redis

from rotation.credential import Credential
from rotation.errors import (
    ConfigurationError,
    RotationConflict,
    TargetUnavailable,
)
from rotation.registry import RotatorRegistry
from rotation.rotator import RotatorContext, Strategy
from rotation.testing import RotatorContract, free_port, unique_name
from rotators.redis_acl import (
    RedisAclRotator,
    RedisTarget,
    check_username,
    parse_target,
    password_hash,
)
from tests.support.local_targets import redis_logs_in, redis_set_user
from tests.support.rotator_tests import (
    LocalContract,
    apply_for_missing_user,
    apply_refused,
    rotator_context,
    target_parsing_tests,
)

HOST, PORT = "127.0.0.1", 6379
TARGET = f"{HOST}:{PORT}"


@pytest.fixture(scope="module")
def root() -> Iterator[redis.Redis]:
    """A connection as the default user, for setting up and checking users."""
    client = redis.Redis(host=HOST, port=PORT, decode_responses=True, socket_timeout=5)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(f"Redis is not running on {TARGET}")
    yield client
    client.close()


@pytest.fixture
def users(root: redis.Redis) -> Iterator[list[str]]:
    """Names appended here are deleted at teardown."""
    made: list[str] = []
    yield made
    if made:
        cmd(root, "ACL DELUSER", *made)


def cmd(client: redis.Redis, *args: str) -> Any:
    """Send one command as separate arguments (typed wrapper)."""
    return client.execute_command(*args)  # type: ignore[no-untyped-call]


def make_user(root: redis.Redis, users: list[str], name: str, *rules: str) -> Credential:
    """Create an enabled ACL user with a fresh password and ``rules``; return its login."""
    password = RedisAclRotator.default_policy.generate()
    users.append(name)
    redis_set_user(root, name, password, *rules)
    return Credential(password=password, username=name)


def redis_login(username: str | None, password: str) -> bool:
    """Whether Redis accepts this login on a fresh connection (independent of the rotator)."""
    return redis_logs_in(username, password, host=HOST, port=PORT)


def context_for(
    strategy: Strategy = Strategy.MULTIPLE,
    *,
    admin: Credential | None,
    target: str | None = TARGET,
) -> RotatorContext:
    return rotator_context(RedisAclRotator, "redis-secret", target, strategy=strategy, admin=admin)


@pytest.fixture
def admin(root: redis.Redis, users: list[str]) -> Credential:
    """A dedicated admin user with only what the rotator needs (+acl)."""
    return make_user(root, users, unique_name("radmin"), "+acl")


@pytest.fixture
def login(root: redis.Redis, users: list[str]) -> Credential:
    """A fresh user with a password (deleted at teardown)."""
    return make_user(root, users, unique_name())


@pytest.fixture
def admin_rotator(admin: Credential) -> Iterator[RedisAclRotator]:
    """A single-strategy rotator with :func:`admin`, closed at teardown."""
    with closing(RedisAclRotator(context_for(admin=admin))) as rotator:
        yield rotator


class TestRedisAclContract(LocalContract, RotatorContract):
    rotator = RedisAclRotator
    local_target = TARGET
    # Redis refuses names with spaces (checked separately below); these rotate correctly.
    hostile_usernames = ("o'brien;drop", 'q"x";--', "b`t`\\y$(id)")

    @pytest.fixture
    def login_factory(self, root: redis.Redis, users: list[str]) -> Callable[[str], Credential]:
        return lambda name: make_user(root, users, name, "+ping")

    def can_login(self, credential: Credential) -> bool:
        return redis_login(credential.username, credential.password)

    def principals(self) -> set[str]:
        client = redis.Redis(host=HOST, port=PORT, decode_responses=True)
        try:
            return {str(name) for name in client.acl_users()}
        finally:
            client.close()


# ---------------------------------------------------------------------------- target parsing


test_parse_target_accepts, test_parse_target_refuses = target_parsing_tests(
    parse_target,
    accepted=[
        ("127.0.0.1:6379", RedisTarget("127.0.0.1", 6379, tls=False)),
        ("cache.example.net", RedisTarget("cache.example.net", 6379, tls=False)),
        ("redis://cache:7000", RedisTarget("cache", 7000, tls=False)),
        ("rediss://cache.example.net:6380/", RedisTarget("cache.example.net", 6380, tls=True)),
        ("[::1]:6379", RedisTarget("::1", 6379, tls=False)),
    ],
    refused=[
        None,
        "",
        "http://cache:6379",
        "redis://user:pw@cache:6379",
        "redis://cache:6379/2",
        "redis://cache:6379?x=1",
        "cache:notaport",
        "cache:99999",
        "redis://:6379",
    ],
)


def test_target_with_credentials_does_not_echo_them() -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_target("redis://admin:hunter2secret@cache:6379")
    assert "hunter2secret" not in str(raised.value)


def test_alternating_is_refused_by_check_config() -> None:
    with pytest.raises(ConfigurationError) as raised:
        RedisAclRotator.check_config(context_for(Strategy.ALTERNATING, admin=None))
    assert raised.value.tag == "rotation-strategy"


def test_registers_on_a_fresh_registry() -> None:
    registry = RotatorRegistry()
    registry.register(RedisAclRotator)
    assert registry.get("redis-acl") is RedisAclRotator


def test_default_policy_is_url_safe() -> None:
    password = RedisAclRotator.default_policy.generate()
    assert all(c.isalnum() or c in "-_.~" for c in password)


# ---------------------------------------------------------------------------- user names


@pytest.mark.parametrize("name", [None, "", "two words", "tab\there", "nl\nx", "nul\x00x"])
def test_bad_usernames_are_refused(name: str | None) -> None:
    with pytest.raises(ConfigurationError):
        check_username(name)


def test_spaced_username_is_refused_before_any_command(
    root: redis.Redis, admin: Credential
) -> None:
    name = f"evil user {secrets.token_hex(3)}"
    current = Credential(password="x" * 20, username=name)
    apply_refused(RedisAclRotator(context_for(admin=admin)), current, ConfigurationError)
    assert name not in root.acl_users()
    for part in name.split():
        assert part not in root.acl_users()


# ---------------------------------------------------------------------------- behaviour


def getuser(root: redis.Redis, name: str) -> dict[str, Any]:
    state = root.acl_getuser(name)
    assert state is not None
    return dict(state)


def test_multiple_adds_hash_and_keeps_permissions(
    root: redis.Redis, users: list[str], admin: Credential
) -> None:
    login = make_user(root, users, unique_name(), "~app:*", "+get", "+set")
    before = getuser(root, login.username or "")
    rotator = RedisAclRotator(context_for(admin=admin))
    try:
        candidate = rotator.apply(login, rotator.generate(login))
        after = getuser(root, login.username or "")
        assert sorted(after["passwords"]) == sorted(
            [password_hash(login.password), password_hash(candidate.password)]
        )
        for field in ("flags", "commands", "categories", "keys", "channels"):
            assert after[field] == before[field]
        rotator.retire(login, candidate)
        assert getuser(root, login.username or "")["passwords"] == [
            password_hash(candidate.password)
        ]
    finally:
        rotator.close()


def test_single_replaces_every_password(
    root: redis.Redis, users: list[str], admin: Credential
) -> None:
    login = make_user(root, users, unique_name())
    extra = RedisAclRotator.default_policy.generate()
    cmd(root, "ACL SETUSER", login.username or "", f">{extra}")
    rotator = RedisAclRotator(context_for(Strategy.SINGLE, admin=admin))
    try:
        candidate = rotator.apply(login, rotator.generate(login))
    finally:
        rotator.close()
    assert getuser(root, login.username or "")["passwords"] == [password_hash(candidate.password)]
    assert not redis_login(login.username, extra)
    assert not redis_login(login.username, login.password)


def test_missing_user_is_not_created(root: redis.Redis, admin: Credential) -> None:
    name = unique_name("ghost")
    apply_for_missing_user(RedisAclRotator(context_for(admin=admin)), name)
    assert root.acl_getuser(name) is None


def test_disabled_user_is_left_alone(
    root: redis.Redis, users: list[str], admin: Credential
) -> None:
    login = make_user(root, users, unique_name())
    cmd(root, "ACL SETUSER", login.username or "", "off")
    apply_refused(
        RedisAclRotator(context_for(admin=admin)), login, ConfigurationError, match="disabled"
    )
    state = getuser(root, login.username or "")
    assert "off" in state["flags"]
    assert state["passwords"] == [password_hash(login.password)]


def test_admin_without_acl_permission_is_a_configuration_error(
    root: redis.Redis, users: list[str]
) -> None:
    weak_admin = make_user(root, users, unique_name("weak"), "+ping")
    login = make_user(root, users, unique_name())
    raised = apply_refused(
        RedisAclRotator(context_for(admin=weak_admin)), login, ConfigurationError, match=r"\+acl"
    )
    assert raised.value.tag == "rotation-admin-secret"
    assert weak_admin.password not in str(raised.value)
    assert redis_login(login.username, login.password)


def test_missing_admin_is_a_configuration_error(root: redis.Redis, users: list[str]) -> None:
    login = make_user(root, users, unique_name())
    apply_refused(
        RedisAclRotator(context_for(admin=None)), login, ConfigurationError, match="admin"
    )


def test_retire_refuses_to_remove_the_last_password(
    admin_rotator: RedisAclRotator, login: Credential
) -> None:
    never_applied = admin_rotator.generate(login)
    with pytest.raises(RotationConflict):
        admin_rotator.retire(login, never_applied)
    assert redis_login(login.username, login.password)


def test_retire_of_same_password_is_a_no_op(
    admin_rotator: RedisAclRotator, login: Credential
) -> None:
    admin_rotator.retire(login, login)
    assert redis_login(login.username, login.password)


def test_different_users_are_refused(admin_rotator: RedisAclRotator, login: Credential) -> None:
    other = Credential(password="q" * 20, username=unique_name())
    with pytest.raises(ConfigurationError, match="different users"):
        admin_rotator.apply(login, other)


def test_down_target_verify_is_retryable() -> None:
    rotator = RedisAclRotator(context_for(admin=None, target=f"127.0.0.1:{free_port()}"))
    with pytest.raises(TargetUnavailable):
        rotator.verify(Credential(password="p" * 20, username="someone"))


# TLS (rediss://) against a local-CA server: tests/rotators/test_redis_tls.py
