"""Test-side access to the real local targets (Redis, MariaDB, PostgreSQL),
independent of the rotators under test: login checks and account creation, written once.

Every helper opens its own connection as the target's superuser or as the login being
checked; values are bound or quoted by the driver, never formatted into statements.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, LiteralString, TypeAlias

import psycopg
import pymysql
import pymysql.cursors
import redis
from psycopg import sql

from rotation.credential import Credential
from rotation.policy import PasswordPolicy
from rotation.testing import unique_name

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
MYSQL_HOST, MYSQL_PORT = "127.0.0.1", 3306

MySqlConnection: TypeAlias = "pymysql.connections.Connection[pymysql.cursors.Cursor]"

# ---------------------------------------------------------------------------- Redis


def redis_logs_in(
    username: str | None, password: str, *, host: str = REDIS_HOST, port: int = REDIS_PORT
) -> bool:
    """Whether Redis accepts ``AUTH username password`` on a fresh connection."""
    connection = redis.Connection(  # type: ignore[no-untyped-call]
        host=host, port=port, username=username, password=password, socket_timeout=5
    )
    try:
        connection.connect()  # type: ignore[no-untyped-call]
    except redis.AuthenticationError:
        return False
    finally:
        connection.disconnect()  # type: ignore[no-untyped-call]
    return True


def redis_set_user(client: redis.Redis, name: str, password: str, *rules: str) -> None:
    """``ACL SETUSER name reset on >password rules...`` (an enabled user, one password)."""
    client.execute_command(  # type: ignore[no-untyped-call]
        "ACL", "SETUSER", name, "reset", "on", f">{password}", *rules
    )


# ---------------------------------------------------------------------------- MariaDB


def mysql_root(host: str = MYSQL_HOST, port: int = MYSQL_PORT) -> MySqlConnection:
    """A connection as MariaDB's ``root`` (no password on these machines)."""
    return pymysql.connect(host=host, port=port, user="root", password="", autocommit=True)


def run_sql(
    connect: Callable[[], MySqlConnection],
    statement: str,
    args: tuple[str, ...] | None = None,
) -> list[tuple[Any, ...]]:
    """Run one statement on a fresh connection from ``connect``, values bound by PyMySQL;
    return every row."""
    conn = connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute(statement, args)
            return list(cursor.fetchall())
    finally:
        conn.close()


def mysql_logs_in(
    username: str,
    password: str,
    *,
    database: str | None = None,
    host: str = MYSQL_HOST,
    port: int = MYSQL_PORT,
) -> bool:
    """Whether MariaDB accepts this login as exactly that account (1045 -> False)."""
    try:
        conn = pymysql.connect(
            host=host,
            port=port,
            user=username,
            password=password,
            database=database,
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


# ---------------------------------------------------------------------------- PostgreSQL


def create_pg_role(
    conn: psycopg.Connection[Any], name: str, password: str, *, options: LiteralString = "LOGIN"
) -> None:
    """``CREATE ROLE name WITH <options> PASSWORD password`` (name and password quoted)."""
    conn.execute(
        sql.SQL("CREATE ROLE {} WITH " + options + " PASSWORD {}").format(
            sql.Identifier(name), sql.Literal(password)
        )
    )


def drop_pg_role(conn: psycopg.Connection[Any], name: str) -> None:
    """``DROP ROLE IF EXISTS name``."""
    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def pg_login_role(
    connect: Callable[[], psycopg.Connection[Any]],
    prefix: str,
    drop: Callable[[psycopg.Connection[Any], str], None] = drop_pg_role,
) -> Iterator[Credential]:
    """For a fixture (``yield from``): a new login role named ``prefix_<hex>`` with a fresh
    password, created and then dropped with ``drop`` through connections from ``connect``."""
    name = unique_name(prefix)
    password = PasswordPolicy().generate()
    with connect() as conn:
        create_pg_role(conn, name, password)
    yield Credential(password=password, username=name)
    with connect() as conn:
        drop(conn, name)
