"""Shapes of Key Vault events in both schemas, and their use by the Functions trigger type."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent

from emulators.eventgrid.functions import as_functions_event
from emulators.eventgrid.schema import (
    SECRET_NEAR_EXPIRY,
    SECRET_NEW_VERSION_CREATED,
    secret_event,
    to_cloud_event,
    utc_time,
)
from emulators.events import SecretVersionInfo
from tests.support.functions_host import functions_event

NOW = datetime(2026, 11, 23, 17, 0, 5, 123456, tzinfo=UTC)
SECRET = SecretVersionInfo(
    vault="kv-app",
    name="db-password",
    version="0d9f4c1e2b3a4d5e6f708192a3b4c5d6",
    enabled=True,
    not_before=datetime(2026, 11, 1, tzinfo=UTC),
    expires=datetime(2027, 1, 1, tzinfo=UTC),
)


def test_event_grid_schema_matches_key_vault_shape() -> None:
    event = secret_event(
        SECRET_NEW_VERSION_CREATED, SECRET, now=NOW, subscription_id="sub-1", resource_group="rg"
    )
    assert event["topic"] == (
        "/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-app"
    )
    assert event["subject"] == "db-password"
    assert event["eventType"] == "Microsoft.KeyVault.SecretNewVersionCreated"
    assert event["eventTime"] == "2026-11-23T17:00:05.123456Z"
    assert (event["dataVersion"], event["metadataVersion"]) == ("1", "1")
    assert event["data"] == {
        "Id": "https://kv-app.vault.azure.net/secrets/db-password/0d9f4c1e2b3a4d5e6f708192a3b4c5d6",
        "VaultName": "kv-app",
        "ObjectType": "Secret",
        "ObjectName": "db-password",
        "Version": "0d9f4c1e2b3a4d5e6f708192a3b4c5d6",
        "NBF": int(datetime(2026, 11, 1, tzinfo=UTC).timestamp()),
        "EXP": int(datetime(2027, 1, 1, tzinfo=UTC).timestamp()),
    }
    # The SDK's own model accepts it as an Event Grid event.
    parsed = EventGridEvent.from_dict(event)
    assert parsed.event_type == SECRET_NEW_VERSION_CREATED
    assert parsed.subject == "db-password"


def test_missing_dates_are_null() -> None:
    bare = SecretVersionInfo("kv", "s", "v1", True, None, None)
    data = secret_event(SECRET_NEAR_EXPIRY, bare, now=NOW)["data"]
    assert data["NBF"] is None and data["EXP"] is None


def test_cloud_event_form_maps_topic_type_and_time() -> None:
    event = secret_event(SECRET_NEAR_EXPIRY, SECRET, now=NOW)
    cloud = to_cloud_event(event)
    assert cloud == {
        "specversion": "1.0",
        "id": event["id"],
        "source": event["topic"],
        "subject": "db-password",
        "type": "Microsoft.KeyVault.SecretNearExpiry",
        "time": "2026-11-23T17:00:05.123456Z",
        "data": event["data"],
    }
    parsed: CloudEvent[Any] = CloudEvent.from_dict(cloud)
    assert parsed.source == event["topic"] and parsed.type == SECRET_NEAR_EXPIRY


def test_unknown_event_type_and_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="not a Key Vault secret event type"):
        secret_event("Microsoft.KeyVault.KeyNearExpiry", SECRET, now=NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        utc_time(datetime(2026, 1, 1))


def test_functions_event_grid_event_builds_from_a_delivered_event() -> None:
    event = secret_event(SECRET_NEAR_EXPIRY, SECRET, now=NOW)
    trigger_input = functions_event(event)
    assert trigger_input.get_json()["ObjectName"] == "db-password"
    assert trigger_input.event_type == SECRET_NEAR_EXPIRY
    assert trigger_input.event_time == NOW


def test_as_functions_event_accepts_both_schemas() -> None:
    event = secret_event(SECRET_NEAR_EXPIRY, SECRET, now=NOW)
    for delivered in (event, to_cloud_event(event)):
        trigger_input = as_functions_event(delivered)
        assert trigger_input.id == event["id"]
        assert trigger_input.topic == event["topic"]
        assert trigger_input.event_type == SECRET_NEAR_EXPIRY
        assert trigger_input.event_time == NOW
        assert trigger_input.get_json() == event["data"]
