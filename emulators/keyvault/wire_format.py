"""Key Vault's JSON shapes for secret bundles, items, deleted secrets and attributes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from emulators.keyvault import errors
from emulators.keyvault.store import RECOVERABLE_DAYS, DeletedSecret, SecretVersion

RECOVERY_LEVEL = "Recoverable+Purgeable"


def vault_url(vault: str) -> str:
    """``https://<vault>.vault.azure.net``."""
    return f"https://{vault}.vault.azure.net"


def epoch(value: datetime | None) -> int | None:
    """Seconds since the epoch, as Key Vault writes times."""
    return None if value is None else int(value.timestamp())


def from_epoch(value: Any, field: str) -> datetime | None:
    """A datetime from Key Vault's epoch seconds (400 BadParameter if not a number)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise errors.bad_parameter(f"Attribute {field} must be seconds since the epoch.")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise errors.bad_parameter(f"Attribute {field} is out of range.") from exc


def attributes(version: SecretVersion) -> dict[str, Any]:
    """The ``attributes`` object of a version."""
    attrs: dict[str, Any] = {
        "enabled": version.enabled,
        "created": epoch(version.created),
        "updated": epoch(version.updated),
        "recoveryLevel": RECOVERY_LEVEL,
        "recoverableDays": RECOVERABLE_DAYS,
    }
    if version.not_before is not None:
        attrs["nbf"] = epoch(version.not_before)
    if version.expires is not None:
        attrs["exp"] = epoch(version.expires)
    return attrs


def _common(version: SecretVersion, identifier: str) -> dict[str, Any]:
    body: dict[str, Any] = {"id": identifier, "attributes": attributes(version)}
    if version.content_type is not None:
        body["contentType"] = version.content_type
    if version.tags is not None:
        body["tags"] = dict(version.tags)
    return body


def version_id(version: SecretVersion) -> str:
    """The secret identifier of one version."""
    return f"{vault_url(version.vault)}/secrets/{version.name}/{version.version}"


def bundle(version: SecretVersion, *, with_value: bool = True) -> dict[str, Any]:
    """A SecretBundle (``value`` included unless ``with_value`` is false)."""
    body = _common(version, version_id(version))
    if with_value:
        body = {"value": version.value, **body}
    return body


def item(version: SecretVersion, *, versioned: bool) -> dict[str, Any]:
    """A SecretItem for lists: never the value; the id names the version only in version lists."""
    identifier = (
        version_id(version) if versioned else f"{vault_url(version.vault)}/secrets/{version.name}"
    )
    return _common(version, identifier)


def deleted(entry: DeletedSecret, *, as_item: bool = False) -> dict[str, Any]:
    """A DeletedSecretBundle (or DeletedSecretItem), without the value."""
    latest = entry.latest
    body = item(latest, versioned=False) if as_item else bundle(latest, with_value=False)
    body["recoveryId"] = f"{vault_url(latest.vault)}/deletedsecrets/{latest.name}"
    body["deletedDate"] = epoch(entry.deleted)
    body["scheduledPurgeDate"] = epoch(entry.scheduled_purge)
    return body


def version_to_json(version: SecretVersion) -> dict[str, Any]:
    """A complete, lossless JSON form of a version (for backup blobs)."""
    return {
        "name": version.name,
        "version": version.version,
        "value": version.value,
        "contentType": version.content_type,
        "enabled": version.enabled,
        "nbf": epoch(version.not_before),
        "exp": epoch(version.expires),
        "created": epoch(version.created),
        "updated": epoch(version.updated),
        "tags": version.tags,
    }


def version_from_json(vault: str, data: dict[str, Any]) -> SecretVersion:
    """The inverse of :func:`version_to_json`."""
    created = from_epoch(data["created"], "created")
    updated = from_epoch(data["updated"], "updated")
    assert created is not None and updated is not None
    return SecretVersion(
        vault=vault,
        name=str(data["name"]),
        version=str(data["version"]),
        value=str(data["value"]),
        content_type=data["contentType"],
        enabled=bool(data["enabled"]),
        not_before=from_epoch(data["nbf"], "nbf"),
        expires=from_epoch(data["exp"], "exp"),
        created=created,
        updated=updated,
        tags=data["tags"],
    )
