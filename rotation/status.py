"""The rotation status of one secret, as the HTTP API shows it: facts and tags, never values."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rotation import tags as T
from rotation.config import is_managed, parse_config
from rotation.consumers import SEEN_NEW, SEEN_OLD, SEEN_UNKNOWN, Sighting, decode_sightings
from rotation.errors import ConfigurationError
from rotation.registry import RotatorRegistry
from rotation.staging import needs_work, owned_by
from rotation.vault import SecretStore, staging_name


def secret_status(store: SecretStore, name: str, registry: RotatorRegistry) -> dict[str, Any]:
    """Describe ``name``'s rotation state. Raises ``SecretNotFound`` if it does not exist."""
    current = store.read(name)
    # Key Vault names ignore case: report (and find the companion) under the vault's spelling.
    name = current.name or name
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
        "consumers": consumers_status(current.tags, current.version),
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
            for consumer in config.consumers:
                status["consumers"].setdefault(consumer, _describe(Sighting(SEEN_UNKNOWN), {}))
    companion = staging_name(name)
    staged: Mapping[str, str] | None = None
    snapshot = store.read_if_enabled(companion)
    if snapshot is not None and owned_by(snapshot.tags, name):
        staged = snapshot.tags
    deleted = None if snapshot is not None else store.deleted(companion)
    if deleted is not None and owned_by(deleted.tags, name):
        staged = deleted.tags
    # A committed candidate keeps its open stage tag (nothing is written after a commit):
    # the current version's tags say it is finished.
    if staged is not None and needs_work(staged, current.tags):
        status["staged"] = {
            "stage": staged.get(T.STAGE),
            "from_version": staged.get(T.STAGED_FROM_VERSION),
            "rotation_id": staged.get(T.ROTATION_ID),
            "current": staged.get(T.STAGED_FROM_VERSION) == current.version,
            "deleted": deleted is not None,
        }
        if deleted is not None:
            status["problem"] = (
                f"the staging secret '{companion}' is soft-deleted while it holds an open "
                "candidate that the target may already use: recover it "
                f"(az keyvault secret recover --name {companion}), then rotate again"
            )
    return status


def consumers_status(tags: Mapping[str, str], version: str) -> dict[str, dict[str, Any]]:
    """Per consumer of ``version`` (from that committed version's tags).

    ``seen``: new / old / ? / a short version; ``version``: in full when known; ``moved``;
    ``seen_at``: the last check that answered; ``check_failed_at``: the latest check, if it
    failed. Times are ISO 8601.
    """
    rotated_at = T.parse_time(tags.get(T.ROTATED_AT))
    versions = {SEEN_NEW: version, SEEN_OLD: tags.get(T.PREVIOUS_VERSION)}
    return {
        name: _describe(sighting, versions)
        for name, sighting in decode_sightings(tags.get(T.CONSUMERS_SEEN, ""), rotated_at).items()
    }


def _describe(sighting: Sighting, versions: Mapping[str, str | None]) -> dict[str, Any]:
    return {
        "seen": sighting.seen,
        "version": versions.get(sighting.seen),
        "moved": sighting.moved,
        "seen_at": _iso(sighting.seen_at),
        "check_failed_at": _iso(sighting.failed_at),
    }


def _iso(value: datetime | None) -> str | None:
    return T.format_time(value) if value else None
