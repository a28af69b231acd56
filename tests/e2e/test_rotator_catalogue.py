"""Every built-in rotator rotated end to end through function_app.py's Event Grid trigger.

For each rotator (postgres has its own file): the managed secret and its admin secret are
stored through the real ``SecretClient`` with the tags a user would write, Key Vault's clock
reaches the near-expiry window, the emulated Event Grid delivers ``SecretNearExpiry`` to the
``secret_near_expiry`` function, and the test checks, with its own connections to the real
target, that the new version is committed (``completed``, expiry = now + validity), that the
new credential works, and that the old one is dead or alive as the strategy says.

The last tests drive hostile user names (quotes, semicolons, spaces, backticks) through the
app against PostgreSQL and MariaDB and check that nothing was injected.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import pytest
from psycopg import sql

from emulators.arm import ArmEmulator
from rotation import tags as T
from rotation.policy import PasswordPolicy
from rotators.azure_sql_admin import REQUIRED_ROLE
from rotators.random_secret import RandomSecretRotator
from tests.e2e.catalogue_support import (
    MYSQL_TARGET,
    RABBIT_TARGET,
    REDIS_TARGET,
    LeakWatch,
    MySqlAccounts,
    RabbitUsers,
    RedisUsers,
    admin_tags,
    assert_rotated,
    datadog_key_valid,
    datadog_revoke,
    deliver_near_expiry,
    mysql_accounts,
    mysql_sql,
    put_secret,
    rabbit_logs_in,
    unique,
)
from tests.e2e.conftest import AppUnderTest, pg_logs_in
from tests.support.local_targets import create_pg_role, mysql_logs_in, redis_logs_in
from tests.support.pg_cluster import ScramCluster

# ---------------------------------------------------------------------------- fixtures


class _Made(Protocol):
    def drop_all(self) -> None: ...


def _dropped_after_test(name: str, factory: Callable[[], _Made]) -> Any:
    """A fixture ``name`` that yields ``factory()`` and drops what it made afterwards."""

    def made() -> Iterator[_Made]:
        accounts = factory()
        yield accounts
        accounts.drop_all()

    return pytest.fixture(name=name)(made)


mysql_accounts_made = _dropped_after_test("mysql_accounts_made", MySqlAccounts)
redis_users = _dropped_after_test("redis_users", RedisUsers)
rabbit_users = _dropped_after_test("rabbit_users", RabbitUsers)


@pytest.fixture
def leaks(caplog: pytest.LogCaptureFixture) -> Iterator[LeakWatch]:
    """Secret values a test registers must not appear in any log record of the test."""
    watch = LeakWatch(caplog)
    yield watch
    watch.check()


@pytest.fixture
def arm(app: AppUnderTest) -> ArmEmulator:
    """The session stack's ARM (management.azure.com), which the rotator reaches unchanged."""
    return app.vault.stack.arm


# ---------------------------------------------------------------------------- mysql


def test_mysql_single_rotates_through_event_grid(
    app: AppUnderTest, mysql_accounts_made: MySqlAccounts, leaks: LeakWatch
) -> None:
    user = unique("app")
    old = mysql_accounts_made.create(user)
    first = _put_login(
        app, "orders-mysql", user, old, tags={T.ROTATOR: "mysql", T.TARGET: MYSQL_TARGET}
    )

    assert len(deliver_near_expiry(app)) == 1

    new = assert_rotated(app, "orders-mysql", first)
    leaks.watch(old, new.value["password"])
    assert new.value["username"] == user
    assert new.value["password"] != old
    assert mysql_logs_in(user, new.value["password"])
    assert not mysql_logs_in(user, old), "single: the old password must stop working"


