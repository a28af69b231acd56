"""The ``redis-acl`` rotator over ``rediss://`` against a TLS-only redis-server (local CA)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from rotation.credential import Credential
from rotation.errors import ConfigurationError, VerificationFailed
from rotation.rotator import RotatorContext, Strategy
from rotation.testing import unique_name
from rotators.redis_acl import RedisAclRotator, password_hash
from tests.support.local_targets import redis_set_user
from tests.support.redis_tls import TlsRedis
from tests.support.rotator_tests import rotator_context
from tests.support.tls import WRONG_HOST, ServerCA


def _context(
    target: str, options: dict[str, str] | None = None, *, admin: Credential | None = None
) -> RotatorContext:
    return rotator_context(
        RedisAclRotator,
        "redis-tls",
        target,
        strategy=Strategy.MULTIPLE,
        admin=admin,
        options=options,
    )


@pytest.fixture(scope="module")
def root(tls_redis_server: TlsRedis) -> Iterator[redis.Redis]:
    client = tls_redis_server.client()
    yield client
    client.close()


def _user(root: redis.Redis, made: list[str], prefix: str, *rules: str) -> Credential:
    name = unique_name(prefix)
    password = RedisAclRotator.default_policy.generate()
    made.append(name)
    redis_set_user(root, name, password, *rules)
    return Credential(password=password, username=name)


@pytest.fixture
def logins(root: redis.Redis) -> Iterator[tuple[Credential, Credential]]:
    """An admin (+acl) and a login user, deleted afterwards."""
    made: list[str] = []
    admin = _user(root, made, "radmin", "+acl")
    login = _user(root, made, "rlogin")
    yield admin, login
    root.execute_command("ACL DELUSER", *made)  # type: ignore[no-untyped-call]


def test_rotates_over_verified_tls(
    tls_redis_server: TlsRedis,
    server_ca: ServerCA,
    root: redis.Redis,
    logins: tuple[Credential, Credential],
) -> None:
    admin, login = logins
    context = _context(tls_redis_server.target(), {"tls-ca": str(server_ca.ca_path)}, admin=admin)
    rotator = RedisAclRotator(context)
    try:
        applied = rotator.apply(login, rotator.generate(login))
        rotator.verify(applied)
        with pytest.raises(VerificationFailed):
            rotator.verify(login.with_password(login.password + "x"))
        rotator.retire(login, applied)
    finally:
        rotator.close()
    state = root.acl_getuser(login.username or "")
    assert state is not None and state["passwords"] == [password_hash(applied.password)]


@pytest.mark.parametrize("case", ["wrong CA", "wrong host name", "system store", "CA added"])
def test_unverified_server_is_a_configuration_error(
    tls_redis_server: TlsRedis,
    server_ca: ServerCA,
    wrong_ca: Path,
    root: redis.Redis,
    logins: tuple[Credential, Credential],
    case: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin, login = logins
    monkeypatch.delenv("ROTATION_TLS_CA_FILE", raising=False)
    target, options = {
        "wrong CA": (tls_redis_server.target(), {"tls-ca": str(wrong_ca)}),
        "wrong host name": (
            tls_redis_server.target(WRONG_HOST),
            {"tls-ca": str(server_ca.ca_path)},
        ),
        "system store": (tls_redis_server.target(), {}),
        # The system store trusts the server's CA, the tag names another: only the tag counts
        # (redis-py on its own would trust both).
        "CA added": (tls_redis_server.target(), {"tls-ca": str(wrong_ca)}),
    }[case]
    if case == "CA added":
        monkeypatch.setenv("SSL_CERT_FILE", str(server_ca.ca_path))
    rotator = RedisAclRotator(_context(target, options, admin=admin))
    try:
        candidate = rotator.generate(login)
        with pytest.raises(ConfigurationError) as raised:
            rotator.apply(login, candidate)
        assert raised.value.tag == "rotation-tls-ca"
        for value in (admin.password, login.password, candidate.password):
            assert value not in f"{raised.value} {raised.value!r}"
        with pytest.raises(ConfigurationError):
            rotator.verify(login)
    finally:
        rotator.close()
    state = root.acl_getuser(login.username or "")
    assert state is not None and state["passwords"] == [password_hash(login.password)]


# ------------------------------------------------------------------ configuration (no I/O)


@pytest.mark.parametrize(
    ("target", "options", "tag"),
    [
        ("redis://cache.example.net:6379", {}, "rotation-target"),
        ("cache.example.net:6379", {}, "rotation-target"),
        ("redis://127.0.0.1:6379", {"tls-ca": "system"}, "rotation-target"),
        ("rediss://cache.example.net:6380", {"tls-ca": "ca.pem"}, "rotation-tls-ca"),
    ],
)
def test_cleartext_or_contradictory_targets_are_refused(
    target: str, options: dict[str, str], tag: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        RedisAclRotator.check_config(_context(target, options))
    assert raised.value.tag == tag


@pytest.mark.parametrize(
    "target", ["127.0.0.1:6379", "redis://localhost:6379", "redis://[::1]:6379", "rediss://c:1"]
)
def test_loopback_plain_and_any_tls_target_are_accepted(target: str) -> None:
    RedisAclRotator.check_config(_context(target))
