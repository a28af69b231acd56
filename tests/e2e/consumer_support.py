"""Helpers for the consumer-confirmation end-to-end tests (tests/e2e/test_consumers.py).

Everything here drives real things: the function_app triggers, the emulated ARM web apps and
Event Grid topics through the real SDKs, and the Redis on 127.0.0.1:6379.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from azure.functions.timer import TimerRequest

from emulators.eventgrid import Topic
from emulators.stack import AzureStack
from rotation import tags as T
from tests.e2e.conftest import AppUnderTest
from tests.support.local_targets import REDIS_HOST, REDIS_PORT, redis_set_user

REDIS_TARGET = f"{REDIS_HOST}:{REDIS_PORT}"
KEY_VAULT_SETTING = "CACHE_SECRET"


def unique(prefix: str) -> str:
    """A name no earlier run used."""
    return f"{prefix}-{secrets.token_hex(4)}"


# ---------------------------------------------------------------------- app settings


def define_consumers(monkeypatch: pytest.MonkeyPatch, definitions: dict[str, Any]) -> None:
    """Set ``ROTATION_CONSUMERS`` (before the app's service is first built)."""
    monkeypatch.setenv("ROTATION_CONSUMERS", json.dumps(definitions))


def events_topic(stack: AzureStack, app: AppUnderTest, monkeypatch: pytest.MonkeyPatch) -> Topic:
    """A fresh custom topic the app identity may publish to, set as ROTATION_EVENTS_ENDPOINT."""
    topic = stack.eventgrid.create_topic(unique("rotation-events"))
    topic.grant_data_sender(app.vault.identity.principal_id)
    monkeypatch.setenv("ROTATION_EVENTS_ENDPOINT", topic.endpoint)
    return topic


def event_types(topic: Topic, secret: str) -> list[str]:
    """The types of the outcome events received for ``secret``, in order."""
    return [e["type"] for e in topic.received() if e.get("subject") == secret]


# ---------------------------------------------------------------------- web apps


@dataclass(frozen=True)
class WebAppConsumer:
    """An emulated App Service app reading the secret through a Key Vault reference."""

    stack: AzureStack
    resource_id: str
    vault: str
    secret: str

    def definition(self, *, restart: bool) -> dict[str, Any]:
        return {
            "kind": "app-service",
            "resource_id": self.resource_id,
            "setting": KEY_VAULT_SETTING,
            "restart": restart,
        }

    def resolve(self, version: str | None, *, status: str = "Resolved") -> None:
        """Make the app's reference resolve to ``version`` (as App Service does on refresh)."""
        self.stack.arm.set_key_vault_reference(
            self.resource_id, KEY_VAULT_SETTING, self.vault, self.secret, version, status=status
        )

    def restarts(self) -> int:
        return self.stack.arm.web_app_restarts(self.resource_id)


def web_app_consumer(stack: AzureStack, app: AppUnderTest, secret: str) -> WebAppConsumer:
    """A new web app (own subscription) on which the app identity is Website Contributor."""
    resource_id = stack.arm.create_web_app(str(uuid.uuid4()), "rg-consumers", unique("web"))
    stack.arm.assign_role(resource_id, app.vault.identity.principal_id, "Website Contributor")
    return WebAppConsumer(stack, resource_id, app.vault.name, secret)


# ---------------------------------------------------------------------- Redis


class RedisUsers:
    """Creates Redis ACL users with random passwords; deletes them with :meth:`cleanup`."""

    def __init__(self) -> None:
        self.root = redis.Redis(
            host=REDIS_HOST, port=REDIS_PORT, decode_responses=True, socket_timeout=5
        )
        self.made: list[str] = []

    def make(self, *rules: str) -> tuple[str, str]:
        name = unique("consumer-user")
        password = secrets.token_urlsafe(24)
        self.made.append(name)
        redis_set_user(self.root, name, password, *rules)
        return name, password

    def cleanup(self) -> None:
        if self.made:
            self.root.execute_command("ACL DELUSER", *self.made)  # type: ignore[no-untyped-call]
        self.root.close()


def put_redis_secret(
    app: AppUnderTest, users: RedisUsers, name: str, consumers: str
) -> tuple[str, str, str]:
    """A managed ``redis-acl`` secret (multiple strategy) with its admin secret.

    Returns (version, username, password) of the first version.
    """
    admin_user, admin_password = users.make("+acl")
    user, password = users.make("+ping")
    admin_secret = f"{name}-admin"
    app.put_login(admin_secret, admin_user, admin_password, tags={T.ADMIN_FOR: name})
    tags = {
        T.ROTATOR: "redis-acl",
        T.TARGET: REDIS_TARGET,
        T.STRATEGY: "multiple",
        T.ADMIN_SECRET: admin_secret,
        T.CONSUMERS: consumers,
    }
    return app.put_login(name, user, password, tags=tags, expires_in_days=200), user, password


# ---------------------------------------------------------------------- triggers


def call_api(
    app: AppUnderTest, method: str, name: str, **params: str
) -> tuple[int, dict[str, Any]]:
    """The HTTP trigger, as the Functions host would call it."""
    response = app.http_response(method, name, **params)
    return response.status_code, json.loads(response.get_body())


def sweep(app: AppUnderTest) -> int:
    """Run the timer trigger, then the queue worker on what it enqueued; returns that count."""
    app.function("sweep")(TimerRequest(past_due=False))
    return app.run_queue_worker()


def current_secret(app: AppUnderTest, name: str) -> tuple[dict[str, Any], Any]:
    """The current value (parsed JSON) and properties of ``name``."""
    secret = app.client.get_secret(name)
    return json.loads(secret.value or ""), secret.properties
