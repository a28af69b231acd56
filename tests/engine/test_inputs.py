"""Parsing of what reaches the app from outside: events, settings, queue messages, tags."""

from __future__ import annotations

import pytest

from rotation import tags as T
from rotation.config import parse_config
from rotation.errors import ConfigurationError, MalformedEvent
from rotation.events import parse_event
from rotation.outcome import Trigger
from rotation.rotator import Strategy
from rotation.settings import AppSettings, SweepMode
from rotation.sweep import DueSecret
from rotation.workqueue import decode_message, encode_message
from tests.engine.fakes import FakeRotator

KV_DATA = {
    "Id": "https://MyVault.vault.azure.net/secrets/app-db/0123456789abcdef0123456789abcdef",
    "VaultName": "MyVault",
    "ObjectType": "Secret",
    "ObjectName": "app-db",
    "Version": "0123456789abcdef0123456789abcdef",
    "NBF": None,
    "EXP": 1_800_000_000,
}


def test_event_grid_schema_event_is_parsed() -> None:
    event = parse_event(
        {"id": "e1", "eventType": "Microsoft.KeyVault.SecretNearExpiry", "data": KV_DATA}
    )
    assert event.vault_url == "https://myvault.vault.azure.net"
    assert (event.secret_name, event.version) == ("app-db", KV_DATA["Version"])
    assert event.asks_for_rotation


def test_cloudevents_schema_event_is_parsed() -> None:
    event = parse_event(
        {
            "specversion": "1.0",
            "id": "e2",
            "type": "Microsoft.KeyVault.SecretExpired",
            "source": "/subscriptions/x",
            "data": KV_DATA,
        }
    )
    assert event.asks_for_rotation and event.secret_name == "app-db"


def test_new_version_and_certificate_events_do_not_ask_for_rotation() -> None:
    created = parse_event(
        {"eventType": "Microsoft.KeyVault.SecretNewVersionCreated", "data": KV_DATA}
    )
    cert = parse_event(
        {
            "eventType": "Microsoft.KeyVault.SecretNearExpiry",
            "data": {**KV_DATA, "ObjectType": "Certificate"},
        }
    )
    assert not created.asks_for_rotation and not cert.asks_for_rotation


@pytest.mark.parametrize(
    "event",
    [
        [],
        {},
        {"eventType": "Microsoft.KeyVault.SecretNearExpiry"},
        {"eventType": "Microsoft.KeyVault.SecretNearExpiry", "data": "text"},
        {"eventType": "Microsoft.KeyVault.SecretNearExpiry", "data": {"ObjectName": "x"}},
    ],
)
def test_malformed_events_are_refused_with_a_reason(event: object) -> None:
    with pytest.raises(MalformedEvent):
        parse_event(event)


def test_settings_normalise_vaults_and_check_modes() -> None:
    settings = AppSettings.from_env(
        {"ROTATION_VAULTS": "https://Kv-A.vault.azure.net/, kv-b", "AZURE_CLIENT_ID": "id"}
    )
    assert settings.vault_urls == ("https://kv-a.vault.azure.net", "https://kv-b.vault.azure.net")
    assert settings.sweep_mode is SweepMode.QUEUE
    assert settings.allowed_vault("kv-a") == "https://kv-a.vault.azure.net"
    assert settings.allowed_vault("https://kv-b.vault.azure.net") == "https://kv-b.vault.azure.net"
    assert settings.allowed_vault("kv-c") is None
    with pytest.raises(ConfigurationError, match="ROTATION_VAULTS"):
        AppSettings.from_env({})
    with pytest.raises(ConfigurationError, match="ROTATION_SWEEP_MODE"):
        AppSettings.from_env({"ROTATION_VAULTS": "kv-a", "ROTATION_SWEEP_MODE": "later"})
    with pytest.raises(ConfigurationError, match="https"):
        AppSettings.from_env({"ROTATION_VAULTS": "http://kv-a.vault.azure.net"})


def test_queue_messages_round_trip_and_bad_ones_are_refused() -> None:
    item = DueSecret("https://kv-a.vault.azure.net", "db", "v1", "near expiry")
    request = decode_message(encode_message(item))
    assert (request.vault_url, request.secret_name, request.expected_version) == (
        "https://kv-a.vault.azure.net",
        "db",
        "v1",
    )
    assert request.trigger is Trigger.QUEUE
    for body in (
        "not json",
        "[]",
        '{"vault_url": 1}',
        '{"vault_url":"u","secret_name":"n","version":3}',
    ):
        with pytest.raises(ConfigurationError):
            decode_message(body)


def test_config_defaults_and_options() -> None:
    config = parse_config(
        "db", {T.ROTATOR: "fake", T.TARGET: "h", "rotation-profile": "datadog"}, FakeRotator
    )
    assert config.strategy is Strategy.SINGLE and config.validity_days == 90
    assert config.options == {"profile": "datadog"}
    with pytest.raises(ConfigurationError, match=T.TARGET):
        parse_config("db", {T.ROTATOR: "fake"}, FakeRotator)
    with pytest.raises(ConfigurationError, match="own admin"):
        parse_config("db", {T.ROTATOR: "fake", T.TARGET: "h", T.ADMIN_SECRET: "db"}, FakeRotator)