def test_mysql_alternating_rotates_to_the_clone(
    app: AppUnderTest, mysql_accounts_made: MySqlAccounts, leaks: LeakWatch
) -> None:
    admin = unique("madmin")
    admin_password = mysql_accounts_made.create(admin, admin=True)
    user = unique("app")
    old = mysql_accounts_made.create(user)
    admin_login = {"username": admin, "password": admin_password}
    first = _store_alternating(app, "mysql", MYSQL_TARGET, admin_login, "billing-mysql", user, old)

    deliver_near_expiry(app)

    new = assert_rotated(app, "billing-mysql", first)
    leaks.watch(admin_password, old, new.value["password"])
    assert new.value["username"] == f"{user}_clone"
    assert mysql_logs_in(new.value["username"], new.value["password"])
    assert mysql_logs_in(user, old), "alternating: the old login must stay alive"


# ---------------------------------------------------------------------------- redis-acl


def _redis_secrets(
    app: AppUnderTest, redis_users: RedisUsers, strategy: str | None
) -> tuple[str, str, str]:
    """An admin (+acl) and a managed user; returns (user, old password, first version)."""
    admin = unique("radmin")
    admin_password = redis_users.create(admin, "+acl")
    user = unique("cache")
    old = redis_users.create(user, "+ping")
    _put_login(
        app,
        "redis-admin",
        admin,
        admin_password,
        tags=admin_tags(REDIS_TARGET),
        expires_in_days=None,
    )
    tags = {T.ROTATOR: "redis-acl", T.TARGET: REDIS_TARGET, T.ADMIN_SECRET: "redis-admin"}
    if strategy:
        tags[T.STRATEGY] = strategy
    first = put_secret(app, "cache-redis", {"username": user, "password": old}, tags=tags)
    return user, old, first


def test_redis_multiple_adds_then_retires_the_old_password(
    app: AppUnderTest, redis_users: RedisUsers, leaks: LeakWatch
) -> None:
    user, old, first = _redis_secrets(app, redis_users, None)  # multiple is the default

    deliver_near_expiry(app)

    new = assert_rotated(app, "cache-redis", first)
    leaks.watch(old, new.value["password"])
    assert new.value["username"] == user
    assert redis_logs_in(user, new.value["password"])
    # With no consumers to wait for, the engine retires at once: the old password is removed.
    assert not redis_logs_in(user, old), "multiple: the old password must be retired"
    assert redis_users.password_count(user) == 1


def test_redis_single_replaces_the_password(app: AppUnderTest, redis_users: RedisUsers) -> None:
    user, old, first = _redis_secrets(app, redis_users, "single")

    deliver_near_expiry(app)

    new = assert_rotated(app, "cache-redis", first)
    assert redis_logs_in(user, new.value["password"])
    assert not redis_logs_in(user, old)
    assert redis_users.password_count(user) == 1


# ---------------------------------------------------------------------------- rabbitmq


def _rabbit_admin(app: AppUnderTest, rabbit_users: RabbitUsers) -> None:
    """A management user with the administrator tag, stored as ``rabbit-admin``."""
    admin = unique("qadmin")
    password = rabbit_users.create(admin, tags="administrator")
    _put_login(
        app, "rabbit-admin", admin, password, tags=admin_tags(RABBIT_TARGET), expires_in_days=None
    )


def test_rabbitmq_single_rotates_through_event_grid(
    app: AppUnderTest, rabbit_users: RabbitUsers, leaks: LeakWatch
) -> None:
    _rabbit_admin(app, rabbit_users)
    user = unique("svc")
    old = rabbit_users.create(user, tags="monitoring")
    first = _put_login(
        app,
        "events-rabbit",
        user,
        old,
        tags={T.ROTATOR: "rabbitmq", T.TARGET: RABBIT_TARGET, T.ADMIN_SECRET: "rabbit-admin"},
    )

    deliver_near_expiry(app)

    new = assert_rotated(app, "events-rabbit", first)
    leaks.watch(old, new.value["password"])
    assert new.value["username"] == user
    assert rabbit_logs_in(user, new.value["password"])
    assert not rabbit_logs_in(user, old)
    tags = rabbit_users.call("GET", f"users/{user}").json()["tags"]
    assert "monitoring" in (tags if isinstance(tags, list) else tags.split(","))


