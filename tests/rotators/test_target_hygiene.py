"""Every target parser in rotators/ refuses hostile targets permanently, without echoing them.

Issue 10, finding 5: a ``rotation-target`` such as ``app:S3cr3t!@db:5432/app`` was echoed in
full in errors; finding 6: a target with a NUL was a retryable ``TargetUnavailable`` forever.
"""

from __future__ import annotations

import pytest

from rotation.errors import ConfigurationError
from rotation.policy import PasswordPolicy
from rotation.rotator import Rotator, RotatorContext, Strategy
from rotation.targets import MAX_TARGET_LENGTH, without_userinfo
from rotators.http_api_key.rotator import HttpApiKeyRotator
from rotators.ldap import LdapRotator
from rotators.mysql import MySQLRotator
from rotators.postgres import PostgresRotator
from rotators.rabbitmq import RabbitMqRotator
from rotators.redis_acl import RedisAclRotator

SECRET = "S3cr3t!"

#: (rotator, a well-formed target, targets carrying SECRET as a password)
CASES: list[tuple[type[Rotator], str, list[str]]] = [
    (
        PostgresRotator,
        "db.example.com:5432/app",
        [
            f"app:{SECRET}@db:5432/app",
            f"app:{SECRET}@[::1]:5432/app",
            f"postgresql://app:{SECRET}@db/app",
        ],
    ),
    (MySQLRotator, "db.example.com:3306", [f"app:{SECRET}@db:3306", f"app:{SECRET}@db"]),
    (
        RedisAclRotator,
        "rediss://cache.example.com:6380",
        [f"rediss://app:{SECRET}@cache:6380", f":{SECRET}@cache:6380", f"rediss://:{SECRET}@[bad"],
    ),
    (
        RabbitMqRotator,
        "amqps://mq.example.com",
        [
            f"amqps://app:{SECRET}@mq.example.com",
            f"amqps://mq.example.com?management=https://app:{SECRET}@mq.example.com",
            f"amqps://app:{SECRET}@[bad",
        ],
    ),
    (
        HttpApiKeyRotator,
        "https://api.datadoghq.eu",
        [f"https://app:{SECRET}@api.example.com", f"https://app:{SECRET}@[bad"],
    ),
    (
        LdapRotator,
        "ldaps://dir.example.com/ou=people,dc=example,dc=com",
        [
            f"ldaps://app:{SECRET}@dir/dc=x",
            f"ldap://cn=a:{SECRET}@dir/dc=x",
            f"ldaps://:{SECRET}@[bad",
        ],
    ),
]

IDS = [rotator.kind for rotator, _, _ in CASES]


def _context(rotator: type[Rotator], target: str) -> RotatorContext:
    options = {"profile": "datadog"} if rotator is HttpApiKeyRotator else {}
    return RotatorContext(
        secret_name="hostile",
        target=target,
        strategy=rotator.strategies[0],
        policy=PasswordPolicy(),
        options=options,
    )


def _refused(rotator: type[Rotator], target: str) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as raised:
        rotator.check_config(_context(rotator, target))
    assert raised.value.tag == "rotation-target"
    assert raised.value.secret == "hostile"
    return raised.value


@pytest.mark.parametrize(("rotator", "good", "with_credentials"), CASES, ids=IDS)
def test_the_good_target_is_accepted(
    rotator: type[Rotator], good: str, with_credentials: list[str]
) -> None:
    rotator.check_config(_context(rotator, good))


@pytest.mark.parametrize(("rotator", "good", "with_credentials"), CASES, ids=IDS)
def test_embedded_credentials_are_refused_and_never_echoed(
    rotator: type[Rotator], good: str, with_credentials: list[str]
) -> None:
    for target in with_credentials:
        error = _refused(rotator, target)
        text = f"{error} {error!r} {error.args!r}"
        assert SECRET not in text and "S3cr3t" not in text, target
        assert error.__cause__ is None
        assert error.__context__ is None or error.__suppress_context__


