"""Key Vault events as Event Grid delivers them, in the Event Grid or CloudEvents 1.0 schema."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rotation import names
from rotation.errors import InvalidName, MalformedEvent

NEAR_EXPIRY = "Microsoft.KeyVault.SecretNearExpiry"
EXPIRED = "Microsoft.KeyVault.SecretExpired"
#: Event types that mean "this version should be rotated now".
ROTATION_EVENT_TYPES = frozenset({NEAR_EXPIRY, EXPIRED})
#: Longer than any Event Grid event type or id; longer ones are refused, not parsed.
MAX_FIELD = 256


#: Every Key Vault event type starts with this (secrets, keys, certificates, access policy).
KEYVAULT_PREFIX = "Microsoft.KeyVault."


@dataclass(frozen=True)
class SecretEvent:
    """The facts of a Key Vault secret event the engine needs, validated: ``vault_url`` is a
    canonical Key Vault URL, ``secret_name`` and ``version`` are what Key Vault would issue."""

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


def parse_event(event: object) -> SecretEvent:
    """Parse one event dict (Event Grid schema or CloudEvents 1.0) from Key Vault.

    Raises :class:`MalformedEvent` saying what is wrong, and nothing else whatever ``event``
    is. Key Vault's data fields are ``Id, VaultName, ObjectType, ObjectName, Version, NBF,
    EXP``; keys are matched without regard to case or surrounding whitespace and string
    values are trimmed (Microsoft's own sample event has ``"ObjectName "`` and
    ``" ee05…"``). The vault URL comes from ``Id`` (``https://<vault>.vault.azure.net/secrets/
    <name>/<version>``), falling back to ``VaultName`` in the public cloud. The vault URL,
    secret name and version are validated (:mod:`rotation.names`).
    """
    if not isinstance(event, Mapping):
        raise MalformedEvent(f"event is not a JSON object but {names.shown(event)}")
    top = _fields(event, "event")
    event_type = _text(top.get("eventtype") or top.get("type"), "eventType (or type)")
    if event_type is None:
        raise MalformedEvent("event has no eventType (Event Grid) or type (CloudEvents)")
    kind = names.shown(event_type)  # for messages: bounded, control characters escaped
    data = top.get("data")
    if not isinstance(data, Mapping):
        raise MalformedEvent(f"{kind} event has no data object")
    fields = _fields(data, f"{kind} event data")
    name = _text(fields.get("objectname"), "ObjectName")
    version = _text(fields.get("version"), "Version")
    vault = _text(fields.get("vaultname"), "VaultName")
    if name is None or version is None or vault is None:
        raise MalformedEvent(
            f"{kind} event data needs ObjectName, Version and VaultName as strings"
        )
    object_id = _text(fields.get("id"), "Id", limit=names.MAX_URL)
    object_type = _text(fields.get("objecttype"), "ObjectType") or ""
    event_id = _text(top.get("id"), "id") or ""
    try:
        secret_name = names.secret_name(name, what="ObjectName")
        version = names.version(version, what="Version")
        vault = names.vault_name(vault)
        vault_url = (
            names.vault_url(object_id, allow_path=True)
            if object_id
            else names.vault_reference(vault)
        )
    except InvalidName as error:
        raise MalformedEvent(f"{kind} event '{names.shown(event_id)}': {error}") from None
    if vault_url.removeprefix("https://").split(".")[0] != vault:
        raise MalformedEvent(
            f"{kind} event '{names.shown(event_id)}': Id names vault "
            f"'{vault_url}' but VaultName is '{vault}'"
        )
    return SecretEvent(
        event_id=event_id,
        event_type=event_type,
        vault_url=vault_url,
        secret_name=secret_name,
        version=version,
        object_type=object_type,
    )


def is_other_keyvault_event(event: object) -> bool:
    """Whether ``event`` is a Key Vault event of a type this app never acts on (a new
    version, a key or certificate event, an access policy change): one to ignore quietly
    even when its data is not a secret's. Never raises."""
    if not isinstance(event, Mapping):
        return False
    try:
        top = _fields(event, "event")
        event_type = _text(top.get("eventtype") or top.get("type"), "eventType (or type)")
    except MalformedEvent:
        return False
    return (
        event_type is not None
        and event_type.startswith(KEYVAULT_PREFIX)
        and event_type not in ROTATION_EVENT_TYPES
    )


def _fields(mapping: Mapping[Any, Any], where: str) -> dict[str, Any]:
    """``mapping`` keyed by trimmed lower-case string keys; keys that are not strings are
    ignored. Two keys that trim to the same one with different values are refused."""
    fields: dict[str, Any] = {}
    for key, value in mapping.items():
        if not isinstance(key, str) or len(key) > MAX_FIELD:
            continue
        folded = key.strip().lower()
        if folded in fields and not _same_text(fields[folded], value):
            raise MalformedEvent(f"{where} has conflicting fields '{names.shown(folded)}'")
        fields[folded] = value
    return fields


def _same_text(first: object, second: object) -> bool:
    return isinstance(first, str) and isinstance(second, str) and first.strip() == second.strip()


def _text(value: object, what: str, *, limit: int = MAX_FIELD) -> str | None:
    """A trimmed non-empty string, None when absent or empty; MalformedEvent for another
    type or an oversized string."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedEvent(f"event field {what} must be a string, got {names.shown(value)}")
    if len(value) > limit:
        raise MalformedEvent(f"event field {what} is too long ({len(value)} characters)")
    return value.strip() or None
