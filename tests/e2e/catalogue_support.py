"""Helpers for tests/e2e/test_rotator_catalogue.py: Key Vault set-up, the Event Grid round
trip, and test-side access to each real target (independent of the rotators under test).

Test code talks to each target with its own connection as that target's superuser (MariaDB
``root``, Redis ``default``, RabbitMQ ``guest``), quoting names properly, so a rotator bug
cannot hide behind a shared helper.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pika
import pika.exceptions
import pymysql
import pymysql.cursors
import pytest
import redis
import requests

from rotation import tags as T
from rotation.config import DEFAULT_VALIDITY_DAYS
from rotation.states import RotationState
from tests.e2e.conftest import AppUnderTest

NEAR_EXPIRY = "Microsoft.KeyVault.SecretNearExpiry"
JSON = "application/json"
#: Slack allowed between the engine's "now" and the test's when checking a new expiry.
EXPIRY_SLACK = timedelta(minutes=5)


def unique(prefix: str) -> str:
    """A name no earlier run used (reruns against the same servers never collide)."""
    return f"{prefix}_{secrets.token_hex(4)}"


# ---------------------------------------------------------------------------- Key Vault


def admin_tags(target: str) -> dict[str, str]:
    """Tags of the admin secrets these tests store: usable by any managed secret in the
    vault, pinned to ``target`` (``*`` without a pin is refused)."""
    return {T.ADMIN_FOR: "*", T.TARGET: target}


def put_secret(
    app: AppUnderTest,
    name: str,
    value: Mapping[str, Any] | str,
    *,
    tags: Mapping[str, str] | None = None,
    expires_in_days: float | None = 40,
) -> str:
    """Store ``value`` (JSON for a mapping) through the real SDK; return the version.

    The expiry is set on the emulated clock (which Key Vault's events are judged on), so
    the secret is not yet near expiry whatever earlier tests did to the clock. ``None``:
    no expiry (admin secrets, which are not rotated here).
    """
    is_json = not isinstance(value, str)
    expires_on = None
    if expires_in_days is not None:
        expires_on = app.vault.stack.clock.now() + timedelta(days=expires_in_days)
    secret = app.client.set_secret(
        name,
        json.dumps(value) if is_json else str(value),
        content_type=JSON if is_json else None,
        expires_on=expires_on,
        tags=dict(tags) if tags else None,
    )
    return secret.properties.version or ""


def deliver_near_expiry(app: AppUnderTest) -> list[str]:
    """Let Key Vault's clock reach the near-expiry window and deliver the resulting
    ``SecretNearExpiry`` events through the emulated Event Grid to the function app's
    Event Grid trigger. Returns the ids of the delivered events; asserts none dead-lettered.
    """
    subscription = app.event_grid.subscribe(
        app.vault.name, event_types=[NEAR_EXPIRY], handler=app.deliver_to_function
    )
    try:
        app.vault.stack.clock.advance(timedelta(days=15))
        app.event_grid.check_expiry()
        app.event_grid.flush()
    finally:
        app.event_grid.unsubscribe(subscription)
    assert not subscription.dead_letters, "the function failed to handle an event"
    return subscription.delivered_ids()


@dataclass(frozen=True)
class Committed:
    """The current version of a managed secret after a rotation."""

    version: str
    value: dict[str, Any]
    raw: str
    tags: dict[str, str]
    expires_on: datetime


def assert_rotated(
    app: AppUnderTest, name: str, previous: str, *, validity_days: int = DEFAULT_VALIDITY_DAYS
) -> Committed:
    """Assert that ``name`` has a new, completed version that replaced ``previous`` and
    expires ``validity_days`` from now; return it."""
    secret = app.client.get_secret(name)
    props = secret.properties
    assert props.version and props.version != previous, "no new version was committed"
    tags = dict(props.tags or {})
    assert tags.get(T.STATE) == RotationState.COMPLETED, tags.get(T.STATE)
    assert tags.get(T.PREVIOUS_VERSION) == previous
    assert props.expires_on is not None
    expected = datetime.now(UTC) + timedelta(days=validity_days)
    assert abs(props.expires_on - expected) < EXPIRY_SLACK, props.expires_on
    raw = secret.value or ""
    value = json.loads(raw) if (props.content_type or "").startswith(JSON) else {}
    return Committed(props.version, value, raw, tags, props.expires_on)


class LeakWatch:
    """Collects secret values during a test; :meth:`check` asserts that no log record of
    the whole rotation (every logger, DEBUG and up) contains one of them."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG)
        self._caplog = caplog
        self._values: set[str] = set()

    def watch(self, *values: str) -> None:
        """Values that must never be logged (empty strings are ignored)."""
        self._values.update(v for v in values if v)

    def check(self) -> None:
        records = self._caplog.get_records("call")
        assert any(r.name.startswith("rotation") for r in records), "no engine log captured"
        for record in records:
            text = record.getMessage() + (record.exc_text or "")
            for value in self._values:
                assert value not in text, f"a secret value leaked into a log of {record.name}"


# ---------------------------------------------------------------------------- MariaDB

MYSQL_HOST, MYSQL_PORT = "127.0.0.1", 3306
MYSQL_TARGET = f"{MYSQL_HOST}:{MYSQL_PORT}"


def mysql_root() -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
    """A connection as MariaDB's ``root`` (no password on these machines)."""
    return pymysql.connect(
        host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="", autocommit=True
    )


def mysql_sql(statement: str, args: tuple[str, ...] | None = None) -> list[tuple[Any, ...]]:
    """Run one statement as root, values bound by PyMySQL."""
    conn = mysql_root()
    try:
        with conn.cursor() as cursor:
            cursor.execute(statement, args)
            return list(cursor.fetchall())
    finally:
        conn.close()


def mysql_accounts() -> set[tuple[str, str]]:
    """Every ``(user, host)`` account on the server."""
    return {(str(u), str(h)) for u, h in mysql_sql("SELECT User, Host FROM mysql.user")}


def mysql_logs_in(username: str, password: str) -> bool:
    """Whether MariaDB accepts this login as exactly that account (1045 -> False)."""
    try:
        conn = pymysql.connect(
            host=MYSQL_HOST,
            port=MYSQL_PORT,
            user=username,
            password=password,
            connect_timeout=5,
        )
    except pymysql.err.OperationalError as error:
        if error.args and error.args[0] == 1045:
            return False
        raise
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT CURRENT_USER()")
            row = cursor.fetchone()
    finally:
        conn.close()
    assert row is not None and str(row[0]).rpartition("@")[0] == username
    return True


@dataclass
class MySqlAccounts:
    """Creates MariaDB accounts (``'name'@'%'``) and drops them and their clones at the end."""

    made: list[str] = field(default_factory=list)

    def create(self, name: str, *, admin: bool = False) -> str:
        """Create ``name`` with a fresh password (returned); ``admin`` grants everything."""
        password = "Aa1-" + secrets.token_urlsafe(24)
        self.made.append(name)
        mysql_sql("CREATE USER %s@'%%' IDENTIFIED BY %s", (name, password))
        if admin:
            mysql_sql("GRANT ALL PRIVILEGES ON *.* TO %s@'%%' WITH GRANT OPTION", (name,))
        return password

    def drop_all(self) -> None:
        for name in self.made:
            for user in (f"{name}_clone", name):
                mysql_sql("DROP USER IF EXISTS %s@'%%'", (user,))


# ---------------------------------------------------------------------------- Redis

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_TARGET = f"{REDIS_HOST}:{REDIS_PORT}"


@contextmanager
def redis_root() -> Iterator[redis.Redis]:
    """A connection as Redis's ``default`` user (no password on these machines)."""
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, decode_responses=True, socket_timeout=5)
    try:
        yield client
    finally:
        client.close()


