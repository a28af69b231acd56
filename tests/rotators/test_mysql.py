"""The ``mysql`` rotator against the real MariaDB on 127.0.0.1:3306."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pymysql
import pytest

from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import ConfigurationError, RotationConflict
from rotation.outcome import RotationRequest, Status, Trigger
from rotation.rotator import RotatorContext, Strategy, alternate_username
from rotation.testing import RotatorContract, unique_name
from rotators.mysql import MySQLRotator, quote_identifier, rendered_account
from tests.engine.fakes import MemoryStore
from tests.support.engines import quick_engine
from tests.support.local_targets import mysql_logs_in, run_sql
from tests.support.rotator_tests import LocalContract, rotator_context

HOST = "127.0.0.1"
PORT = 3306
TARGET = f"{HOST}:{PORT}"


def _root() -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
    try:
        return pymysql.connect(host=HOST, port=PORT, user="root", password="", autocommit=True)
    except pymysql.err.OperationalError as error:  # pragma: no cover - environment
        pytest.skip(f"MariaDB on {TARGET} not usable as root: {error}")


def _sql(statement: str, args: tuple[str, ...] | None = None) -> list[tuple[object, ...]]:
    return run_sql(_root, statement, args)


def _drop_user(name: str) -> None:
    _sql("DROP USER IF EXISTS %s@%s", (name, "%"))


def _logs_in(credential: Credential, database: str | None = None) -> bool:
    username = credential.username or ""
    return mysql_logs_in(username, credential.password, database=database, host=HOST, port=PORT)


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A throwaway database with one table; every test login may read it."""
    name = unique_name("rotdb")
    _sql(f"CREATE DATABASE {quote_identifier(name)}")
    _sql(f"CREATE TABLE {quote_identifier(name)}.t (v INT)")
    _sql(f"INSERT INTO {quote_identifier(name)}.t VALUES (7)")
    yield name
    _sql(f"DROP DATABASE IF EXISTS {quote_identifier(name)}")


@pytest.fixture(scope="module")
def admin_account() -> Iterator[Credential]:
    """An admin as a managed MySQL service gives one: everything, with grant option."""
    name = unique_name("admin")
    password = MySQLRotator.default_policy.generate()
    _sql("CREATE USER %s@%s IDENTIFIED BY %s", (name, "%", password))
    _sql("GRANT ALL PRIVILEGES ON *.* TO %s@%s WITH GRANT OPTION", (name, "%"))
    yield Credential(password=password, username=name)
    _drop_user(name)


class TestMySQLContract(LocalContract, RotatorContract):
    rotator = MySQLRotator
    hostile_usernames_rotate = True
    local_target = TARGET
    admin_fixture = "admin_account"

    @pytest.fixture
    def login_factory(self, database: str) -> Iterator[Callable[[str], Credential]]:
        made: list[str] = []

        def make(name: str) -> Credential:
            password = MySQLRotator.default_policy.generate()
            _sql("CREATE USER %s@%s IDENTIFIED BY %s", (name, "%", password))
            made.append(name)
            _sql(f"GRANT SELECT ON {quote_identifier(database)}.* TO %s@%s", (name, "%"))
            return Credential(password=password, username=name)

        yield make
        for name in made:
            _drop_user(alternate_username(name))
            _drop_user(name)

    def can_login(self, credential: Credential) -> bool:
        return _logs_in(credential)

    def principals(self) -> set[str]:
        return {str(row[0]) for row in _sql("SELECT User FROM mysql.user")}


# ---------------------------------------------------------------- mysql-specific tests


def _context(
    target: str | None = TARGET,
    strategy: Strategy = Strategy.SINGLE,
    admin: Credential | None = None,
    options: dict[str, str] | None = None,
) -> RotatorContext:
    return rotator_context(
        MySQLRotator, "db-secret", target, strategy=strategy, admin=admin, options=options
    )


@pytest.fixture
def plain_user(database: str) -> Iterator[Credential]:
    name = unique_name("self")
    password = MySQLRotator.default_policy.generate()
    _sql("CREATE USER %s@%s IDENTIFIED BY %s", (name, "%", password))
    _sql(f"GRANT SELECT ON {quote_identifier(database)}.* TO %s@%s", (name, "%"))
    yield Credential(password=password, username=name)
    _drop_user(alternate_username(name))
    _drop_user(name)


def test_mariadb_refuses_a_wrong_password(plain_user: Credential) -> None:
    assert _logs_in(plain_user)
    assert not _logs_in(plain_user.with_password(plain_user.password + "x"))


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("db:3307", ("db", 3307, None)),
        ("db", ("db", 3306, None)),
        ("db:3306/app", ("db", 3306, "app")),
        ("[::1]:3307/app", ("::1", 3307, "app")),
    ],
)
def test_target_parsing(target: str, expected: tuple[str, int, str | None]) -> None:
    MySQLRotator.check_config(_context(target))
    endpoint = MySQLRotator(_context(target)).endpoint
    assert (endpoint.host, endpoint.port, endpoint.database) == expected


@pytest.mark.parametrize("target", [None, "", "::1:3306", "db:70000", "db:3306/", "a b:3306"])
def test_bad_targets_name_the_tag(target: str | None) -> None:
    with pytest.raises(ConfigurationError, match="rotation-target"):
        MySQLRotator.check_config(_context(target))


def test_alternating_without_admin_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="rotation-admin-secret"):
        MySQLRotator.check_config(_context(strategy=Strategy.ALTERNATING))


def test_unknown_database_is_a_configuration_error(plain_user: Credential) -> None:
    rotator = MySQLRotator(_context(f"{TARGET}/{unique_name('nodb')}"))
    with pytest.raises(ConfigurationError, match="rotation-target"):
        rotator.verify(plain_user)


