"""The app settings the app reads, parsed and validated once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from rotation import defaults as D
from rotation import names
from rotation.errors import ConfigurationError, InvalidName

VAULTS = "ROTATION_VAULTS"
CLIENT_ID = "AZURE_CLIENT_ID"
SWEEP_MODE = "ROTATION_SWEEP_MODE"
EVENTS_ENDPOINT = "ROTATION_EVENTS_ENDPOINT"
CONSUMER_DEADLINE_HOURS = "ROTATION_CONSUMER_DEADLINE_HOURS"
VERIFY_ATTEMPTS = "ROTATION_VERIFY_ATTEMPTS"
VERIFY_BACKOFF = "ROTATION_VERIFY_BACKOFF_SECONDS"
#: Seconds of each rotation-lock lease (15-60, default 60); shorter only for tests.
LOCK_LEASE_SECONDS = "ROTATION_LOCK_LEASE_SECONDS"
#: JSON object of consumer definitions (name -> {"kind": ..., options}); see docs/consumers.md.
CONSUMERS = "ROTATION_CONSUMERS"
#: Path of a JSON file with the same content (use one of the two, not both).
CONSUMERS_FILE = "ROTATION_CONSUMERS_FILE"
#: Rotations in flight per target host (0: no limit); tag rotation-max-per-target overrides.
MAX_PER_TARGET = "ROTATION_MAX_PER_TARGET"
#: Seconds the sweep spreads its enqueued work over (visibility delays); 0: all at once.
SWEEP_SPREAD_SECONDS = "ROTATION_SWEEP_SPREAD_SECONDS"
#: Seconds a queue message that found its target's limit reached is hidden before it returns.
LIMIT_DEFER_SECONDS = "ROTATION_LIMIT_DEFER_SECONDS"
STORAGE = "AzureWebJobsStorage"
WORK_QUEUE = "rotation-requests"


class SweepMode(StrEnum):
    """Where the sweep does the work."""

    #: One queue message per due secret; the queue worker rotates (retries, poison queue).
    QUEUE = "queue"
    #: The sweep rotates each due secret itself (small installations).
    INLINE = "inline"


@dataclass(frozen=True)
class StorageSettings:
    """The app's own storage account: a connection string locally, identity-based in Azure."""

    connection_string: str | None = None
    blob_service_uri: str | None = None
    queue_service_uri: str | None = None
    client_id: str | None = None