def redis_logs_in(username: str, password: str) -> bool:
    """Whether Redis accepts ``AUTH username password`` on a fresh connection."""
    connection = redis.Connection(  # type: ignore[no-untyped-call]
        host=REDIS_HOST, port=REDIS_PORT, username=username, password=password, socket_timeout=5
    )
    try:
        connection.connect()  # type: ignore[no-untyped-call]
    except redis.AuthenticationError:
        return False
    finally:
        connection.disconnect()  # type: ignore[no-untyped-call]
    return True


@dataclass
class RedisUsers:
    """Creates enabled Redis ACL users and deletes them at the end."""

    made: list[str] = field(default_factory=list)

    def create(self, name: str, *rules: str) -> str:
        """Create ``name`` with one fresh password (returned) and ``rules``."""
        password = secrets.token_urlsafe(32)
        self.made.append(name)
        with redis_root() as root:
            root.execute_command(  # type: ignore[no-untyped-call]
                "ACL", "SETUSER", name, "reset", "on", f">{password}", *rules
            )
        return password

    def password_count(self, name: str) -> int:
        """How many passwords the user has now."""
        with redis_root() as root:
            info = root.acl_getuser(name)
        assert info is not None, f"Redis user {name} is gone"
        passwords = info["passwords"]
        assert isinstance(passwords, list)
        return len(passwords)

    def drop_all(self) -> None:
        if self.made:
            with redis_root() as root:
                root.execute_command("ACL", "DELUSER", *self.made)  # type: ignore[no-untyped-call]


