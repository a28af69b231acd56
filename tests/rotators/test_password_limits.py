"""Each rotator's declared password alphabet and length hold on its real server.

``unsafe_password_characters`` and ``max_password_length`` (rotation/rotator.py) tell the
engine which candidates a target can store and verify. For every rotator that declares no
unsafe character, a password of its maximum length made of every printable ASCII symbol,
the space and some non-ASCII letters is applied by the rotator, verified by it, and then
accepted by an independent test-side login.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterator

import pika
import pika.exceptions
import psycopg
import pymysql
import pytest
import redis
from psycopg import sql

from rotation.credential import Credential
from rotation.policy import PasswordPolicy
from rotation.rotator import Rotator, RotatorContext, Strategy
from rotation.testing import unique_name
from rotators.mysql import MySQLRotator
from rotators.postgres import PostgresRotator
from rotators.rabbitmq import RabbitMqRotator
from rotators.redis_acl import RedisAclRotator
from tests.rotators.test_rabbitmq import TARGET as RABBIT_TARGET
from tests.rotators.test_rabbitmq import Broker
from tests.support.pg_cluster import ScramCluster

#: Every printable ASCII symbol, the space, and letters outside ASCII.
HOSTILE_SYMBOLS = string.punctuation + " " + "éß€漢"


def _hostile(rotator: type[Rotator], length: int) -> PasswordPolicy:
    symbols = "".join(c for c in HOSTILE_SYMBOLS if c not in rotator.unsafe_password_characters)
    return PasswordPolicy(length=length, symbols=length // 2, symbol_set=symbols)


def _context(
    rotator: type[Rotator], target: str, length: int, admin: Credential | None = None
) -> RotatorContext:
    return RotatorContext(
        secret_name="limits",
        target=target,
        strategy=Strategy.SINGLE,
        policy=_hostile(rotator, length),
        admin=admin,
        options={"tls": "disable"} if rotator is MySQLRotator else {},
    )


def _rotate_and_check(
    rotator_class: type[Rotator],
    context: RotatorContext,
    current: Credential,
    logs_in: Callable[[Credential], bool],
) -> None:
    rotator = rotator_class(context)
    try:
        candidate = rotator.generate(current)
        length = context.policy.length
        # Long candidates carry every hostile symbol for sure (not just by chance).
        symbols = context.policy.symbol_set
        if length >= len(symbols) + 16:
            candidate = candidate.with_password(symbols + candidate.password[len(symbols) :])
        right_length = len(candidate.password) == length
        assert right_length is True  # (never print the password itself)
        rotator.apply(current, candidate)
        rotator.verify(candidate)
    finally:
        rotator.close()
    accepted = logs_in(candidate)
    truncated_refused = not logs_in(candidate.with_password(candidate.password[:-1]))
    assert (accepted, truncated_refused) == (True, True)


LENGTHS = [16, 255]


@pytest.mark.parametrize("length", [*LENGTHS, PostgresRotator.max_password_length])
def test_postgres(scram_postgres: ScramCluster, length: int) -> None:
    name = unique_name("lim")
    first = Credential(password=PasswordPolicy().generate(), username=name)
    with scram_postgres.connect() as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(first.password)
            )
        )

    def logs_in(credential: Credential) -> bool:
        try:
            with scram_postgres.connect(name, credential.password):
                return True
        except psycopg.OperationalError:
            return False

    try:
        context = _context(PostgresRotator, scram_postgres.target, length)
        _rotate_and_check(PostgresRotator, context, first, logs_in)
    finally:
        with scram_postgres.connect() as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def _mariadb_root() -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
    return pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True)


@pytest.mark.parametrize("length", [*LENGTHS, MySQLRotator.max_password_length, 1024])
def test_mysql(length: int) -> None:
    """MariaDB 10.11 stores and verifies 1 KiB; the declared limit is MySQL 8's (256).

    Logins send the password as UTF-8 (PyMySQL would send a ``str`` as Latin-1)."""
    name = unique_name("lim")
    first = Credential(password=PasswordPolicy().generate(), username=name)
    root = _mariadb_root()
    with root.cursor() as cursor:
        cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (name, first.password))

    def logs_in(credential: Credential) -> bool:
        try:
            pymysql.connect(
                host="127.0.0.1", port=3306, user=name, password=credential.password.encode()
            ).close()
            return True
        except pymysql.err.OperationalError:
            return False

    try:
        context = _context(MySQLRotator, "127.0.0.1:3306", length)
        _rotate_and_check(MySQLRotator, context, first, logs_in)
    finally:
        with root.cursor() as cursor:
            cursor.execute("DROP USER IF EXISTS %s@'%%'", (name,))
        root.close()


@pytest.fixture
def redis_root() -> Iterator[redis.Redis]:
    client = redis.Redis(host="127.0.0.1", port=6379, decode_responses=True)
    made: list[str] = []
    client.made = made  # type: ignore[attr-defined]
    yield client
    if made:
        client.execute_command("ACL DELUSER", *made)  # type: ignore[no-untyped-call]
    client.close()


@pytest.mark.parametrize("length", [*LENGTHS, RedisAclRotator.max_password_length])
def test_redis(redis_root: redis.Redis, length: int) -> None:
    made: list[str] = redis_root.made  # type: ignore[attr-defined]
    admin = Credential(password=PasswordPolicy().generate(), username=unique_name("ladm"))
    first = Credential(password=PasswordPolicy().generate(), username=unique_name("lim"))
    for cred, rule in ((admin, "+acl"), (first, "+ping")):
        made.append(cred.username or "")
        redis_root.execute_command(  # type: ignore[no-untyped-call]
            "ACL SETUSER", cred.username, "reset", "on", f">{cred.password}", rule
        )

    def logs_in(credential: Credential) -> bool:
        conn = redis.Connection(  # type: ignore[no-untyped-call]
            host="127.0.0.1", port=6379, username=credential.username, password=credential.password
        )
        try:
            conn.connect()  # type: ignore[no-untyped-call]
            return True
        except redis.AuthenticationError:
            return False
        finally:
            conn.disconnect()  # type: ignore[no-untyped-call]

    context = _context(RedisAclRotator, "127.0.0.1:6379", length, admin)
    _rotate_and_check(RedisAclRotator, context, first, logs_in)


@pytest.mark.parametrize("length", [*LENGTHS, RabbitMqRotator.max_password_length])
def test_rabbitmq(length: int) -> None:
    broker = Broker()
    try:
        admin = broker.make_user(unique_name("ladm"), tags="administrator", vhost=None)
        first = broker.make_user(unique_name("lim"))

        def logs_in(credential: Credential) -> bool:
            parameters = pika.ConnectionParameters(
                host="127.0.0.1",
                port=5672,
                credentials=pika.PlainCredentials(credential.username or "", credential.password),
                connection_attempts=1,
                socket_timeout=5,
            )
            try:
                pika.BlockingConnection(parameters).close()
                return True
            except pika.exceptions.ProbableAuthenticationError:
                return False

        context = _context(RabbitMqRotator, RABBIT_TARGET, length, admin)
        _rotate_and_check(RabbitMqRotator, context, first, logs_in)
    finally:
        broker.cleanup()
