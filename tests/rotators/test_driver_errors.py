"""Driver errors at every step become rotation errors (issue 10, finding 5).

Some driver calls in the SQL rotators ran outside the error translation (the role look-up,
the client-side password hash, ``SELECT current_user``, closing), so a raw ``psycopg`` or
``PyMySQL`` exception could reach the HTTP API as a 500. Here the real server drops the
session (``pg_terminate_backend`` / ``KILL``) right after the rotator logged in, so the very
next driver call fails, and the test asserts a typed, sanitized ``RotationError``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pymysql
import pytest
from psycopg import sql

from rotation.credential import Credential
from rotation.errors import RotationError, TargetUnavailable
from rotation.policy import PasswordPolicy
from rotation.rotator import RotatorContext
from rotation.testing import unique_name
from rotators.mysql import MySQLRotator
from rotators.postgres import PostgresRotator
from tests.support.mariadb_tls import MariaDbServer
from tests.support.pg_cluster import ScramCluster
from tests.support.rotator_tests import rotator_context


def _pg_context(target: str, admin: Credential | None = None) -> RotatorContext:
    return rotator_context(PostgresRotator, "dropped", target, admin=admin)


@pytest.fixture
def pg_logins(scram_postgres: ScramCluster) -> Iterator[tuple[Credential, Credential]]:
    """A CREATEROLE admin and a login it manages."""
    admin = Credential(password=PasswordPolicy().generate(), username=unique_name("dadm"))
    login = Credential(password=PasswordPolicy().generate(), username=unique_name("dlog"))
    with scram_postgres.connect() as conn:
        for cred, extra in ((admin, "CREATEROLE"), (login, "")):
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN {} PASSWORD {}").format(
                    sql.Identifier(cred.username or ""), sql.SQL(extra), sql.Literal(cred.password)
                )
            )
        conn.execute(
            sql.SQL("GRANT {} TO {} WITH ADMIN OPTION").format(
                sql.Identifier(login.username or ""), sql.Identifier(admin.username or "")
            )
        )
    yield admin, login
    with scram_postgres.connect() as conn:
        for cred in (login, admin):
            conn.execute(
                sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(cred.username or ""))
            )


def _terminate_after_login(
    cluster: ScramCluster, rotator: PostgresRotator, monkeypatch: pytest.MonkeyPatch
) -> list[int]:
    """Make every connection the rotator opens be killed by the server right after login."""
    killed: list[int] = []
    real_connect = rotator._connect

    def connect_then_kill(credential: Credential) -> Any:
        conn = real_connect(credential)
        pid = conn.info.backend_pid
        with cluster.connect() as su:
            su.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
        killed.append(pid)
        return conn

    monkeypatch.setattr(rotator, "_connect", connect_then_kill)
    return killed


def _assert_typed(error: BaseException, *secrets: str) -> None:
    assert isinstance(error, RotationError)
    assert error.__cause__ is None
    for value in secrets:
        assert value not in str(error)


@pytest.mark.parametrize("step", ["role look-up (admin)", "password hash (self)", "verify"])
def test_postgres_dropped_session_is_a_rotation_error(
    scram_postgres: ScramCluster,
    pg_logins: tuple[Credential, Credential],
    step: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin, login = pg_logins
    rotator = PostgresRotator(
        _pg_context(scram_postgres.target, admin if "admin" in step else None)
    )
    killed = _terminate_after_login(scram_postgres, rotator, monkeypatch)
    candidate = rotator.generate(login)
    action: Callable[[], object] = (
        (lambda: rotator.verify(login))
        if step == "verify"
        else (lambda: rotator.apply(login, candidate))
    )
    with pytest.raises(RotationError) as raised:
        action()
    assert killed, "the session was not dropped: the test proves nothing"
    assert isinstance(raised.value, TargetUnavailable)  # the server went away: retryable
    _assert_typed(raised.value, login.password, candidate.password, admin.password)
    with scram_postgres.connect(login.username, login.password):
        pass  # nothing was changed


# ------------------------------------------------------------------ mysql


def _my_context(target: str) -> RotatorContext:
    return rotator_context(MySQLRotator, "dropped", target, options={"tls": "disable"})


def test_mysql_dropped_session_is_a_rotation_error(
    tls_mariadb: MariaDbServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KILLed session: every later call, and closing, ends in a typed error.

    (A regression guard: the MySQL rotator already translated these; closing now goes
    through ``_close``, which never raises, so a close error cannot replace the real one.)
    """
    login = Credential(password=PasswordPolicy().generate(), username=unique_name("dmy"))
    tls_mariadb.sql("CREATE USER %s@'%%' IDENTIFIED BY %s", (login.username or "", login.password))
    try:
        rotator = MySQLRotator(_my_context(tls_mariadb.target("127.0.0.1")))
        real_connect = rotator._connect

        def connect_then_kill(credential: Credential) -> Any:
            conn = real_connect(credential)
            tls_mariadb.sql(f"KILL {int(conn.thread_id())}")  # type: ignore[no-untyped-call]
            time.sleep(0.05)
            return conn

        monkeypatch.setattr(rotator, "_connect", connect_then_kill)
        candidate = rotator.generate(login)
        for action in (lambda: rotator.apply(login, candidate), lambda: rotator.verify(login)):
            with pytest.raises(RotationError) as raised:
                action()
            assert isinstance(raised.value, TargetUnavailable)
            _assert_typed(raised.value, login.password, candidate.password)
        conn = pymysql.connect(
            host="127.0.0.1",
            port=tls_mariadb.port,
            user=login.username or "",
            password=login.password,
        )
        conn.close()  # nothing was changed
    finally:
        tls_mariadb.sql("DROP USER IF EXISTS %s@'%%'", (login.username or "",))


def test_psycopg_errors_are_all_caught_somewhere() -> None:
    """The translation catches the base class, so no subclass can slip through."""
    assert issubclass(psycopg.errors.QueryCanceled, psycopg.Error)
    assert issubclass(psycopg.errors.AdminShutdown, psycopg.OperationalError)