def test_rabbitmq_alternating_rotates_to_the_clone(
    app: AppUnderTest, rabbit_users: RabbitUsers
) -> None:
    _rabbit_admin(app, rabbit_users)
    user = unique("svc")
    old = rabbit_users.create(user)
    first = _put_login(
        app,
        "jobs-rabbit",
        user,
        old,
        tags={
            T.ROTATOR: "rabbitmq",
            T.TARGET: RABBIT_TARGET,
            T.ADMIN_SECRET: "rabbit-admin",
            T.STRATEGY: "alternating",
        },
    )

    deliver_near_expiry(app)

    new = assert_rotated(app, "jobs-rabbit", first)
    clone = f"{user}_clone"
    assert new.value["username"] == clone
    assert rabbit_logs_in(clone, new.value["password"])
    assert rabbit_logs_in(user, old), "alternating: the old login must stay alive"

    def rules(name: str) -> list[tuple[str, ...]]:
        return sorted(
            (p["vhost"], p["configure"], p["write"], p["read"])
            for p in rabbit_users.permissions(name)
        )

    assert rules(clone) == rules(user)


# ---------------------------------------------------------------------------- random


def test_random_secret_rotates_with_its_policy_tag(app: AppUnderTest, leaks: LeakWatch) -> None:
    first = put_secret(
        app,
        "webhook-signing",
        RandomSecretRotator.default_policy.generate(),
        tags={T.ROTATOR: "random", T.PASSWORD_POLICY: "length=48;symbols=0"},
    )
    old = app.client.get_secret("webhook-signing").value

    deliver_near_expiry(app)

    new = assert_rotated(app, "webhook-signing", first)
    leaks.watch(old or "", new.raw)
    assert new.raw != old
    policy = RandomSecretRotator.default_policy.overridden_by("length=48;symbols=0")
    assert policy.satisfied_by(new.raw), "the value must follow the rotation-password-policy tag"
    assert not any(c in PasswordPolicy().symbol_set for c in new.raw)


# ---------------------------------------------------------------------------- azure-sql-admin

SUBSCRIPTION = "6f1c1b1e-2a42-4c55-9d1b-0c4c6a1e2f30"
GROUP = "rg-catalogue"
LOGIN = "sqladmin"


def _sql_server(arm: ArmEmulator) -> tuple[str, str]:
    """A fresh logical server; returns (resource id, admin password)."""
    name = unique("sql").replace("_", "-")
    password = "Xy7-" + secrets.token_urlsafe(20)
    return arm.create_sql_server(SUBSCRIPTION, GROUP, name, LOGIN, password), password


def test_azure_sql_admin_resets_the_server_password(
    app: AppUnderTest, arm: ArmEmulator, leaks: LeakWatch
) -> None:
    server, old = _sql_server(arm)
    arm.assign_role(server, app.vault.identity.principal_id, REQUIRED_ROLE)
    first = _put_login(
        app, "sql-admin", LOGIN, old, tags={T.ROTATOR: "azure-sql-admin", T.TARGET: server}
    )

    deliver_near_expiry(app)

    new = assert_rotated(app, "sql-admin", first)
    leaks.watch(old, new.value["password"])
    assert new.value["username"] == LOGIN
    assert arm.sql_admin_password_matches(server, new.value["password"])
    assert not arm.sql_admin_password_matches(server, old)
    assert arm.sql_password_changes(server) == 1


def test_azure_sql_admin_without_the_role_changes_nothing(
    app: AppUnderTest, arm: ArmEmulator
) -> None:
    server, old = _sql_server(arm)  # no role assignment for the app's identity
    first = _put_login(
        app, "sql-admin", LOGIN, old, tags={T.ROTATOR: "azure-sql-admin", T.TARGET: server}
    )

    assert len(deliver_near_expiry(app)) == 1  # acknowledged: retrying cannot help

    assert app.client.get_secret("sql-admin").properties.version == first
    assert arm.sql_admin_password_matches(server, old)
    assert arm.sql_password_changes(server) == 0


# ---------------------------------------------------------------------------- http-api-key


