"""The ``postgres`` rotator against a real PostgreSQL cluster that demands scram-sha-256."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from rotation import libpq
from rotation.credential import Credential
from rotation.errors import ConfigurationError, RotationConflict, TargetUnavailable
from rotation.policy import PasswordPolicy
from rotation.rotator import RotatorContext, Strategy, alternate_username
from rotation.testing import RotatorContract, unique_name
from rotators.postgres import PostgresRotator
from tests.support.local_targets import create_pg_role, pg_login_role
from tests.support.pg_cluster import ScramCluster
from tests.support.rotator_tests import LocalContract


def _drop_role(conn: psycopg.Connection[tuple[object, ...]], name: str) -> None:
    role = sql.Identifier(name)
    if _exists(conn, name):
        conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(role))
    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(role))


def _exists(conn: psycopg.Connection[tuple[object, ...]], name: str) -> bool:
    row = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone()
    return row is not None


class TestPostgresContract(LocalContract, RotatorContract):
    rotator = PostgresRotator
    hostile_usernames_rotate = True
    admin_fixture = "admin_role"
    down_target_format = "127.0.0.1:{port}/postgres"

    @pytest.fixture
    def cluster(self, scram_postgres: ScramCluster) -> ScramCluster:
        self._cluster = scram_postgres
        return scram_postgres

    @pytest.fixture
    def target(self, cluster: ScramCluster) -> str:
        return cluster.target

    @pytest.fixture(scope="class")
    @classmethod
    def admin_role(cls, scram_postgres: ScramCluster) -> Iterator[Credential]:
        """A CREATEROLE (not superuser) admin, as a cloud database would give."""
        name = unique_name("admin")
        password = PostgresRotator.default_policy.generate()
        with scram_postgres.connect() as conn:
            create_pg_role(conn, name, password, options="LOGIN CREATEROLE")
        yield Credential(password=password, username=name)
        with scram_postgres.connect() as conn:
            _drop_role(conn, name)

    @pytest.fixture
    def login_factory(
        self, cluster: ScramCluster, admin_role: Credential
    ) -> Iterator[Callable[[str], Credential]]:
        made: list[str] = []

        def make(name: str) -> Credential:
            password = PostgresRotator.default_policy.generate()
            with cluster.connect() as conn:
                create_pg_role(conn, name, password)
                # The admin manages this role (PostgreSQL 16+ needs ADMIN OPTION for that).
                conn.execute(
                    sql.SQL("GRANT {} TO {} WITH ADMIN OPTION").format(
                        sql.Identifier(name), sql.Identifier(admin_role.username or "")
                    )
                )
            made.append(name)
            return Credential(password=password, username=name)

        yield make
        with cluster.connect() as conn:
            for name in made:
                _drop_role(conn, alternate_username(name))
                _drop_role(conn, name)

    def can_login(self, credential: Credential) -> bool:
        try:
            with self._cluster.connect(credential.username, credential.password) as conn:
                row = conn.execute("SELECT current_user").fetchone()
                assert row is not None and row[0] == credential.username
                return True
        except psycopg.OperationalError as error:
            if "password authentication failed" in str(error):
                return False
            raise

    def principals(self) -> set[str]:
        with self._cluster.connect() as conn:
            return {str(r[0]) for r in conn.execute("SELECT rolname FROM pg_roles").fetchall()}


# ---------------------------------------------------------------- postgres-specific tests


def test_cluster_refuses_a_wrong_password(scram_postgres: ScramCluster) -> None:
    with scram_postgres.connect():
        pass
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        scram_postgres.connect(password=scram_postgres.password + "x")


def _context(
    target: str | None, strategy: Strategy = Strategy.SINGLE, **kw: object
) -> RotatorContext:
    return RotatorContext(
        secret_name="db-secret",
        target=target,
        strategy=strategy,
        policy=PostgresRotator.default_policy,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("db.example.com:5433/app", ("db.example.com", 5433, "app")),
        ("db.example.com/app", ("db.example.com", 5432, "app")),
        ("[::1]:6432/app", ("::1", 6432, "app")),
        ("[2001:db8::5]/app", ("2001:db8::5", 5432, "app")),
    ],
)
def test_target_parsing(target: str, expected: tuple[str, int, str]) -> None:
    PostgresRotator.check_config(_context(target))
    endpoint = PostgresRotator(_context(target)).endpoint
    assert (endpoint.host, endpoint.port, endpoint.database) == expected


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "db:5432",
        "db:5432/",
        "::1:5432/app",
        "db:0/app",
        "db:99999/app",
        "db:x/app",
        "db:5432/a b",
        "user@db:5432/app",
    ],
)
def test_bad_targets_name_the_tag(target: str | None) -> None:
    with pytest.raises(ConfigurationError, match="rotation-target") as raised:
        PostgresRotator.check_config(_context(target))
    assert raised.value.secret == "db-secret"


def test_alternating_without_admin_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="rotation-admin-secret"):
        PostgresRotator.check_config(_context("db:5432/app", Strategy.ALTERNATING))


def test_unknown_sslmode_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="sslmode"):
        PostgresRotator.check_config(_context("db:5432/app", options={"sslmode": "maybe"}))


def test_overlong_user_name_is_refused(scram_postgres: ScramCluster) -> None:
    rotator = PostgresRotator(_context(scram_postgres.target, Strategy.SINGLE))
    current = Credential(password="x" * 20, username="u" * 64)
    with pytest.raises(ConfigurationError, match="63 bytes"):
        rotator.apply(current, rotator.generate(current))


@pytest.fixture
def plain_role(scram_postgres: ScramCluster) -> Iterator[Credential]:
    yield from pg_login_role(scram_postgres.connect, "self", _drop_role)


def _logs_in(cluster: ScramCluster, credential: Credential) -> bool:
    try:
        with cluster.connect(credential.username, credential.password):
            return True
    except psycopg.OperationalError:
        return False


def test_single_without_admin_changes_its_own_password(
    scram_postgres: ScramCluster, plain_role: Credential
) -> None:
    rotator = PostgresRotator(_context(scram_postgres.target))
    candidate = rotator.generate(plain_role)
    assert rotator.apply(plain_role, candidate) == candidate
    rotator.verify(candidate)
    assert _logs_in(scram_postgres, candidate)
    assert not _logs_in(scram_postgres, plain_role)
    # A retry after a crash: current no longer works, the candidate does -> success.
    assert rotator.apply(plain_role, candidate) == candidate
    # Neither works: a conflict for an operator, never a guess.
    stranger = rotator.generate(plain_role)
    with pytest.raises(RotationConflict):
        rotator.apply(plain_role, stranger)


def test_password_never_reaches_the_server_in_clear(
    scram_postgres: ScramCluster, plain_role: Credential
) -> None:
    rotator = PostgresRotator(_context(scram_postgres.target))
    candidate = rotator.generate(plain_role)
    rotator.apply(plain_role, candidate)
    with scram_postgres.connect() as conn:
        row = conn.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", [plain_role.username]
        ).fetchone()
    assert row is not None and str(row[0]).startswith("SCRAM-SHA-256$")
    assert candidate.password not in str(row[0])


def test_alternating_clone_inherits_privileges(
    scram_postgres: ScramCluster,
) -> None:
    base = unique_name("base")
    table = unique_name("tbl")
    admin_pw = PasswordPolicy().generate()
    base_pw = PasswordPolicy().generate()
    admin = unique_name("adm")
    with scram_postgres.connect() as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(
                sql.Identifier(admin), sql.Literal(admin_pw)
            )
        )
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(base), sql.Literal(base_pw)
            )
        )
        conn.execute(
            sql.SQL("GRANT {} TO {} WITH ADMIN OPTION").format(
                sql.Identifier(base), sql.Identifier(admin)
            )
        )
        conn.execute(sql.SQL("CREATE TABLE {} (v int)").format(sql.Identifier(table)))
        conn.execute(sql.SQL("INSERT INTO {} VALUES (7)").format(sql.Identifier(table)))
        conn.execute(
            sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(table), sql.Identifier(base))
        )
    try:
        context = _context(
            scram_postgres.target,
            Strategy.ALTERNATING,
            admin=Credential(password=admin_pw, username=admin),
        )
        rotator = PostgresRotator(context)
        current = Credential(password=base_pw, username=base)
        clone = rotator.apply(current, rotator.generate(current))
        assert clone.username == base + "_clone"
        with scram_postgres.connect(clone.username, clone.password) as conn:
            row = conn.execute(sql.SQL("SELECT v FROM {}").format(sql.Identifier(table))).fetchone()
        assert row == (7,)
    finally:
        with scram_postgres.connect() as conn:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
            for name in (base + "_clone", base, admin):
                _drop_role(conn, name)


def test_a_role_locked_by_an_open_transaction_is_unavailable_not_a_hang(
    scram_postgres: ScramCluster, plain_role: Credential
) -> None:
    """Another session changed the role and left its transaction open: ALTER ROLE waits for
    it. The lock wait is bounded (rotation.libpq), so the run is retried later instead of
    holding its rotation lock forever, and the password is unchanged."""
    rotator = PostgresRotator(_context(scram_postgres.target))
    blocker = scram_postgres.connect()
    blocker.autocommit = False
    try:
        blocker.execute(
            sql.SQL("ALTER ROLE {} CONNECTION LIMIT 5").format(
                sql.Identifier(plain_role.username or "")
            )
        )  # left uncommitted
        with pytest.raises(TargetUnavailable):
            rotator.apply(plain_role, rotator.generate(plain_role))
    finally:
        blocker.rollback()
        blocker.close()
    assert _logs_in(scram_postgres, plain_role)


def test_a_pooler_that_refuses_the_options_parameter_still_gets_a_connection(
    scram_postgres: ScramCluster, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """PgBouncer answers a startup packet with ``options`` "unsupported startup parameter"
    (before any password): the connection is made again without the server-side bounds."""
    real_connect = psycopg.connect
    calls: list[dict[str, object]] = []

    def pooler(**kwargs: Any) -> Any:
        calls.append(kwargs)
        if "options" in kwargs:
            raise psycopg.OperationalError("ERROR:  unsupported startup parameter: options")
        return real_connect(**kwargs)

    monkeypatch.setattr(psycopg, "connect", pooler)
    conn = libpq.connect(
        host=scram_postgres.host,
        port=scram_postgres.port,
        dbname=scram_postgres.dbname,
        user=scram_postgres.superuser,
        password=scram_postgres.password,
    )
    try:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        conn.close()
    assert ["options" in c for c in calls] == [True, False]
    assert "no server-side time limit" in caplog.text
    assert scram_postgres.password not in caplog.text