@pytest.mark.parametrize(("rotator", "good", "with_credentials"), CASES, ids=IDS)
@pytest.mark.parametrize("bad", ["\x00", "\n", "\r", "\t", "\x1b", "\u200b", "\u202e", "\x7f"])
def test_control_characters_are_permanent_errors(
    rotator: type[Rotator], good: str, with_credentials: list[str], bad: str
) -> None:
    for target in (good + bad, bad + good, good[:5] + bad + good[5:]):
        error = _refused(rotator, target)
        assert bad not in str(error)


@pytest.mark.parametrize(("rotator", "good", "with_credentials"), CASES, ids=IDS)
def test_absurdly_long_targets_are_permanent_errors(
    rotator: type[Rotator], good: str, with_credentials: list[str]
) -> None:
    error = _refused(rotator, good + "a" * MAX_TARGET_LENGTH)
    assert "a" * 100 not in str(error)


def test_without_userinfo_hides_every_form() -> None:
    assert without_userinfo(f"app:{SECRET}@db:5432/app") == "[REDACTED]@db:5432/app"
    assert SECRET not in without_userinfo(f"https://u:{SECRET}@h/x?m=http://v:{SECRET}@i")


@pytest.mark.parametrize("rotator", [PostgresRotator, MySQLRotator], ids=["postgres", "mysql"])
@pytest.mark.parametrize(
    "username",
    ["u\x00x", "line\nbreak", "\ud800surrogate", "x" * 20_000],
    ids=["nul", "newline", "lone-surrogate", "20000-chars"],
)
def test_hostile_user_names_are_permanent_errors_in_verify(
    rotator: type[Rotator], username: str
) -> None:
    """No connection is tried: a name the server cannot hold is a configuration error."""
    from rotation.credential import Credential

    target = "127.0.0.1:1/db" if rotator is PostgresRotator else "127.0.0.1:1"
    instance = rotator(
        RotatorContext(
            secret_name="hostile", target=target, strategy=Strategy.SINGLE, policy=PasswordPolicy()
        )
    )
    with pytest.raises(ConfigurationError) as raised:
        instance.verify(Credential(password="p" * 20, username=username))
    assert len(str(raised.value)) < 400


LOOPBACK_TARGETS: list[tuple[type[Rotator], str]] = [
    (PostgresRotator, "127.0.0.1:5432/postgres"),
    (MySQLRotator, "127.0.0.1:3306"),
    (RedisAclRotator, "127.0.0.1:6379"),
    (RabbitMqRotator, "amqp://127.0.0.1:5672/%2F?management=http://127.0.0.1:15672"),
]


@pytest.mark.parametrize(
    ("rotator", "target"), LOOPBACK_TARGETS, ids=[r.kind for r, _ in LOOPBACK_TARGETS]
)
def test_a_password_the_driver_cannot_encode_is_a_configuration_error(
    rotator: type[Rotator], target: str
) -> None:
    """A lone surrogate reaches the driver's encoder: never a raw UnicodeEncodeError."""
    from rotation.credential import Credential

    instance = rotator(
        RotatorContext(
            secret_name="hostile",
            target=target,
            strategy=Strategy.SINGLE if rotator is not RedisAclRotator else Strategy.MULTIPLE,
            policy=PasswordPolicy(),
            admin=Credential(password="\ud800" + "a" * 20, username="guest"),
        )
    )
    try:
        with pytest.raises(ConfigurationError):
            instance.verify(Credential(password="\udfff" + "b" * 20, username="someone"))
    finally:
        instance.close()


@pytest.mark.parametrize("bad", ["\x00", "\n", "\u202e"])
def test_azure_sql_resource_id_with_control_characters_is_refused(bad: str) -> None:
    from rotators.azure_sql_admin import parse_target

    good = (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg"
        "/providers/Microsoft.Sql/servers/sql1"
    )
    parse_target(good)
    for target in (good + bad, good[:20] + bad + good[20:], good + "x" * 1100):
        with pytest.raises(ConfigurationError) as raised:
            parse_target(target, secret="hostile")
        assert raised.value.tag == "rotation-target"