def test_http_api_key_mints_a_new_key_and_revokes_the_old(
    app: AppUnderTest, leaks: LeakWatch
) -> None:
    datadog = app.vault.stack.datadog
    org = unique("org")
    org_api_key, application_key = datadog.create_org(org)
    old_key, old_id = datadog.add_api_key(org_api_key, "ingest")
    put_secret(
        app,
        "datadog-admin",
        {"password": org_api_key, "application_key": application_key},
        tags={T.ADMIN_FOR: "datadog-ingest"},
        expires_in_days=None,
    )
    first = put_secret(
        app,
        "datadog-ingest",
        {"password": old_key, "key_id": old_id, "key_name": "ingest"},
        tags={
            T.ROTATOR: "http-api-key",
            "rotation-profile": "datadog",
            T.ADMIN_SECRET: "datadog-admin",
        },
    )
    new: Any = None
    try:
        deliver_near_expiry(app)

        new = assert_rotated(app, "datadog-ingest", first)
        leaks.watch(org_api_key, application_key, old_key, new.value["password"])
        assert new.value["key_id"] != old_id
        assert new.value["key_name"].startswith("rotation-datadog-ingest-")
        assert new.value["last4"] == new.value["password"][-4:]
        assert datadog_key_valid(new.value["password"])
        assert not datadog_key_valid(old_key), "the old key must be revoked"
        assert not datadog.is_live(old_key)
        assert datadog.key_names(org_api_key) == sorted([f"{org}-admin", new.value["key_name"]])
    finally:
        if new is not None:
            datadog_revoke(org_api_key, application_key, new.value["key_id"])


# ---------------------------------------------------------------------------- hostile names


def _pg_roles(cluster: ScramCluster) -> set[str]:
    with cluster.connect() as conn:
        return {str(r[0]) for r in conn.execute("SELECT rolname FROM pg_catalog.pg_roles")}


def _new_pg_login(cluster: ScramCluster, name: str) -> str:
    """Create login role ``name`` with a fresh password (returned)."""
    password = secrets.token_urlsafe(24)
    with cluster.connect() as conn:
        create_pg_role(conn, name, password)
    return password


def _drop_pg_roles(cluster: ScramCluster, *names: str) -> None:
    with cluster.connect() as conn:
        for role in names:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_postgres_hostile_role_name_rotates_without_injection(
    app: AppUnderTest, scram_postgres: ScramCluster, leaks: LeakWatch
) -> None:
    """Alternating through the app with a role name built to break naive quoting."""
    name = f"""o'hara"; DROP ROLE {scram_postgres.superuser}; --  {secrets.token_hex(3)}"""
    clone = f"{name}_clone"
    old = _new_pg_login(scram_postgres, name)
    before = _pg_roles(scram_postgres)
    try:
        first = _store_alternating_pg(app, scram_postgres, "hostile-pg", name, old)

        deliver_near_expiry(app)

        new = assert_rotated(app, "hostile-pg", first)
        leaks.watch(scram_postgres.password, old, new.value["password"])
        assert new.value["username"] == clone
        assert pg_logs_in(scram_postgres, clone, new.value["password"])
        assert pg_logs_in(scram_postgres, name, old)
        after = _pg_roles(scram_postgres)
        assert after - before == {clone}, "nothing but the clone may appear"
        assert before <= after, "no role may disappear"
        with scram_postgres.connect() as conn:
            member = conn.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", [clone, name]).fetchone()
        assert member == (True,), "the clone must be a member of the original role"
    finally:
        _drop_pg_roles(scram_postgres, clone, name)


#: Names that test code generates (``unique``/``unique_name``: a word, ``_``, hex digits).
GENERATED_NAME = re.compile(r"^[a-z]+_[0-9a-f]{6,10}(?:_clone)?$")


