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
import pytest
import redis
import requests

from rotation import defaults as D
from rotation import tags as T
from rotation.states import RotationState
from rotation.testing import LeakWatch as ContractLeakWatch
from tests.e2e.conftest import AppUnderTest
from tests.support.local_targets import (
    MYSQL_HOST,
    MYSQL_PORT,
    REDIS_HOST,
    REDIS_PORT,
    mysql_root,
    redis_set_user,
    run_sql,
)

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
    with app.near_expiry_subscription() as subscription:
        app.reach_near_expiry()
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
    app: AppUnderTest, name: str, previous: str, *, validity_days: int = D.VALIDITY_DAYS
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


class LeakWatch(ContractLeakWatch):
    """The contract suite's leak watch (``rotation.testing.LeakWatch``) over a whole
    rotation: every logger from DEBUG up, and checked from a fixture's teardown, so it reads
    the records of the test's call phase and asserts that the engine logged at all."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG)
        super().__init__(caplog)
        self._call_caplog = caplog

    def watch(self, *values: str) -> None:
        """Values that must never be logged (empty strings are ignored)."""
        self.secret(*values)

    def check(self) -> None:
        records = self._call_caplog.get_records("call")
        assert any(r.name.startswith("rotation") for r in records), "no engine log captured"
        formatter = logging.Formatter()
        for record in records:
            self.text(formatter.format(record))
        super().check()


# ---------------------------------------------------------------------------- MariaDB

MYSQL_TARGET = f"{MYSQL_HOST}:{MYSQL_PORT}"


def mysql_sql(statement: str, args: tuple[str, ...] | None = None) -> list[tuple[Any, ...]]:
    """Run one statement as root, values bound by PyMySQL."""
    return run_sql(mysql_root, statement, args)


def mysql_accounts() -> set[tuple[str, str]]:
    """Every ``(user, host)`` account on the server."""
    return {(str(u), str(h)) for u, h in mysql_sql("SELECT User, Host FROM mysql.user")}


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

REDIS_TARGET = f"{REDIS_HOST}:{REDIS_PORT}"


@contextmanager
def redis_root() -> Iterator[redis.Redis]:
    """A connection as Redis's ``default`` user (no password on these machines)."""
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, decode_responses=True, socket_timeout=5)
    try:
        yield client
    finally:
        client.close()


@dataclass
class RedisUsers:
    """Creates enabled Redis ACL users and deletes them at the end."""

    made: list[str] = field(default_factory=list)

    def create(self, name: str, *rules: str) -> str:
        """Create ``name`` with one fresh password (returned) and ``rules``."""
        password = secrets.token_urlsafe(32)
        self.made.append(name)
        with redis_root() as root:
            redis_set_user(root, name, password, *rules)
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
