"""A full rotation on the local stack, printed step by step: ``python -m demo``.

Starts the emulated Azure (Key Vault, managed identity, Event Grid), Azurite and a throwaway
PostgreSQL cluster that demands passwords; stores a PostgreSQL credential in the vault with
rotation tags; moves the emulated clock until Key Vault raises ``SecretNearExpiry``; lets Event
Grid deliver it to the app's ``secret_near_expiry`` function; then shows what happened. No
secret value is ever printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

VAULT = "demo-vault"
SECRET = "orders-db"  # noqa: S105 (a secret name)
ADMIN_SECRET = "orders-db-admin"  # noqa: S105


class StepRecorder(logging.Handler):
    """Collects the engine's step messages (they carry names and versions, never values)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.steps: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "rotation step: %s/%s: %s" and isinstance(record.args, tuple):
            self.steps.append(str(record.args[2]))


@contextmanager
def recording() -> Iterator[StepRecorder]:
    recorder = StepRecorder()
    logger = logging.getLogger("rotation.engine")
    logger.addHandler(recorder)
    logger.setLevel(logging.INFO)
    try:
        yield recorder
    finally:
        logger.removeHandler(recorder)


def logs_in(cluster: Any, username: str, password: str) -> bool:
    try:
        with cluster.connect(username, password) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", choices=["single", "alternating"], default="single")
    args = parser.parse_args(argv)
    import os

    from azure.identity import ManagedIdentityCredential
    from azure.keyvault.secrets import SecretClient

    from emulators.azurite import Azurite
    from emulators.postgres_cluster import start_scram_cluster, stop_scram_cluster
    from emulators.stack import AzureStack

    say = print
    with ExitStack() as resources:
        stack = resources.enter_context(AzureStack())
        resources.enter_context(stack.applied_env())
        storage = resources.enter_context(Azurite())
        cluster = start_scram_cluster()
        resources.callback(stop_scram_cluster, cluster)
        identity = stack.identity.add_identity()
        vault_url = stack.keyvault.create_vault(VAULT)
        stack.keyvault.assign_role(VAULT, identity.principal_id, "Key Vault Secrets Officer")
        say("Local stack")
        say(f"  Key Vault        {vault_url} (emulated, reached over HTTPS by the real SDK)")
        say(f"  managed identity client id {identity.client_id}")
        say(f"  PostgreSQL       {cluster.target} (scram-sha-256: wrong passwords are refused)")
        say("  Azurite          blob leases for the per-secret lock")

        user = f"orders_{secrets.token_hex(3)}"
        password = secrets.token_urlsafe(24)
        with cluster.connect() as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} WITH LOGIN PASSWORD {}").format(
                    sql.Identifier(user), sql.Literal(password)
                )
            )
        client = SecretClient(vault_url, ManagedIdentityCredential(client_id=identity.client_id))
        tags = {"rotation-rotator": "postgres", "rotation-target": cluster.target}
        if args.strategy == "alternating":
            client.set_secret(
                ADMIN_SECRET,
                json.dumps({"username": cluster.superuser, "password": cluster.password}),
                content_type="application/json",
                # An admin secret serves only the secrets (and target) it names.
                tags={"rotation-admin-for": SECRET, "rotation-target": cluster.target},
            )
            tags |= {"rotation-strategy": "alternating", "rotation-admin-secret": ADMIN_SECRET}
        first = client.set_secret(
            SECRET,
            json.dumps({"username": user, "password": password}),
            content_type="application/json",
            expires_on=datetime.now(UTC) + timedelta(days=40),
            tags=tags,
        ).properties
        say(f"\n1. Stored '{SECRET}' version {first.version} for login '{user}'")
        say(f"   expires {first.expires_on:%Y-%m-%d}; tags {tags}")

        os.environ.update(
            {
                "AZURE_CLIENT_ID": identity.client_id,
                "ROTATION_VAULTS": vault_url,
                "AzureWebJobsStorage": storage.connection_string,
            }
        )
        import function_app

        (near_expiry,) = [
            f.get_user_function()
            for f in function_app.app.get_functions()
            if f.get_function_name() == "secret_near_expiry"
        ]
        from emulators.eventgrid.functions import as_functions_event

        delivered: list[str] = []

        def to_function(event: dict[str, Any]) -> None:
            delivered.append(event["eventType"])
            near_expiry(as_functions_event(event))

        stack.eventgrid.subscribe(
            VAULT, event_types=["Microsoft.KeyVault.SecretNearExpiry"], handler=to_function
        )
        stack.clock.advance(timedelta(days=15))
        raised = stack.eventgrid.check_expiry()
        say("\n2. Moved the emulated clock 15 days: Key Vault raised")
        for event in raised:
            say(
                f"   {event['eventType']} for {event['subject']} version {event['data']['Version']}"
            )
        with recording() as recorder:
            stack.eventgrid.flush()
        say(f"\n3. Event Grid delivered {len(delivered)} event(s) to 'secret_near_expiry':")
        for step in recorder.steps:
            say(f"   - {step}")

        secret = client.get_secret(SECRET)
        value = json.loads(secret.value or "{}")
        props = secret.properties
        new_tags = props.tags or {}
        say(f"\n4. '{SECRET}' is now version {props.version}, expires {props.expires_on:%Y-%m-%d}")
        say(
            f"   state {new_tags.get('rotation-state')}, rotated from "
            f"{new_tags.get('rotation-previous-version')}"
        )
        new_ok = logs_in(cluster, value["username"], value["password"])
        old_ok = logs_in(cluster, user, password)
        say(f"   new credential ('{value['username']}') logs in: {'yes' if new_ok else 'NO'}")
        say(f"   old credential ('{user}') logs in: {'yes' if old_ok else 'no'}")

        if args.strategy == "alternating":
            say(
                f"   The old login '{user}' is not disabled: under 'alternating' it stays as the\n"
                "   standby, so consumers still holding the old version keep working. The engine\n"
                "   waits for the secret's consumers (none are named here) before it calls the\n"
                "   rotation completed; the next rotation resets the standby's password and\n"
                "   switches the secret back to that login (step 6)."
            )

        status = function_app.service().status(VAULT, SECRET)
        say(f"\n5. Status API (GET /api/rotations/{VAULT}/{SECRET}):")
        say("   " + json.dumps(status, indent=2).replace("\n", "\n   "))
        rotated = props.version != first.version and new_ok
        expected_old = args.strategy == "alternating"
        if not rotated or old_ok != expected_old:
            print("\nThe rotation did not do what it should; see the steps above.", file=sys.stderr)
            return 1
        if args.strategy == "alternating":
            return (
                0
                if show_second_rotation(function_app, client, cluster, value, user, password)
                else 1
            )
    return 0


