"""The rotation status of one secret, as the HTTP API shows it: facts and tags, never values."""

from __future__ import annotations

from typing import Any

from rotation import tags as T
from rotation.config import is_managed, parse_config
from rotation.errors import ConfigurationError
from rotation.staging import OPEN_STAGES
from rotation.vault import SecretStore, staging_name
from rotators.registry import RotatorRegistry


def secret_status(store: SecretStore, name: str, registry: RotatorRegistry) -> dict[str, Any]:
    """Describe ``name``'s rotation state. Raises ``SecretNotFound`` if it does not exist."""
    current = store.read(name)
    status: dict[str, Any] = {
        "vault_url": store.vault_url,
        "secret_name": name,
        "managed": is_managed(current.tags),
        "version": current.version,
        "expires_on": current.expires_on.isoformat() if current.expires_on else None,
        "state": current.tags.get(T.STATE),
        "rotated_at": current.tags.get(T.ROTATED_AT),
        "previous_version": current.tags.get(T.PREVIOUS_VERSION),
        "rotation_id": current.tags.get(T.ROTATION_ID),
        "consumers": _consumers_seen(current.tags.get(T.CONSUMERS_SEEN, "")),
    }
    if status["managed"]:
        try:
            rotator_class = registry.get(current.tags[T.ROTATOR].strip(), secret=name)
            config = parse_config(name, current.tags, rotator_class)
        except ConfigurationError as error:
            status["configuration_error"] = str(error)
        else:
            status["configuration"] = {
                "rotator": config.rotator_kind,
                "target": config.target,
                "strategy": config.strategy.value,
                "validity_days": config.validity_days,
                "admin_secret": config.admin_secret,
                "consumers": list(config.consumers),
            }
    staged = store.read_if_enabled(staging_name(name))
    if staged is not None and staged.tags.get(T.STAGE) in OPEN_STAGES:
        status["staged"] = {
            "stage": staged.tags.get(T.STAGE),
            "from_version": staged.tags.get(T.STAGED_FROM_VERSION),
            "rotation_id": staged.tags.get(T.ROTATION_ID),
            "current": staged.tags.get(T.STAGED_FROM_VERSION) == current.version,
        }
    return status


def _consumers_seen(raw: str) -> dict[str, str | None]:
    seen: dict[str, str | None] = {}
    for part in filter(None, raw.split(",")):
        name, _, version = part.partition("=")
        seen[name] = None if version in ("", "?") else version
    return seen
