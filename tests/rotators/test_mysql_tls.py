"""The ``mysql`` rotator over verified TLS, and its refusal of cleartext password plugins.

TLS against a throwaway MariaDB with ssl-ca/ssl-cert/ssl-key from a local CA (certificate
for ``localhost`` only; tests/support/mariadb_tls.py). Cleartext against a fake server that
asks for ``mysql_clear_password`` and records every byte (tests/support/mysql_cleartext.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from rotation.credential import Credential
from rotation.errors import ConfigurationError, TargetUnavailable, VerificationFailed
from rotation.policy import PasswordPolicy
from rotation.rotator import RotatorContext
from rotation.testing import free_port, unique_name
from rotators.mysql import MySQLRotator
from tests.support.mariadb_tls import MariaDbServer
from tests.support.mysql_cleartext import CleartextAskingServer
from tests.support.rotator_tests import rotator_context
from tests.support.tls import WRONG_HOST, ServerCA


def _context(
    target: str, options: dict[str, str] | None = None, *, admin: Credential | None = None
) -> RotatorContext:
    return rotator_context(MySQLRotator, "my-tls", target, admin=admin, options=options)


@pytest.fixture
def account(tls_mariadb: MariaDbServer) -> Iterator[Credential]:
    name = unique_name("tls")
    password = PasswordPolicy().generate()
    tls_mariadb.sql("CREATE USER %s@'%%' IDENTIFIED BY %s", (name, password))
    yield Credential(password=password, username=name)
    tls_mariadb.sql("DROP USER IF EXISTS %s@'%%'", (name,))


def _logs_in(server: MariaDbServer, credential: Credential) -> bool:
    """Whether ``credential`` logs in (test side, independent of the rotator)."""
    try:
        conn = pymysql.connect(
            host="127.0.0.1",
            port=server.port,
            user=credential.username or "",
            password=credential.password,
        )
    except pymysql.err.OperationalError:
        return False
    conn.close()
    return True


def test_rotates_over_verified_tls(
    tls_mariadb: MariaDbServer, server_ca: ServerCA, account: Credential
) -> None:
    rotator = MySQLRotator(_context(tls_mariadb.target(), {"tls-ca": str(server_ca.ca_path)}))
    candidate = rotator.generate(account)
    rotator.apply(account, candidate)
    rotator.verify(candidate)
    assert _logs_in(tls_mariadb, candidate)
    assert not _logs_in(tls_mariadb, account)


def test_session_is_really_encrypted(
    tls_mariadb: MariaDbServer, server_ca: ServerCA, account: Credential
) -> None:
    rotator = MySQLRotator(_context(tls_mariadb.target(), {"tls-ca": str(server_ca.ca_path)}))
    conn = rotator._connect(account)
    try:
        rows = rotator._run(conn, "SHOW SESSION STATUS LIKE 'Ssl_version'", (), "read", [])
    finally:
        rotator._close(conn)
    assert str(rows[0][1]).startswith("TLSv1.")


def test_admin_apply_over_tls(
    tls_mariadb: MariaDbServer, server_ca: ServerCA, account: Credential
) -> None:
    admin = Credential(password=PasswordPolicy().generate(), username=unique_name("adm"))
    tls_mariadb.sql("CREATE USER %s@'%%' IDENTIFIED BY %s", (admin.username or "", admin.password))
    tls_mariadb.sql("GRANT ALL ON *.* TO %s@'%%' WITH GRANT OPTION", (admin.username or "",))
    try:
        context = _context(tls_mariadb.target(), {"tls-ca": str(server_ca.ca_path)}, admin=admin)
        rotator = MySQLRotator(context)
        candidate = rotator.generate(account)
        rotator.apply(account, candidate)
        rotator.verify(candidate)
    finally:
        tls_mariadb.sql("DROP USER IF EXISTS %s@'%%'", (admin.username or "",))


@pytest.mark.parametrize("case", ["wrong CA", "wrong host name", "system store"])
def test_unverified_server_is_a_configuration_error(
    tls_mariadb: MariaDbServer,
    server_ca: ServerCA,
    wrong_ca: Path,
    account: Credential,
    case: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ROTATION_TLS_CA_FILE", raising=False)
    target, options = {
        "wrong CA": (tls_mariadb.target(), {"tls-ca": str(wrong_ca)}),
        "wrong host name": (tls_mariadb.target(WRONG_HOST), {"tls-ca": str(server_ca.ca_path)}),
        "system store": (tls_mariadb.target(), {"tls": "verify"}),
    }[case]
    rotator = MySQLRotator(_context(target, options))
    candidate = rotator.generate(account)
    with pytest.raises(ConfigurationError) as raised:
        rotator.apply(account, candidate)
    assert raised.value.tag == "rotation-tls-ca"
    for value in (account.password, candidate.password):
        assert value not in f"{raised.value} {raised.value!r}"
    with pytest.raises(ConfigurationError):
        rotator.verify(account)
    assert _logs_in(tls_mariadb, account)  # nothing changed


def test_server_without_tls_is_refused_when_tls_is_required() -> None:
    """The machine's MariaDB on 3306 has no TLS: verify mode must not fall back to plain."""
    rotator = MySQLRotator(_context("localhost:3306", {"tls": "verify"}))
    with pytest.raises(ConfigurationError) as raised:
        rotator.verify(Credential(password="p" * 20, username="nobody_here"))
    assert raised.value.tag == "rotation-tls"
    assert "does not offer TLS" in str(raised.value)