def show_second_rotation(
    function_app: Any, client: Any, cluster: Any, first: dict[str, str], user: str, password: str
) -> bool:
    """Alternating: a second rotation resets the login the first one left as the standby."""
    say = print
    with recording() as recorder:
        outcome = function_app.service().rotate_now(VAULT, SECRET)
    say(f"\n6. Rotated again now (POST /api/rotations/{VAULT}/{SECRET}): {outcome.status.value}")
    for step in recorder.steps:
        say(f"   - {step}")
    second = json.loads(client.get_secret(SECRET).value or "{}")
    original_ok = logs_in(cluster, user, password)
    second_ok = logs_in(cluster, second["username"], second["password"])
    standby_ok = logs_in(cluster, first["username"], first["password"])
    say(f"   the secret now holds login '{second['username']}' with a new password")
    say(f"   new credential ('{second['username']}') logs in: {'yes' if second_ok else 'NO'}")
    say(
        f"   first rotation's credential ('{first['username']}', now the standby) logs in: "
        f"{'yes' if standby_ok else 'no'}"
    )
    say(
        f"   original credential ('{user}', its password reset) logs in: "
        f"{'yes' if original_ok else 'no'}"
    )
    if second["username"] != user or not second_ok or not standby_ok or original_ok:
        print("\nThe second rotation did not do what it should.", file=sys.stderr)
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
