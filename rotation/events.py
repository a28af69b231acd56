"""Key Vault events as Event Grid delivers them, in the Event Grid or CloudEvents 1.0 schema."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from rotation.errors import ConfigurationError

NEAR_EXPIRY = "Microsoft.KeyVault.SecretNearExpiry"
EXPIRED = "Microsoft.KeyVault.SecretExpired"
#: Event types that mean "this version should be rotated now".
ROTATION_EVENT_TYPES = frozenset({NEAR_EXPIRY, EXPIRED})


class MalformedEvent(ConfigurationError):
    """The event is not a Key Vault secret event this app can act on. Never retried."""


@dataclass(frozen=True)
class SecretEvent:
    """The facts of a Key Vault secret event the engine needs."""

    event_id: str
    event_type: str
    vault_url: str
    secret_name: str
    version: str
    object_type: str

    @property
    def asks_for_rotation(self) -> bool:
        """Whether this event type should start a rotation of a secret."""
        return self.event_type in ROTATION_EVENT_TYPES and self.object_type.lower() == "secret"


def parse_event(event: Mapping[str, Any]) -> SecretEvent:
    """Parse one event dict (Event Grid schema or CloudEvents 1.0) from Key Vault.

    Raises :class:`MalformedEvent` saying what is missing. Key Vault's data fields are
    ``Id, VaultName, ObjectType, ObjectName, Version, NBF, EXP``; the vault URL comes from
    ``Id`` (``https://<vault>.vault.azure.net/secrets/<name>/<version>``), falling back to
    ``VaultName`` in the public cloud.
    """
    if not isinstance(event, Mapping):
        raise MalformedEvent("event is not a JSON object")
    event_type = event.get("eventType") or event.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise MalformedEvent("event has no eventType (Event Grid) or type (CloudEvents)")
    data = event.get("data")
    if not isinstance(data, Mapping):
        raise MalformedEvent(f"{event_type} event has no data object")
    fields = {key.lower(): value for key, value in data.items()}
    name, version, vault_name = (
        fields.get("objectname"),
        fields.get("version"),
        fields.get("vaultname"),
    )
    if not (
        isinstance(name, str)
        and name
        and isinstance(version, str)
        and version
        and isinstance(vault_name, str)
        and vault_name
    ):
        raise MalformedEvent(
            f"{event_type} event data needs ObjectName, Version and VaultName as strings"
        )
    return SecretEvent(
        event_id=str(event.get("id", "")),
        event_type=event_type,
        vault_url=_vault_url(fields.get("id"), vault_name),
        secret_name=name,
        version=version,
        object_type=str(fields.get("objecttype", "")),
    )


def _vault_url(object_id: object, vault_name: str) -> str:
    if isinstance(object_id, str):
        parts = urlsplit(object_id)
        if parts.scheme == "https" and parts.hostname:
            return f"https://{parts.hostname.lower()}"
    return f"https://{vault_name.lower()}.vault.azure.net"