# ------------------------------------------------------------------ cleartext plugins


def test_cleartext_plugin_request_gets_no_password() -> None:
    password = PasswordPolicy(length=24).generate()
    credential = Credential(password=password, username="someone")
    with CleartextAskingServer() as server:
        # Control: PyMySQL on its own answers the switch with the password itself.
        with pytest.raises(pymysql.err.MySQLError):
            pymysql.connect(
                host="127.0.0.1", port=server.port, user="someone", password=password
            ).close()
        assert password.encode() in server.wait_for(1)[-1]
        rotator = MySQLRotator(_context(f"127.0.0.1:{server.port}"))
        assert rotator.anchor is None  # loopback default: no TLS, so cleartext is refused
        with pytest.raises(ConfigurationError) as raised:
            rotator.verify(credential)
        assert raised.value.tag == "rotation-target"
        assert "password was not sent" in str(raised.value)
        admin_ctx = _context(f"127.0.0.1:{server.port}", admin=credential)
        with pytest.raises(ConfigurationError):
            MySQLRotator(admin_ctx).apply(credential, credential.with_password("n" * 20))
        received_all = server.wait_for(3)
    assert len(received_all) == 3
    for received in received_all[1:]:
        assert b"someone" in received  # the login got as far as the plugin switch
        assert password.encode() not in received


def _log_after(server: MariaDbServer, offset: int, needle: str) -> str:
    """The error log written after ``offset``, once ``needle`` appears (at most 5 s)."""
    deadline = time.monotonic() + 5
    while True:
        text = server.log_text()[offset:]
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def test_real_pam_server_gets_no_cleartext_password_without_tls(
    tls_mariadb: MariaDbServer, server_ca: ServerCA
) -> None:
    """MariaDB with PAM asks for mysql_clear_password: refused on plain, allowed on TLS."""
    name = unique_name("pam")
    tls_mariadb.sql("CREATE USER %s@'%%' IDENTIFIED VIA pam USING 'rotation-test-none'", (name,))
    credential = Credential(password=PasswordPolicy().generate(), username=name)
    try:
        log_before = len(tls_mariadb.log_text())
        plain = MySQLRotator(_context(tls_mariadb.target(), {"tls": "disable"}))
        with pytest.raises(ConfigurationError, match="password was not sent"):
            plain.verify(credential)
        new_log = _log_after(tls_mariadb, log_before, "without authentication")
        assert f"Access denied for user '{name}'" not in new_log  # PAM never ran
        # Over verified TLS the plugin may send it; PAM (no such service) then refuses.
        verified = MySQLRotator(_context(tls_mariadb.target(), {"tls-ca": str(server_ca.ca_path)}))
        with pytest.raises(VerificationFailed):
            verified.verify(credential)
        assert f"Access denied for user '{name}'" in _log_after(tls_mariadb, log_before, name)
    finally:
        tls_mariadb.sql("DROP USER IF EXISTS %s@'%%'", (name,))


# ------------------------------------------------------------------ configuration (no I/O)


@pytest.mark.parametrize(
    ("target", "options", "verified"),
    [
        ("db.example.com", {}, True),
        ("127.0.0.1", {}, False),
        ("localhost:3307", {}, False),
        ("127.0.0.1", {"tls-ca": "system"}, True),
        ("127.0.0.1", {"tls": "verify"}, True),
        ("db.example.com", {"tls": "disable"}, False),
    ],
)
def test_default_tls_mode(target: str, options: dict[str, str], verified: bool) -> None:
    MySQLRotator.check_config(_context(target, options))
    assert (MySQLRotator(_context(target, options)).anchor is not None) is verified


@pytest.mark.parametrize(
    ("options", "tag"),
    [
        ({"tls": "sometimes"}, "rotation-tls"),
        ({"tls": "disable", "tls-ca": "system"}, "rotation-tls"),
        ({"tls-ca": "ca.pem"}, "rotation-tls-ca"),
    ],
)
def test_bad_tls_settings_name_the_tag(options: dict[str, str], tag: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        MySQLRotator.check_config(_context("db.example.com", options))
    assert raised.value.tag == tag


def test_down_tls_target_is_retryable(server_ca: ServerCA) -> None:
    rotator = MySQLRotator(_context(f"localhost:{free_port()}", {"tls-ca": str(server_ca.ca_path)}))
    with pytest.raises(TargetUnavailable):
        rotator.verify(Credential(password="p" * 20, username="someone"))