def test_rendered_account_matches_the_server(plain_user: Credential) -> None:
    hostile = "b`t` x\\y'q\"; --" + unique_name("")
    _sql("CREATE USER %s@%s IDENTIFIED BY %s", (hostile, "%", "irrelevant-Pw1"))
    try:
        rows = _sql("SHOW GRANTS FOR %s@%s", (hostile, "%"))
        assert rendered_account(hostile, "%") in str(rows[0][0])
    finally:
        _drop_user(hostile)


def test_single_without_admin_changes_its_own_password(plain_user: Credential) -> None:
    rotator = MySQLRotator(_context())
    candidate = rotator.generate(plain_user)
    assert rotator.apply(plain_user, candidate) == candidate
    rotator.verify(candidate)
    assert _logs_in(candidate)
    assert not _logs_in(plain_user)
    assert rotator.apply(plain_user, candidate) == candidate  # retry after a crash
    with pytest.raises(RotationConflict):
        rotator.apply(plain_user, rotator.generate(plain_user))


def test_clone_gets_the_original_grants_and_follows_new_ones(
    plain_user: Credential, admin_account: Credential, database: str
) -> None:
    context = _context(strategy=Strategy.ALTERNATING, admin=admin_account)
    rotator = MySQLRotator(context)
    clone = rotator.apply(plain_user, rotator.generate(plain_user))
    assert _logs_in(clone, database)
    grants = {str(r[0]) for r in _sql("SHOW GRANTS FOR %s@%s", (clone.username or "", "%"))}
    assert any(f"SELECT ON {quote_identifier(database)}.*" in g for g in grants)
    base = plain_user.username or ""
    assert not any(base in g.replace(clone.username or "", "") for g in grants)
    # A grant added to the original later reaches the clone at its next reset.
    _sql(
        f"GRANT INSERT ON {quote_identifier(database)}.t TO %s@%s", (plain_user.username or "", "%")
    )
    back = MySQLRotator(context).apply(clone, MySQLRotator(context).generate(clone))
    assert back.username == plain_user.username
    again = MySQLRotator(context).apply(back, MySQLRotator(context).generate(back))
    grants = {str(r[0]) for r in _sql("SHOW GRANTS FOR %s@%s", (again.username or "", "%"))}
    assert any(g.startswith("GRANT INSERT ON") for g in grants)
    assert _logs_in(again, database)


def test_missing_user_is_a_configuration_error(admin_account: Credential) -> None:
    rotator = MySQLRotator(_context(admin=admin_account))
    ghost = Credential(password="x" * 20, username=unique_name("ghost"))
    with pytest.raises(ConfigurationError, match="does not exist"):
        rotator.apply(ghost, rotator.generate(ghost))


class _Stopped(BaseException):
    """The process stopped here (no handler in the app may catch it)."""


def test_a_clone_stopped_before_its_grants_gets_them_when_the_run_resumes(
    plain_user: Credential,
    admin_account: Credential,
    database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Alternating: a run that dies between the clone's password and its grants leaves a
    candidate that logs in but cannot read anything. The next run applies again (it is
    idempotent) before it commits, so consumers that move get the base's grants."""
    name = "orders-db"
    store = MemoryStore()
    store.put_login("mysql-admin", admin_account.username or "", admin_account.password,
                    tags={T.ADMIN_FOR: name})  # fmt: skip
    tags = {
        T.ROTATOR: "mysql",
        T.TARGET: TARGET,
        T.STRATEGY: "alternating",
        T.ADMIN_SECRET: "mysql-admin",
    }
    store.put_login(name, plain_user.username or "", plain_user.password, tags=tags)
    engine = quick_engine(store, MySQLRotator)
    request = RotationRequest(vault_url=store.vault_url, secret_name=name, force=True,
                              trigger=Trigger.MANUAL)  # fmt: skip
    run_statement = MySQLRotator._run

    def stop_at_the_grants(self: MySQLRotator, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("what") == "copy a grant":
            raise _Stopped
        return run_statement(self, *args, **kwargs)

    monkeypatch.setattr(MySQLRotator, "_run", stop_at_the_grants)
    with pytest.raises(_Stopped):
        engine.run(request)
    monkeypatch.setattr(MySQLRotator, "_run", run_statement)

    assert engine.run(request).status is Status.ROTATED
    committed = Credential.from_value(store.current_value(name), json_format=True)
    assert committed.username == alternate_username(plain_user.username or "")
    assert _logs_in(committed, database)


def test_applying_a_clone_again_replays_its_grants_without_setting_the_password_again(
    plain_user: Credential,
    admin_account: Credential,
    database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A resumed alternating apply (the engine applies again for MySQL): the clone already
    has the candidate's password, so only its grants are replayed. ALTER USER with the same
    password would fail on servers that refuse reused passwords (password_reuse_check)."""
    rotator = MySQLRotator(_context(strategy=Strategy.ALTERNATING, admin=admin_account))
    candidate = rotator.generate(plain_user)
    rotator.apply(plain_user, candidate)
    done: list[str] = []
    run_statement = MySQLRotator._run

    def recording(self: MySQLRotator, *args: Any, **kwargs: Any) -> Any:
        done.append(str(kwargs.get("what")))
        return run_statement(self, *args, **kwargs)

    monkeypatch.setattr(MySQLRotator, "_run", recording)
    assert rotator.apply(plain_user, candidate) == candidate
    assert "copy a grant" in done
    assert not [what for what in done if what.startswith("set the password")]
    assert _logs_in(candidate, database)
