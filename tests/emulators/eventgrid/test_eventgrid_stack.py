"""The emulator wired into the local Azure stack, driven by the real Azure SDK clients.

The stack here is this module's own (not the session's ``azure_stack``) because these tests
move its clock by weeks, which other tests must not see.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from azure.core.credentials import AzureKeyCredential, AzureSasCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent, EventGridPublisherClient, generate_sas
from azure.identity import ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient

from emulators.eventgrid import (
    CLOUD_EVENT_SCHEMA,
    EVENT_GRID_SCHEMA,
    SECRET_NEAR_EXPIRY,
    SECRET_NEW_VERSION_CREATED,
    EventGridEmulator,
)
from emulators.identity import ManagedIdentity
from emulators.pytest_plugin import new_vault
from emulators.stack import AzureStack
from tests.support.functions_host import functions_event

from .conftest import WebhookServer


@pytest.fixture(scope="module")
def eventgrid(stack: AzureStack) -> EventGridEmulator:
    return stack.eventgrid


@pytest.fixture
def identity(stack: AzureStack) -> ManagedIdentity:
    return stack.identity.add_identity()


@pytest.fixture
def vault(stack: AzureStack, identity: ManagedIdentity) -> Iterator[SecretClient]:
    handle = new_vault(stack, identity)
    credential = ManagedIdentityCredential(client_id=identity.client_id)
    with SecretClient(handle.url, credential) as client:
        yield client
    credential.close()


def vault_name(client: SecretClient) -> str:
    return client.vault_url.split("//", 1)[1].split(".", 1)[0]


def test_set_secret_raises_new_version_in_both_schemas(
    eventgrid: EventGridEmulator, vault: SecretClient, webhook: WebhookServer
) -> None:
    name = vault_name(vault)
    grid: list[dict[str, Any]] = []
    cloud: list[dict[str, Any]] = []
    eventgrid.subscribe(name, event_types=[SECRET_NEW_VERSION_CREATED], handler=grid.append)
    eventgrid.subscribe(name, schema=CLOUD_EVENT_SCHEMA, handler=cloud.append)
    eventgrid.subscribe(name, schema=EVENT_GRID_SCHEMA, endpoint_url=webhook.url)

    secret = vault.set_secret("db-password", "s3cr3t-value-never-in-events")
    eventgrid.flush()

    (event,) = grid
    assert event["eventType"] == SECRET_NEW_VERSION_CREATED
    assert event["topic"] == eventgrid.vault_topic(name)
    assert event["subject"] == "db-password"
    assert event["data"]["Id"] == secret.id
    assert event["data"]["Version"] == secret.properties.version
    assert event["data"]["VaultName"] == name and event["data"]["EXP"] is None
    (cloud_event,) = cloud
    assert cloud_event["type"] == SECRET_NEW_VERSION_CREATED
    assert cloud_event["source"] == eventgrid.vault_topic(name)
    assert cloud_event["data"] == event["data"]
    (note,) = webhook.notifications()
    assert note.body[0]["data"] == event["data"]
    for delivered in (event, cloud_event, note.body):
        assert "s3cr3t-value-never-in-events" not in repr(delivered)

    # The Functions Event Grid trigger type is built from what was delivered.
    trigger = functions_event(event)
    assert trigger.get_json()["Version"] == secret.properties.version


def test_near_expiry_after_the_clock_moves(
    stack: AzureStack, eventgrid: EventGridEmulator, vault: SecretClient
) -> None:
    name = vault_name(vault)
    seen: list[dict[str, Any]] = []
    eventgrid.subscribe(name, event_types=[SECRET_NEAR_EXPIRY], handler=seen.append)
    expires = (stack.clock.now() + timedelta(days=40)).replace(microsecond=0)
    secret = vault.set_secret("api-key", "value-1", expires_on=expires)

    eventgrid.check_expiry()
    eventgrid.flush()
    assert seen == []

    stack.clock.advance(timedelta(days=11))
    eventgrid.check_expiry()
    eventgrid.check_expiry()
    eventgrid.flush()
    (event,) = seen
    assert event["subject"] == "api-key"
    assert event["data"]["Version"] == secret.properties.version
    assert event["data"]["EXP"] == int(expires.timestamp())


def test_failing_handler_is_retried_then_dead_lettered(
    eventgrid: EventGridEmulator, vault: SecretClient
) -> None:
    attempts: list[str] = []

    def failing(event: dict[str, Any]) -> None:
        attempts.append(event["id"])
        raise RuntimeError("consumer down")

    sub = eventgrid.subscribe(vault_name(vault), handler=failing, max_attempts=3)
    vault.set_secret("flaky", "v")
    eventgrid.flush()
    assert len(attempts) == 3 and len(set(attempts)) == 1
    (letter,) = sub.dead_letters
    assert letter.dead_letter_reason == "MaxDeliveryAttemptsExceeded"
    assert letter.event["subject"] == "flaky"


def test_duplicates_are_delivered(eventgrid: EventGridEmulator, vault: SecretClient) -> None:
    seen: list[str] = []
    eventgrid.subscribe(vault_name(vault), handler=lambda e: seen.append(e["id"]))
    vault.set_secret("dup", "v")
    eventgrid.flush()
    assert eventgrid.deliver_duplicate(seen[0]) == 1
    eventgrid.flush()
    assert len(seen) == 2 and seen[0] == seen[1]


# -- custom topics --------------------------------------------------------------------------


def topic_name() -> str:
    return f"rotation-{secrets.token_hex(4)}"


def test_publish_cloud_events_with_access_key(eventgrid: EventGridEmulator) -> None:
    topic = eventgrid.create_topic(topic_name())
    assert topic.endpoint.startswith(f"https://{topic.name}.westus2-1.eventgrid.azure.net/")
    client = EventGridPublisherClient(topic.endpoint, AzureKeyCredential(topic.key))
    client.send(CloudEvent(source="/rotation", type="Rotation.Committed", data={"secret": "db"}))
    client.send(
        [
            CloudEvent(source="/rotation", type="Rotation.Started", data={"n": 1}),
            CloudEvent(source="/rotation", type="Rotation.Retired", data={"n": 2}),
        ]
    )
    received = eventgrid.received(topic.name)
    assert [e["type"] for e in received] == [
        "Rotation.Committed",
        "Rotation.Started",
        "Rotation.Retired",
    ]
    assert received[0]["data"] == {"secret": "db"} and received[0]["specversion"] == "1.0"


def test_publish_with_second_key_and_sas_token(eventgrid: EventGridEmulator) -> None:
    topic = eventgrid.create_topic(topic_name())
    EventGridPublisherClient(topic.endpoint, AzureKeyCredential(topic.key2)).send(
        CloudEvent(source="/r", type="Key2", data=None)
    )
    sas = generate_sas(topic.endpoint, topic.key, datetime.now().astimezone() + timedelta(hours=1))
    EventGridPublisherClient(topic.endpoint, AzureSasCredential(sas)).send(
        CloudEvent(source="/r", type="Sas", data=None)
    )
    assert [e["type"] for e in eventgrid.received(topic.name)] == ["Key2", "Sas"]

    expired = generate_sas(
        topic.endpoint, topic.key, datetime.now().astimezone() - timedelta(minutes=1)
    )
    with pytest.raises(ClientAuthenticationError):
        EventGridPublisherClient(topic.endpoint, AzureSasCredential(expired)).send(
            CloudEvent(source="/r", type="Expired", data=None)
        )


def test_wrong_key_is_refused_with_event_grid_401(eventgrid: EventGridEmulator) -> None:
    topic = eventgrid.create_topic(topic_name())
    client = EventGridPublisherClient(topic.endpoint, AzureKeyCredential("d3Jvbmcta2V5"))
    with pytest.raises(ClientAuthenticationError) as caught:
        client.send(CloudEvent(source="/r", type="Nope", data=None))
    assert caught.value.status_code == 401
    assert caught.value.response is not None
    body = json.loads(caught.value.response.text())
    assert body["error"]["code"] == "Unauthorized"
    assert "d3Jvbmcta2V5" not in body["error"]["message"]
    assert eventgrid.received(topic.name) == []


def test_publish_with_managed_identity(
    stack: AzureStack, eventgrid: EventGridEmulator, identity: ManagedIdentity
) -> None:
    topic = eventgrid.create_topic(topic_name())
    credential = ManagedIdentityCredential(client_id=identity.client_id)
    client = EventGridPublisherClient(topic.endpoint, credential)
    event = CloudEvent(source="/rotation", type="Rotation.Overdue", data={"secret": "db"})
    with pytest.raises(ClientAuthenticationError):
        client.send(event)  # no EventGrid Data Sender role yet
    topic.grant_data_sender(identity.principal_id)
    client.send(event)
    (received,) = eventgrid.received(topic.name)
    assert received["id"] == event.id and received["type"] == "Rotation.Overdue"
    credential.close()


def test_token_for_another_audience_is_refused(
    stack: AzureStack, eventgrid: EventGridEmulator, identity: ManagedIdentity
) -> None:
    topic = eventgrid.create_topic(topic_name())
    topic.grant_data_sender(identity.principal_id)

    class VaultTokenCredential:
        """Hands Event Grid a token minted for Key Vault instead."""

        def __init__(self) -> None:
            self._inner = ManagedIdentityCredential(client_id=identity.client_id)

        def get_token(self, *_scopes: str, **kwargs: Any) -> Any:
            return self._inner.get_token("https://vault.azure.net/.default", **kwargs)

    client = EventGridPublisherClient(topic.endpoint, VaultTokenCredential())
    with pytest.raises(ClientAuthenticationError):
        client.send(CloudEvent(source="/r", type="WrongAudience", data=None))
    assert eventgrid.received(topic.name) == []


def test_event_grid_schema_topic(eventgrid: EventGridEmulator) -> None:
    topic = eventgrid.create_topic(topic_name(), input_schema=EVENT_GRID_SCHEMA)
    client = EventGridPublisherClient(topic.endpoint, AzureKeyCredential(topic.key))
    client.send(
        EventGridEvent(subject="db", event_type="Rotation.Committed", data={}, data_version="1")
    )
    (received,) = eventgrid.received(topic.name)
    assert received["eventType"] == "Rotation.Committed"
    assert received["topic"] == topic.resource_id
    # A CloudEvent does not fit an Event Grid schema topic: 400, as Event Grid answers.
    with pytest.raises(HttpResponseError) as caught:
        client.send(CloudEvent(source="/r", type="Wrong", data=None))
    assert caught.value.status_code == 400


def test_unknown_topic_host_is_not_found(eventgrid: EventGridEmulator) -> None:
    client = EventGridPublisherClient(
        "https://no-such-topic.westus2-1.eventgrid.azure.net/api/events",
        AzureKeyCredential("a2V5"),
    )
    with pytest.raises(ResourceNotFoundError):
        client.send(CloudEvent(source="/r", type="T", data=None))
