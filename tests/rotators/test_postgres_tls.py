"""The ``postgres`` rotator over verified TLS, and its refusal of weak password exchanges.

Against a real cluster with ``ssl=on`` (tests/support/pg_tls.py) whose certificate, from a
local CA, names ``localhost`` only. Roles ``pw_clear`` and ``pw_md5`` sit behind the
``password`` (cleartext) and ``md5`` pg_hba methods; the server log (``log_connections``)
shows whether their passwords ever arrived.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from rotation.credential import Credential
from rotation.errors import ConfigurationError, RotationError, TargetUnavailable
from rotation.rotator import RotatorContext, Strategy
from rotators.postgres import PostgresRotator
from tests.support.local_targets import pg_login_role
from tests.support.pg_tls import CLEARTEXT_ROLE, MD5_ROLE, TlsCluster
from tests.support.rotator_tests import rotator_context
from tests.support.tls import WRONG_HOST, ServerCA


def _context(
    target: str,
    options: dict[str, str] | None = None,
    *,
    admin: Credential | None = None,
    strategy: Strategy = Strategy.SINGLE,
) -> RotatorContext:
    return rotator_context(
        PostgresRotator, "pg-tls", target, strategy=strategy, admin=admin, options=options
    )


@pytest.fixture
def role(tls_postgres: TlsCluster) -> Iterator[Credential]:
    yield from pg_login_role(tls_postgres.connect, "tls")


def _logs_in(cluster: TlsCluster, credential: Credential) -> bool:
    try:
        with cluster.connect(credential.username or "", credential.password):
            return True
    except psycopg.OperationalError:
        return False


def _assert_no_secret(error: BaseException, *secrets: str) -> None:
    text = f"{error} {error!r}"
    for value in secrets:
        assert value not in text
    assert error.__cause__ is None  # raised "from None": no driver traceback attached


def test_rotates_over_verified_tls(
    tls_postgres: TlsCluster, server_ca: ServerCA, role: Credential
) -> None:
    rotator = PostgresRotator(_context(tls_postgres.target(), {"tls-ca": str(server_ca.ca_path)}))
    assert rotator.sslmode == "verify-full"
    candidate = rotator.generate(role)
    rotator.apply(role, candidate)
    rotator.verify(candidate)
    assert _logs_in(tls_postgres, candidate)
    assert not _logs_in(tls_postgres, role)
    authorized = [
        line
        for line in tls_postgres.log_text().splitlines()
        if f"connection authorized: user={role.username} " in line
    ]
    assert authorized and all("SSL enabled" in line for line in authorized)


def test_ca_from_the_app_setting(
    tls_postgres: TlsCluster, server_ca: ServerCA, role: Credential, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROTATION_TLS_CA_FILE", str(server_ca.ca_path))
    rotator = PostgresRotator(_context(tls_postgres.target()))
    assert rotator.sslmode == "verify-full"
    rotator.verify(role)


@pytest.mark.parametrize("case", ["wrong CA", "wrong host name", "system store"])
def test_unverified_server_is_a_configuration_error(
    tls_postgres: TlsCluster,
    server_ca: ServerCA,
    wrong_ca: Path,
    role: Credential,
    case: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ROTATION_TLS_CA_FILE", raising=False)
    target, options = {
        "wrong CA": (tls_postgres.target(), {"tls-ca": str(wrong_ca)}),
        "wrong host name": (tls_postgres.target(WRONG_HOST), {"tls-ca": str(server_ca.ca_path)}),
        "system store": (tls_postgres.target(), {"sslmode": "verify-full"}),
    }[case]
    rotator = PostgresRotator(_context(target, options))
    candidate = rotator.generate(role)
    with pytest.raises(ConfigurationError) as raised:
        rotator.apply(role, candidate)
    assert raised.value.tag == "rotation-tls-ca"
    assert "did not verify" in str(raised.value)
    _assert_no_secret(raised.value, role.password, candidate.password)
    with pytest.raises(ConfigurationError):
        rotator.verify(role)
    assert _logs_in(tls_postgres, role)  # nothing changed


@pytest.mark.parametrize("weak_role", [CLEARTEXT_ROLE, MD5_ROLE])
@pytest.mark.parametrize("tls", ["verified TLS", "no TLS"])
def test_weak_password_exchange_never_gets_the_password(
    tls_postgres: TlsCluster, server_ca: ServerCA, weak_role: str, tls: str
) -> None:
    """A server asking for a cleartext or MD5 password gets nothing, with or without TLS."""
    options = {"tls-ca": str(server_ca.ca_path)} if tls == "verified TLS" else {}
    if tls == "no TLS":
        options["sslmode"] = "disable"
    credential = Credential(password=tls_postgres.weak_role_password, username=weak_role)
    log_before = len(tls_postgres.log_text())
    # As the managed login (verify) and as the admin (apply): neither password is sent.
    admin_ctx = _context(tls_postgres.target(), options, admin=credential)
    for attempt in (
        lambda: PostgresRotator(_context(tls_postgres.target(), options)).verify(credential),
        lambda: PostgresRotator(admin_ctx).apply(credential, credential.with_password("x" * 20)),
    ):
        with pytest.raises(ConfigurationError) as raised:
            attempt()
        assert raised.value.tag == "rotation-target"
        assert "password was not sent" in str(raised.value)
        _assert_no_secret(raised.value, credential.password)
    new_log = tls_postgres.log_text()[log_before:]
    assert f'identity="{weak_role}"' not in new_log
    assert f'authentication failed for user "{weak_role}"' not in new_log
    assert f"authorized: user={weak_role}" not in new_log
    # Control: the same password *is* accepted by a client that agrees to send it, so the
    # server really asked for it and would have received it.
    with psycopg.connect(
        host="127.0.0.1",
        port=tls_postgres.port,
        dbname="postgres",
        user=weak_role,
        password=credential.password,
        sslmode="require",
    ):
        pass
    assert f"authorized: user={weak_role}" in tls_postgres.log_text()[log_before:]


def test_loopback_default_is_prefer_and_still_scram_only(tls_postgres: TlsCluster) -> None:
    rotator = PostgresRotator(_context(tls_postgres.target()))
    assert (rotator.sslmode, rotator.anchor) == ("prefer", None)
    cleartext = Credential(password=tls_postgres.weak_role_password, username=CLEARTEXT_ROLE)
    with pytest.raises(ConfigurationError, match="password was not sent"):
        rotator.verify(cleartext)


# ------------------------------------------------------------------ configuration (no I/O)


@pytest.mark.parametrize(
    ("target", "options", "expected"),
    [
        ("db.example.com:5432/app", {}, "verify-full"),
        ("127.0.0.1:5432/app", {}, "prefer"),
        ("localhost:5432/app", {}, "prefer"),
        ("[::1]:5432/app", {}, "prefer"),
        ("127.0.0.1:5432/app", {"tls-ca": "system"}, "verify-full"),
        ("db.example.com:5432/app", {"sslmode": "require"}, "require"),
        ("db.example.com:5432/app", {"sslmode": "verify-ca", "tls-ca": "system"}, "verify-ca"),
    ],
)
def test_default_sslmode(target: str, options: dict[str, str], expected: str) -> None:
    PostgresRotator.check_config(_context(target, options))
    assert PostgresRotator(_context(target, options)).sslmode == expected


@pytest.mark.parametrize(
    ("options", "tag", "needle"),
    [
        ({"tls-ca": "relative/ca.pem"}, "rotation-tls-ca", "absolute path"),
        ({"tls-ca": "/nonexistent/ca.pem"}, "rotation-tls-ca", "not a file"),
        ({"tls-ca": "-----BEGIN CERTIFICATE-----\nMIIB"}, "rotation-tls-ca", "not the PEM"),
        ({"tls-ca": "/etc/hostname"}, "rotation-tls-ca", "no PEM certificate"),
        ({"tls-ca": "/tmp/\x00ca"}, "rotation-tls-ca", "control characters"),
        ({"tls-ca": "system", "sslmode": "disable"}, "rotation-sslmode", "would be ignored"),
        ({"sslmode": "maybe"}, "rotation-sslmode", "unknown sslmode"),
    ],
)
def test_bad_tls_settings_name_the_tag(options: dict[str, str], tag: str, needle: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        PostgresRotator.check_config(_context("db.example.com:5432/app", options))
    assert raised.value.tag == tag
    assert needle in str(raised.value)
    assert isinstance(raised.value, RotationError)


def test_bad_app_setting_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROTATION_TLS_CA_FILE", "/nonexistent/ca.pem")
    with pytest.raises(ConfigurationError, match="ROTATION_TLS_CA_FILE"):
        PostgresRotator.check_config(_context("db.example.com:5432/app"))


def test_corrupt_pem_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    with pytest.raises(ConfigurationError, match="not a valid PEM") as raised:
        PostgresRotator.check_config(_context("db:5432/app", {"tls-ca": str(bad)}))
    assert "not base64" not in str(raised.value)  # the file's content is never echoed


class _AdminOnly:
    """TargetAccess for the sessions check: two login names and an admin credential."""

    def __init__(self, admin: Credential) -> None:
        self._admin = admin

    def usernames(self) -> tuple[str | None, str | None]:
        return "app", "app_clone"

    def admin(self) -> Credential | None:
        return self._admin


@pytest.mark.parametrize("weak_role", [CLEARTEXT_ROLE, MD5_ROLE])
def test_the_sessions_check_never_sends_the_admin_password_to_a_weak_server(
    tls_postgres: TlsCluster, weak_role: str
) -> None:
    """The postgres-sessions consumer check connects as the admin like the rotator does:
    SCRAM only, so a server asking for a cleartext or MD5 password gets nothing."""
    from datetime import UTC, datetime

    from rotation.config import parse_config
    from rotation.consumer_checks.base import CheckEnvironment, CheckRequest
    from rotation.consumer_checks.definitions import ConsumerDefinition
    from rotation.consumer_checks.postgres_sessions import PostgresSessionsCheck
    from rotation.consumers import RotationFacts

    admin = Credential(password=tls_postgres.weak_role_password, username=weak_role)
    check = PostgresSessionsCheck(
        ConsumerDefinition(name="db.sessions", kind="postgres-sessions"), CheckEnvironment()
    )
    config = parse_config(
        "pg-tls",
        {
            "rotation-rotator": "postgres",
            "rotation-target": tls_postgres.target(),
            "rotation-strategy": "alternating",
            "rotation-admin-secret": "pg-admin",
            "rotation-sslmode": "disable",
        },
        PostgresRotator,
    )
    facts = RotationFacts("https://kv.vault.azure.net", "pg-tls", "v2", "v1", datetime.now(UTC))
    log_before = len(tls_postgres.log_text())
    with pytest.raises((ConfigurationError, TargetUnavailable)) as raised:
        check.observe(CheckRequest(config, facts, _AdminOnly(admin)))
    _assert_no_secret(raised.value, admin.password)
    new_log = tls_postgres.log_text()[log_before:]
    assert f"authorized: user={weak_role}" not in new_log
    assert f'authentication failed for user "{weak_role}"' not in new_log