# ---------------------------------------------------------------------------- RabbitMQ

RABBIT_HOST = "127.0.0.1"
RABBIT_MANAGEMENT = f"http://{RABBIT_HOST}:15672"
RABBIT_TARGET = f"amqp://{RABBIT_HOST}:5672/%2F?management={RABBIT_MANAGEMENT}"


def rabbit_logs_in(username: str, password: str) -> bool:
    """Whether the broker accepts an AMQP login to vhost ``/`` (refused -> False)."""
    parameters = pika.ConnectionParameters(
        host=RABBIT_HOST,
        port=5672,
        virtual_host="/",
        credentials=pika.PlainCredentials(username, password),
        connection_attempts=1,
        socket_timeout=5,
    )
    try:
        connection = pika.BlockingConnection(parameters)
    except (pika.exceptions.ProbableAuthenticationError, pika.exceptions.AuthenticationError):
        return False
    connection.close()
    return True


@dataclass
class RabbitUsers:
    """Creates RabbitMQ users through the management API as ``guest``; deletes them (and
    their clones) at the end. Never proxied, whatever the environment says."""

    made: list[str] = field(default_factory=list)
    http: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.http.trust_env = False
        self.http.auth = ("guest", "guest")

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        response = self.http.request(
            method, f"{RABBIT_MANAGEMENT}/api/{path}", json=body, timeout=10
        )
        if response.status_code >= 400 and not (method == "DELETE" and response.status_code == 404):
            raise AssertionError(f"{method} {path}: HTTP {response.status_code}")
        return response

    def create(self, name: str, *, tags: str = "") -> str:
        """Create ``name`` with a fresh password (returned), full permissions on ``/``."""
        password = secrets.token_urlsafe(24)
        self.made.append(name)
        user = quote(name, safe="")
        self.call("PUT", f"users/{user}", {"password": password, "tags": tags})
        self.call(
            "PUT", f"permissions/%2F/{user}", {"configure": ".*", "write": ".*", "read": ".*"}
        )
        return password

    def permissions(self, name: str) -> list[dict[str, Any]]:
        body: list[dict[str, Any]] = self.call(
            "GET", f"users/{quote(name, safe='')}/permissions"
        ).json()
        return body

    def drop_all(self) -> None:
        for name in self.made:
            for user in (f"{name}_clone", name):
                self.call("DELETE", f"users/{quote(user, safe='')}")
        self.http.close()


# ---------------------------------------------------------------------------- Datadog

DATADOG = "https://api.datadoghq.com"


def datadog_key_valid(key: str) -> bool:
    """Datadog's own check of an API key (``GET /api/v1/validate``), through the proxy."""
    response = requests.get(f"{DATADOG}/api/v1/validate", headers={"DD-API-KEY": key}, timeout=10)
    if response.status_code == 200 and response.json() == {"valid": True}:
        return True
    if response.status_code == 403:
        return False
    raise AssertionError(f"unexpected validate answer: HTTP {response.status_code}")


def datadog_revoke(admin_api_key: str, application_key: str, key_id: str) -> None:
    """Revoke an API key by id as the organization's admin (404: already gone)."""
    response = requests.delete(
        f"{DATADOG}/api/v2/api_keys/{quote(key_id, safe='')}",
        headers={"DD-API-KEY": admin_api_key, "DD-APPLICATION-KEY": application_key},
        timeout=10,
    )
    assert response.status_code in (200, 204, 404), response.status_code
