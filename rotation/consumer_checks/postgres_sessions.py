"""``postgres-sessions``: target-side evidence that PostgreSQL clients left the old login.

Definition::

    {"kind": "postgres-sessions",
     "target": "db.example.com:5432/orders"}   # optional; default: the secret's rotation-target

For secrets rotated with the ``alternating`` strategy (``app`` <-> ``app_clone``): the
consumers moved when no session of the previous login is left in ``pg_stat_activity``. The
check logs in with the rotator's admin credential (``rotation-admin-secret``; a role that can
see every session, such as a member of ``pg_read_all_stats`` or a superuser) and counts the
previous login's sessions, leaving out this app's own (``application_name`` =
``keyvault-rotation``). Zero sessions: the consumer uses the new version; otherwise the
previous one. It never sees the rotated secret's passwords, only the two login names.

Under the ``single`` strategy both versions use the same login, so there is no evidence to
read: that is a configuration error.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import psycopg

from rotation import libpq
from rotation import tags as T
from rotation.consumer_checks.base import CheckEnvironment, CheckRequest, ConsumerCheck
from rotation.consumer_checks.definitions import ConsumerDefinition
from rotation.errors import ConfigurationError, TargetUnavailable
from rotation.rotator import RotatorContext
from rotation.sanitize import sanitize_error
from rotation.targets import Endpoint, parse_endpoint
from rotation.tls import REQUIRE_AUTH, libpq_tls

log = logging.getLogger(__name__)

OPTIONS = frozenset({"target"})
APPLICATION_NAME = "keyvault-rotation"
COUNT_SESSIONS = (
    "SELECT count(*) FROM pg_catalog.pg_stat_activity "
    "WHERE usename = %s AND pid <> pg_backend_pid() "
    "AND application_name IS DISTINCT FROM %s"
)


class PostgresSessionsCheck(ConsumerCheck):
    """Counts the previous login's sessions; none left means the consumers moved."""

    kind: ClassVar[str] = "postgres-sessions"
    needs_target: ClassVar[bool] = True

    def __init__(self, definition: ConsumerDefinition, environment: CheckEnvironment) -> None:
        super().__init__(definition, environment)
        definition.reject_unknown(OPTIONS)
        self.target = definition.text("target")
        if self.target is not None:
            try:
                parse_endpoint(self.target, default_port=5432, database_required=True)
            except ConfigurationError:
                raise definition.error("must be host:port/database", "target") from None

    def __repr__(self) -> str:
        return f"PostgresSessionsCheck({self.name!r})"

    def observe(self, request: CheckRequest) -> str | None:
        facts = request.facts
        secret = facts.secret_name
        if request.target is None:
            raise ConfigurationError(f"consumer '{self.name}' needs target access", secret=secret)
        previous, new = request.target.usernames()
        if not previous or not new:
            raise ConfigurationError(
                f"consumer '{self.name}': postgres-sessions needs JSON values with a username",
                secret=secret,
            )
        if previous == new:
            raise ConfigurationError(
                f"consumer '{self.name}': postgres-sessions needs the alternating strategy "
                f"(both versions use login '{new}', so its sessions prove nothing)",
                secret=secret,
                tag=T.STRATEGY,
            )
        endpoint = parse_endpoint(
            self.target or request.config.target,
            default_port=5432,
            database_required=True,
            secret=secret,
        )
        sessions = self._count_sessions(request, endpoint, previous)
        log.info(
            "consumer '%s': %d session(s) of previous login '%s' on %s",
            self.name,
            sessions,
            previous,
            endpoint,
        )
        return facts.new_version if sessions == 0 else facts.previous_version

    def _count_sessions(self, request: CheckRequest, endpoint: Endpoint, username: str) -> int:
        assert request.target is not None
        secret = request.facts.secret_name
        admin = request.target.admin()
        if admin is None or not admin.username:
            raise ConfigurationError(
                f"consumer '{self.name}': postgres-sessions needs an admin credential "
                "with a username",
                secret=secret,
                tag=T.ADMIN_SECRET,
            )
        where = f"consumer '{self.name}': postgres {endpoint}"
        hide = [admin.password]
        config = request.config
        sslmode, anchor = libpq_tls(
            RotatorContext(
                secret_name=secret,
                target=config.target,
                strategy=config.strategy,
                policy=config.policy,
                options=config.options,
            ),
            endpoint.host,
        )
        try:
            conn: psycopg.Connection[Any] = libpq.connect(
                host=endpoint.host,
                port=endpoint.port,
                dbname=endpoint.database,
                user=admin.username,
                password=admin.password,
                sslmode=sslmode,
                sslrootcert=anchor.cafile if anchor is not None else None,
                # As the postgres rotator: the admin password goes only into SCRAM, never to
                # a server that asks for it in cleartext or MD5.
                require_auth=REQUIRE_AUTH,
                application_name=APPLICATION_NAME,
                autocommit=True,
            )
        except psycopg.OperationalError as error:
            text = str(error)
            if "password authentication failed" in text or (
                "role" in text and "does not exist" in text
            ):
                raise ConfigurationError(
                    f"{where}: admin login '{admin.username}' refused: "
                    f"{sanitize_error(error, hide)}",
                    secret=secret,
                    tag=T.ADMIN_SECRET,
                ) from None
            raise TargetUnavailable(f"{where} unreachable: {sanitize_error(error, hide)}") from None
        except psycopg.Error as error:
            raise TargetUnavailable(f"{where}: {sanitize_error(error, hide)}") from None
        try:
            with conn:
                row = conn.execute(COUNT_SESSIONS, [username, APPLICATION_NAME]).fetchone()
        except psycopg.Error as error:
            raise TargetUnavailable(f"{where}: {sanitize_error(error, hide)}") from None
        return int(row[0]) if row else 0
