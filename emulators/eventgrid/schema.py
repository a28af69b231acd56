"""Key Vault events as Event Grid shapes them, in the Event Grid and CloudEvents 1.0 schemas.

The shapes follow "Azure Key Vault as Event Grid source" and the Event Grid data-plane
specification: the event's ``data`` carries ``Id, VaultName, ObjectType, ObjectName, Version,
NBF, EXP`` (``NBF``/``EXP`` as epoch seconds, or ``null`` when the version has none), the topic
is the vault's ARM resource id and the subject is the secret name.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Final, Literal

from emulators.events import SecretVersionInfo

KEYVAULT_EVENT_PREFIX: Final = "Microsoft.KeyVault."
# Event type names, not credentials (ruff's S105 sees "SECRET" in the names).
SECRET_NEW_VERSION_CREATED: Final = "Microsoft.KeyVault.SecretNewVersionCreated"  # noqa: S105
SECRET_NEAR_EXPIRY: Final = "Microsoft.KeyVault.SecretNearExpiry"  # noqa: S105
SECRET_EXPIRED: Final = "Microsoft.KeyVault.SecretExpired"  # noqa: S105
SECRET_EVENT_TYPES: Final = (SECRET_NEW_VERSION_CREATED, SECRET_NEAR_EXPIRY, SECRET_EXPIRED)

SUBSCRIPTION_VALIDATION_EVENT: Final = "Microsoft.EventGrid.SubscriptionValidationEvent"

EVENT_GRID_SCHEMA: Final = "EventGridSchema"
CLOUD_EVENT_SCHEMA: Final = "CloudEventSchemaV1_0"
Schema = Literal["EventGridSchema", "CloudEventSchemaV1_0"]
SCHEMAS: Final = (EVENT_GRID_SCHEMA, CLOUD_EVENT_SCHEMA)

DEFAULT_SUBSCRIPTION_ID: Final = "00000000-0000-0000-0000-000000000000"
DEFAULT_RESOURCE_GROUP: Final = "rg-local"


def vault_topic(vault: str, *, subscription_id: str, resource_group: str) -> str:
    """The ARM resource id of a vault: the ``topic`` (``source``) of its system events."""
    return (
        f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.KeyVault/vaults/{vault}"
    )


def _epoch(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


def secret_event_data(secret: SecretVersionInfo) -> dict[str, Any]:
    """The ``data`` object Key Vault puts in a secret event (never the secret's value)."""
    return {
        "Id": f"https://{secret.vault}.vault.azure.net/secrets/{secret.name}/{secret.version}",
        "VaultName": secret.vault,
        "ObjectType": "Secret",
        "ObjectName": secret.name,
        "Version": secret.version,
        "NBF": _epoch(secret.not_before),
        "EXP": _epoch(secret.expires),
    }


def secret_event(
    event_type: str,
    secret: SecretVersionInfo,
    *,
    now: datetime,
    subscription_id: str = DEFAULT_SUBSCRIPTION_ID,
    resource_group: str = DEFAULT_RESOURCE_GROUP,
    event_id: str | None = None,
) -> dict[str, Any]:
    """One Key Vault secret event in the Event Grid schema.

    ``event_type`` must be one of :data:`SECRET_EVENT_TYPES`; ``now`` becomes ``eventTime``.
    Convert with :func:`to_cloud_event` for CloudEvents subscribers.
    """
    if event_type not in SECRET_EVENT_TYPES:
        raise ValueError(f"not a Key Vault secret event type: {event_type!r}")
    return {
        "id": event_id or str(uuid.uuid4()),
        "topic": vault_topic(
            secret.vault, subscription_id=subscription_id, resource_group=resource_group
        ),
        "subject": secret.name,
        "eventType": event_type,
        "eventTime": utc_time(now),
        "data": secret_event_data(secret),
        "dataVersion": "1",
        "metadataVersion": "1",
    }


def utc_time(moment: datetime) -> str:
    """``moment`` (timezone-aware) as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC."""
    if moment.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    offset = moment.utcoffset()
    assert offset is not None
    return (moment - offset).replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_cloud_event(event: dict[str, Any]) -> dict[str, Any]:
    """The CloudEvents 1.0 form of an Event Grid schema event, as Event Grid maps it.

    ``topic`` becomes ``source``, ``eventType`` ``type``, ``eventTime`` ``time``; ``id``,
    ``subject`` and ``data`` are kept.
    """
    return {
        "specversion": "1.0",
        "id": event["id"],
        "source": event["topic"],
        "subject": event["subject"],
        "type": event["eventType"],
        "time": event["eventTime"],
        "data": event["data"],
    }


def in_schema(event: dict[str, Any], schema: str) -> dict[str, Any]:
    """``event`` (Event Grid schema) rendered in ``schema`` (a copy; never the same object)."""
    if schema == EVENT_GRID_SCHEMA:
        return {**event, "data": dict(event["data"])}
    if schema == CLOUD_EVENT_SCHEMA:
        return to_cloud_event({**event, "data": dict(event["data"])})
    raise ValueError(f"unknown event schema: {schema!r}")