@dataclass(frozen=True)
class AppSettings:
    """Validated app settings."""

    client_id: str | None
    vault_urls: tuple[str, ...]
    sweep_mode: SweepMode
    storage: StorageSettings
    events_endpoint: str | None = None
    consumer_deadline_hours: float = D.CONSUMER_DEADLINE_HOURS
    verify_attempts: int = D.VERIFY_ATTEMPTS
    verify_backoff_seconds: float = D.VERIFY_BACKOFF_SECONDS
    lock_lease_seconds: int = D.LOCK_LEASE_SECONDS
    #: Raw ``ROTATION_CONSUMERS`` JSON (parsed by :mod:`rotation.consumer_checks.definitions`).
    consumers_json: str | None = None
    #: ``ROTATION_CONSUMERS_FILE``: a path to a JSON file of consumer definitions.
    consumers_file: str | None = None
    max_per_target: int = D.MAX_PER_TARGET
    sweep_spread_seconds: int = D.SWEEP_SPREAD_SECONDS
    limit_defer_seconds: int = D.LIMIT_DEFER_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AppSettings:
        """Read the settings from ``env`` (default: the process environment)."""
        env = os.environ if env is None else env
        raw_vaults = [v.strip() for v in env.get(VAULTS, "").split(",") if v.strip()]
        if not raw_vaults:
            raise ConfigurationError(f"app setting {VAULTS} must list at least one vault URL")
        mode_raw = env.get(SWEEP_MODE, SweepMode.QUEUE.value).strip().lower()
        try:
            mode = SweepMode(mode_raw)
        except ValueError:
            raise ConfigurationError(
                f"app setting {SWEEP_MODE} must be 'queue' or 'inline', got '{mode_raw}'"
            ) from None
        deadline = _number(env, CONSUMER_DEADLINE_HOURS, D.CONSUMER_DEADLINE_HOURS, minimum=0.0)
        verify_attempts = int(_number(env, VERIFY_ATTEMPTS, D.VERIFY_ATTEMPTS, minimum=1))
        verify_backoff = _number(env, VERIFY_BACKOFF, D.VERIFY_BACKOFF_SECONDS, minimum=0.0)
        lease = _number(env, LOCK_LEASE_SECONDS, D.LOCK_LEASE_SECONDS, minimum=15)
        if lease > 60 or lease != int(lease):
            raise ConfigurationError(
                f"app setting {LOCK_LEASE_SECONDS} must be a whole number from 15 to 60"
            )
        max_per_target = _whole(env, MAX_PER_TARGET, D.MAX_PER_TARGET, maximum=100)
        # Storage queues hide a message for at most 7 days; a spread past an hour defeats
        # an hourly sweep, so keep it within a day.
        spread = _whole(env, SWEEP_SPREAD_SECONDS, D.SWEEP_SPREAD_SECONDS, maximum=86400)
        defer = _whole(env, LIMIT_DEFER_SECONDS, D.LIMIT_DEFER_SECONDS, maximum=86400)
        client_id = env.get(CLIENT_ID) or None
        storage = StorageSettings(
            connection_string=env.get(STORAGE) or None,
            blob_service_uri=env.get(f"{STORAGE}__blobServiceUri") or None,
            queue_service_uri=env.get(f"{STORAGE}__queueServiceUri") or None,
            client_id=env.get(f"{STORAGE}__clientId") or client_id,
        )
        return cls(
            client_id=client_id,
            vault_urls=tuple(dict.fromkeys(normalize_vault_url(v) for v in raw_vaults)),
            sweep_mode=mode,
            storage=storage,
            events_endpoint=env.get(EVENTS_ENDPOINT) or None,
            consumer_deadline_hours=deadline,
            verify_attempts=verify_attempts,
            verify_backoff_seconds=verify_backoff,
            lock_lease_seconds=int(lease),
            consumers_json=env.get(CONSUMERS, "").strip() or None,
            consumers_file=env.get(CONSUMERS_FILE, "").strip() or None,
            max_per_target=max_per_target,
            sweep_spread_seconds=spread,
            limit_defer_seconds=defer,
        )

    def allowed_vault(self, vault: object) -> str | None:
        """The configured URL for a vault name, host or URL; None if it is not configured.

        Never raises: anything that is not a well-formed vault reference (see
        :func:`rotation.names.vault_reference`), including non-strings, is simply not allowed.
        A bare name matches a configured vault of that name in any cloud (the first listed).
        """
        try:
            wanted = names.vault_reference(vault)
        except ConfigurationError:
            return None
        if wanted in self.vault_urls:
            return wanted
        if isinstance(vault, str) and "." not in vault:
            label = wanted.removeprefix("https://").split(".")[0]
            for url in self.vault_urls:
                if url.removeprefix("https://").split(".")[0] == label:
                    return url
        return None


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"app setting {name} must be a number, got '{raw}'") from None
    if value < minimum:
        raise ConfigurationError(f"app setting {name} must be at least {minimum}, got {raw}")
    return value


def _whole(env: Mapping[str, str], name: str, default: int, *, maximum: int) -> int:
    value = _number(env, name, default, minimum=0)
    if value != int(value) or value > maximum:
        raise ConfigurationError(f"app setting {name} must be a whole number from 0 to {maximum}")
    return int(value)


def normalize_vault_url(value: str) -> str:
    """``https://<vault>.<suffix>`` in lower case for a vault URL, host or bare name (a bare
    name means ``<name>.vault.azure.net``). ConfigurationError naming the app setting when it
    is not a Key Vault URL (see :func:`rotation.names.vault_reference`)."""
    try:
        return names.vault_reference(value.strip())
    except InvalidName as error:
        raise ConfigurationError(f"app setting {VAULTS}: {error}") from None
