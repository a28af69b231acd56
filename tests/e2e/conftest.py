"""The app under test, end to end: function_app.py's triggers, the real Azure SDKs against
the emulated Key Vault and Event Grid, Azurite for leases and queues, a real PostgreSQL."""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import psycopg
import pytest
from azure.identity import ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient
from azure.storage.queue import QueueClient, TextBase64DecodePolicy
from psycopg import sql

import function_app
from emulators.azurite import Azurite
from emulators.eventgrid import EVENT_GRID_SCHEMA
from emulators.eventgrid.delivery import Subscription
from emulators.eventgrid.emulator import EventGridEmulator
from emulators.pytest_plugin import VaultHandle
from emulators.stack import AzureStack
from rotation.service import RotationService
from rotation.settings import WORK_QUEUE
from tests.support.functions_host import event_grid_input, http_input, queue_input
from tests.support.local_targets import create_pg_role
from tests.support.pg_cluster import ScramCluster

NEAR_EXPIRY = "Microsoft.KeyVault.SecretNearExpiry"


@functools.cache
def indexed_functions() -> dict[str, Any]:
    """function_app's functions by name, indexed once (the SDK refuses a second indexing,
    as the Functions host indexes an app once)."""
    return {str(fn.get_function_name()): fn for fn in function_app.app.get_functions()}


@pytest.fixture(scope="session")
def event_grid(azure_stack: AzureStack) -> EventGridEmulator:
    """The session stack's Event Grid (deliveries driven by ``flush()``)."""
    return azure_stack.eventgrid


@dataclass
class AppUnderTest:
    """The deployed app as a test sees it."""

    vault: VaultHandle
    client: SecretClient
    event_grid: EventGridEmulator
    azurite: Azurite

    def function(self, name: str) -> Callable[..., Any]:
        """The user function behind trigger ``name`` of function_app.py."""
        return indexed_functions()[name].get_user_function()  # type: ignore[no-any-return]

    def service(self) -> RotationService:
        return function_app.service()

    def deliver_to_function(self, event: dict[str, Any] | str) -> None:
        """Event Grid handler: hand the event (a delivered JSON object, or its text) to the
        Event Grid trigger as the host would, through the worker's binding converter (a
        ``func.CloudEvent`` for the CloudEvents schema, a ``func.EventGridEvent`` otherwise)."""
        self.function("secret_near_expiry")(event_grid_input(event))

    def api(self, method: str, name: str, **params: str) -> tuple[int, dict[str, Any]]:
        """One call of the HTTP trigger for ``name`` in this vault, as the host makes it;
        returns the status code and the JSON body."""
        response = self.function("rotation_api")(
            http_input(method, {"vault": self.vault.name, "name": name}, params)
        )
        return response.status_code, json.loads(response.get_body() or b"{}")

    def put_login(
        self,
        name: str,
        username: str,
        password: str,
        *,
        tags: Mapping[str, str],
        expires_in_days: float | None = None,
    ) -> str:
        """Store the JSON login ``{"username", "password"}`` as secret ``name`` with ``tags``
        (and an expiry ``expires_in_days`` from now, if given); return the new version."""
        options: dict[str, Any] = {}
        if expires_in_days is not None:
            options["expires_on"] = in_days(expires_in_days)
        secret = self.client.set_secret(
            name,
            json.dumps({"username": username, "password": password}),
            content_type="application/json",
            tags=dict(tags),
            **options,
        )
        return secret.properties.version or ""

    def http_response(self, method: str, name: str, **params: str) -> func.HttpResponse:
        """The HTTP trigger's response for ``name`` in this vault, called with a bare
        ``func.HttpRequest`` for ``/api/rotations/{vault}/{name}`` (no headers, no body)."""
        response: func.HttpResponse = self.function("rotation_api")(
            func.HttpRequest(
                method=method,
                url=f"/api/rotations/{self.vault.name}/{name}",
                route_params={"vault": self.vault.name, "name": name},
                params=params,
                body=b"",
            )
        )
        return response

    @contextmanager
    def near_expiry_subscription(self, schema: str = EVENT_GRID_SCHEMA) -> Iterator[Subscription]:
        """This vault's ``SecretNearExpiry`` events delivered to the Event Grid trigger,
        for the duration of the ``with`` block."""
        subscription = self.event_grid.subscribe(
            self.vault.name,
            event_types=[NEAR_EXPIRY],
            schema=schema,
            handler=self.deliver_to_function,
        )
        try:
            yield subscription
        finally:
            self.event_grid.unsubscribe(subscription)

    def reach_near_expiry(self) -> None:
        """Let Key Vault's clock reach the near-expiry window (15 days on) and deliver the
        resulting events to the current subscriptions."""
        self.vault.stack.clock.advance(timedelta(days=15))
        self.event_grid.check_expiry()
        self.event_grid.flush()

    def queue(self) -> QueueClient:
        return QueueClient.from_connection_string(
            self.azurite.connection_string,
            WORK_QUEUE,
            message_decode_policy=TextBase64DecodePolicy(),
        )

    def run_queue_worker(self) -> int:
        """Feed every queued work message to the queue trigger; return how many."""
        queue = self.queue()
        count = 0
        for message in queue.receive_messages(max_messages=32):
            self.function("rotation_worker")(queue_input(message.content))
            queue.delete_message(message)
            count += 1
        return count

    def versions(self, name: str) -> list[Any]:
        return list(self.client.list_properties_of_secret_versions(name))


@pytest.fixture
def app(
    key_vault: VaultHandle,
    azurite: Azurite,
    event_grid: EventGridEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[AppUnderTest]:
    """App settings pointing at a fresh vault; the service is rebuilt for each test."""
    monkeypatch.setenv("AZURE_CLIENT_ID", key_vault.identity.client_id)
    monkeypatch.setenv("ROTATION_VAULTS", key_vault.url)
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.setenv("ROTATION_SWEEP_MODE", "queue")
    monkeypatch.setenv("ROTATION_VERIFY_BACKOFF_SECONDS", "0.05")
    function_app.service.cache_clear()
    client = SecretClient(
        key_vault.url, ManagedIdentityCredential(client_id=key_vault.identity.client_id)
    )
    queue = QueueClient.from_connection_string(azurite.connection_string, WORK_QUEUE)
    try:
        queue.clear_messages()
    except Exception:  # the queue does not exist yet
        pass
    yield AppUnderTest(key_vault, client, event_grid, azurite)
    function_app.service.cache_clear()


@pytest.fixture
def pg_login(scram_postgres: ScramCluster) -> Iterator[Callable[[], tuple[str, str]]]:
    """Makes PostgreSQL login roles with random passwords; drops them (and clones) after."""
    made: list[str] = []

    def make() -> tuple[str, str]:
        name = f"app_{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(24)
        with scram_postgres.connect() as conn:
            create_pg_role(conn, name, password)
        made.append(name)
        return name, password

    yield make
    with scram_postgres.connect() as conn:
        for name in made:
            for role in (f"{name}_clone", name):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def pg_logs_in(cluster: ScramCluster, username: str, password: str) -> bool:
    """Whether the cluster accepts this login (it refuses wrong passwords)."""
    try:
        with cluster.connect(username, password) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError as error:
        if "password authentication failed" in str(error):
            return False
        raise


def in_days(days: float) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)
