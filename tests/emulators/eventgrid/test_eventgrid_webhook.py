"""Webhook delivery to a real local HTTP server: handshakes, payloads, retries, dead letters."""

from __future__ import annotations

import pytest

from emulators.eventgrid import (
    CLOUD_EVENT_SCHEMA,
    SECRET_NEW_VERSION_CREATED,
    EventGridEmulator,
    SubscriptionValidationError,
)
from emulators.events import SecretChange

from .conftest import Received, VaultState, WebhookServer


def new_version(eventgrid: EventGridEmulator, state: VaultState, name: str, v: str) -> None:
    eventgrid.on_secret_change(SecretChange("SecretNewVersionCreated", state.put("kv", name, v)))


def test_event_grid_schema_handshake_then_array_delivery(
    eventgrid: EventGridEmulator, vault_state: VaultState, webhook: WebhookServer
) -> None:
    sub = eventgrid.subscribe("kv", endpoint_url=webhook.url, name="rotate-on-change")
    (handshake,) = webhook.requests
    assert handshake.headers["aeg-event-type"] == "SubscriptionValidation"
    assert handshake.body[0]["eventType"] == "Microsoft.EventGrid.SubscriptionValidationEvent"
    assert handshake.body[0]["data"]["validationCode"]

    new_version(eventgrid, vault_state, "db", "v1")
    eventgrid.flush()
    (note,) = webhook.notifications()
    assert note.headers["content-type"].startswith("application/json")
    assert note.headers["aeg-subscription-name"] == "ROTATE-ON-CHANGE"
    assert note.headers["aeg-delivery-count"] == "0"
    assert isinstance(note.body, list) and len(note.body) == 1
    assert note.body[0]["eventType"] == SECRET_NEW_VERSION_CREATED
    assert note.body[0]["data"]["ObjectName"] == "db"
    assert sub.delivered_ids() == [note.body[0]["id"]]


def test_failed_event_grid_handshake_refuses_the_subscription(
    eventgrid: EventGridEmulator, vault_state: VaultState, webhook: WebhookServer
) -> None:
    webhook.validate = False
    with pytest.raises(SubscriptionValidationError, match="validationCode"):
        eventgrid.subscribe("kv", endpoint_url=webhook.url)
    new_version(eventgrid, vault_state, "db", "v1")
    assert eventgrid.pending_count() == 0


def test_cloud_events_options_handshake_and_single_event(
    eventgrid: EventGridEmulator, vault_state: VaultState, webhook: WebhookServer
) -> None:
    eventgrid.subscribe("kv", schema=CLOUD_EVENT_SCHEMA, endpoint_url=webhook.url)
    (options,) = webhook.requests
    assert options.method == "OPTIONS"
    assert options.headers["webhook-request-origin"] == "eventgrid.azure.net"

    new_version(eventgrid, vault_state, "db", "v1")
    eventgrid.flush()
    (note,) = webhook.notifications()
    assert note.headers["content-type"].startswith("application/cloudevents+json")
    assert note.body["specversion"] == "1.0" and note.body["subject"] == "db"


def test_cloud_events_batch_content_type(
    eventgrid: EventGridEmulator, vault_state: VaultState, webhook: WebhookServer
) -> None:
    eventgrid.subscribe(
        "kv", schema=CLOUD_EVENT_SCHEMA, endpoint_url=webhook.url, max_events_per_batch=10
    )
    for i in range(3):
        new_version(eventgrid, vault_state, f"s{i}", "v1")
    eventgrid.flush()
    (note,) = webhook.notifications()
    assert note.headers["content-type"].startswith("application/cloudevents-batch+json")
    assert [e["subject"] for e in note.body] == ["s0", "s1", "s2"]


def test_cloud_events_handshake_refused(
    eventgrid: EventGridEmulator, webhook: WebhookServer
) -> None:
    webhook.validate = False
    with pytest.raises(SubscriptionValidationError, match="WebHook-Allowed-Origin"):
        eventgrid.subscribe("kv", schema=CLOUD_EVENT_SCHEMA, endpoint_url=webhook.url)


def test_5xx_is_retried_with_delivery_count(
    eventgrid: EventGridEmulator, vault_state: VaultState, webhook: WebhookServer
) -> None:
    answers = iter([503, 500, 200])
    webhook.respond = lambda _r: next(answers)
    sub = eventgrid.subscribe("kv", endpoint_url=webhook.url, max_attempts=5)
    new_version(eventgrid, vault_state, "db", "v1")
    eventgrid.flush()
    notes = webhook.notifications()
    assert [n.headers["aeg-delivery-count"] for n in notes] == ["0", "1", "2"]
    assert len({n.body[0]["id"] for n in notes}) == 1
    assert [r.result.status for r in sub.attempts] == [503, 500, 200]
    assert eventgrid.dead_letters == []


def test_400_is_dead_lettered_without_retry(
    eventgrid: EventGridEmulator, vault_state: VaultState, webhook: WebhookServer
) -> None:
    webhook.respond = lambda _r: 400
    eventgrid.subscribe("kv", endpoint_url=webhook.url, max_attempts=5)
    new_version(eventgrid, vault_state, "db", "v1")
    eventgrid.flush()
    assert len(webhook.notifications()) == 1
    (letter,) = eventgrid.dead_letters
    assert letter.dead_letter_reason == "UndeliverableDueToHttpBadRequest"
    assert (letter.last_http_status_code, letter.delivery_attempts) == (400, 1)


def test_timeouts_are_retried_then_dead_lettered(
    eventgrid: EventGridEmulator, vault_state: VaultState, webhook: WebhookServer
) -> None:
    eventgrid.subscribe("kv", endpoint_url=webhook.url, max_attempts=2, timeout_s=0.2)
    webhook.delay_s = 0.5
    new_version(eventgrid, vault_state, "db", "v1")
    eventgrid.flush()
    (letter,) = eventgrid.dead_letters
    assert letter.dead_letter_reason == "MaxDeliveryAttemptsExceeded"
    assert letter.last_delivery_outcome == "TimedOut"
    assert letter.delivery_attempts == 2


def test_unreachable_endpoint_errors_do_not_leak_the_url(
    eventgrid: EventGridEmulator, vault_state: VaultState, webhook: WebhookServer
) -> None:
    secret_url = webhook.url + "?code=do-not-print-me"
    sub = eventgrid.subscribe("kv", endpoint_url=secret_url, max_attempts=1)
    webhook.respond = lambda _r: 500
    new_version(eventgrid, vault_state, "db", "v1")
    eventgrid.flush()
    (letter,) = eventgrid.dead_letters
    assert "do-not-print-me" not in repr(letter) and "do-not-print-me" not in repr(sub.attempts)


def test_duplicates_reach_the_webhook(
    eventgrid: EventGridEmulator, vault_state: VaultState, webhook: WebhookServer
) -> None:
    eventgrid.subscribe("kv", endpoint_url=webhook.url, duplicate_every=1)
    new_version(eventgrid, vault_state, "db", "v1")
    eventgrid.flush()
    notes: list[Received] = webhook.notifications()
    assert len(notes) == 2 and notes[0].body == notes[1].body