def settled(accounts: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """``accounts`` without those of concurrently running tests (generated names)."""
    return {(user, host) for user, host in accounts if not GENERATED_NAME.match(user)}


def test_mysql_hostile_user_name_rotates_without_injection(
    app: AppUnderTest, mysql_accounts_made: MySqlAccounts, leaks: LeakWatch
) -> None:
    """Alternating through the app: the clone is created and the grants are replayed for a
    user name with quotes, a backtick, a backslash, semicolons and spaces."""
    database = unique("catdb")
    mysql_sql(f"CREATE DATABASE `{database}`")
    try:
        admin = unique("madmin")
        admin_password = mysql_accounts_made.create(admin, admin=True)
        token = secrets.token_hex(3)
        name = f"""o'b`r"\\; DROP USER 'root'@'%'; -- {token}"""
        old = mysql_accounts_made.create(name)
        mysql_sql(f"GRANT SELECT ON `{database}`.* TO %s@'%%'", (name,))
        before = mysql_accounts()
        admin_login = {"username": admin, "password": admin_password}
        first = _store_alternating(
            app, "mysql", MYSQL_TARGET, admin_login, "hostile-mysql", name, old
        )

        deliver_near_expiry(app)

        new = assert_rotated(app, "hostile-mysql", first)
        leaks.watch(admin_password, old, new.value["password"])
        clone = f"{name}_clone"
        assert new.value["username"] == clone
        assert mysql_logs_in(clone, new.value["password"])
        assert mysql_logs_in(name, old)
        after = mysql_accounts()
        # Accounts of other test runs on this shared server come and go meanwhile; they all
        # have generated names, which an injection through this user name cannot produce.
        assert settled(after) - settled(before) == {(clone, "%")}, "only the clone may appear"
        assert settled(before) <= settled(after), "no account may disappear"
        grants = [str(row[0]) for row in mysql_sql("SHOW GRANTS FOR %s@'%%'", (clone,))]
        assert any(f"ON `{database}`.*" in g and g.startswith("GRANT SELECT") for g in grants)
    finally:
        mysql_sql(f"DROP DATABASE IF EXISTS `{database}`")
        for user, host in mysql_accounts():  # whatever a broken rotator made of the name
            if token in user:
                mysql_sql("DROP USER %s@%s", (user, host))


def test_postgres_name_too_long_is_refused_and_nothing_changes(
    app: AppUnderTest, scram_postgres: ScramCluster
) -> None:
    """A name PostgreSQL would truncate (the clone's, 64+ bytes) is a ConfigurationError:
    the event is acknowledged, no version is written and no role is created."""
    name = ("x'; DROP TABLE t; --" + secrets.token_hex(20))[:60]
    old = _new_pg_login(scram_postgres, name)
    before = _pg_roles(scram_postgres)
    try:
        first = _store_alternating_pg(app, scram_postgres, "long-pg", name, old)

        assert len(deliver_near_expiry(app)) == 1

        assert app.client.get_secret("long-pg").properties.version == first
        assert _pg_roles(scram_postgres) == before
        assert pg_logs_in(scram_postgres, name, old)
    finally:
        _drop_pg_roles(scram_postgres, name)


def _put_login(
    app: AppUnderTest,
    secret: str,
    username: str,
    password: str,
    *,
    tags: dict[str, str],
    expires_in_days: float | None = 40,
) -> str:
    """Store the JSON login of ``username`` as ``secret`` with ``tags`` (as
    :func:`put_secret`); return the version."""
    login = {"username": username, "password": password}
    return put_secret(app, secret, login, tags=tags, expires_in_days=expires_in_days)


def _store_alternating(
    app: AppUnderTest,
    kind: str,
    target: str,
    admin: dict[str, str],
    secret: str,
    username: str,
    password: str,
) -> str:
    """Store an admin secret and an alternating ``kind`` secret using it; return its version."""
    put_secret(app, f"{kind}-admin", admin, tags=admin_tags(target), expires_in_days=None)
    return put_secret(
        app,
        secret,
        {"username": username, "password": password},
        tags={
            T.ROTATOR: kind,
            T.TARGET: target,
            T.STRATEGY: "alternating",
            T.ADMIN_SECRET: f"{kind}-admin",
        },
    )


def _store_alternating_pg(
    app: AppUnderTest, cluster: ScramCluster, secret: str, username: str, password: str
) -> str:
    """The admin and alternating secrets for a postgres role on ``cluster``."""
    admin = {"username": cluster.superuser, "password": cluster.password}
    return _store_alternating(app, "postgres", cluster.target, admin, secret, username, password)
