"""The composition root: builds the production service from app settings.

It sits above both the engine (:mod:`rotation`) and the plugins (:mod:`rotators`), the only
module besides the triggers that knows both.

One credential for everything: the user-assigned managed identity named by AZURE_CLIENT_ID
(Key Vault, Storage, Event Grid). No secret is ever read from settings, except a storage
connection string when one is configured for local development (Azurite).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from azure.core.credentials import TokenCredential
from azure.identity import ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from rotation.engine import EngineSettings, RotationEngine, utc_now
from rotation.errors import ConfigurationError
from rotation.limits import BlobLeaseLimits
from rotation.lock import BlobLeaseLocks, LeaseTiming
from rotation.service import RotationService
from rotation.settings import WORK_QUEUE, AppSettings, StorageSettings
from rotation.vault import KeyVaultStore, SecretStore
from rotators.catalogue import default_registry

#: Bounded SDK calls: the engine and the triggers retry at their own level. One call with
#: its retries lasts at most about 3 x (4 + 8) + 2 s (unless the service asks for a longer
#: Retry-After), inside the lock's 40 s safety margin
#: (rotation.lock.LeaseTiming), so a step that starts while the lock is trusted ends before
#: the lease can lapse.
SDK_RETRY: dict[str, Any] = {
    "retry_total": 2,
    "retry_backoff_factor": 0.5,
    "retry_backoff_max": 1,
    "connection_timeout": 4,
    "read_timeout": 8,
}


def app_credential(settings: AppSettings) -> TokenCredential:
    """The app's only credential: its user-assigned managed identity."""
    if not settings.client_id:
        raise ConfigurationError("app setting AZURE_CLIENT_ID (the managed identity) is not set")
    return ManagedIdentityCredential(client_id=settings.client_id)


def store_factory(credential: TokenCredential) -> Callable[[str], SecretStore]:
    """A cached ``vault URL -> SecretStore`` function."""

    @functools.cache
    def store(vault_url: str) -> SecretStore:
        return KeyVaultStore(SecretClient(vault_url, credential, **SDK_RETRY))

    return store


def blob_service(storage: StorageSettings, credential: TokenCredential) -> BlobServiceClient:
    """The app's storage account for blobs (locks)."""
    if storage.connection_string:
        return BlobServiceClient.from_connection_string(storage.connection_string, **SDK_RETRY)
    if not storage.blob_service_uri:
        raise ConfigurationError(
            "set AzureWebJobsStorage__blobServiceUri (or AzureWebJobsStorage locally)"
        )
    return BlobServiceClient(storage.blob_service_uri, credential=credential, **SDK_RETRY)


def work_queue(storage: StorageSettings, credential: TokenCredential) -> QueueClient:
    """The fan-out queue, base64-encoded as the Functions queue trigger expects."""
    encode = TextBase64EncodePolicy()
    if storage.connection_string:
        return QueueClient.from_connection_string(
            storage.connection_string, WORK_QUEUE, message_encode_policy=encode, **SDK_RETRY
        )
    if not storage.queue_service_uri:
        raise ConfigurationError(
            "set AzureWebJobsStorage__queueServiceUri (or AzureWebJobsStorage locally)"
        )
    return QueueClient(
        storage.queue_service_uri,
        WORK_QUEUE,
        credential=credential,
        message_encode_policy=encode,
        **SDK_RETRY,
    )


def build_service(
    settings: AppSettings | None = None, *, clock: Callable[[], datetime] | None = None
) -> RotationService:
    """The service the Functions triggers use, from the process environment by default.

    ``clock``: the engine's notion of now (tests pass the emulators' movable clock).

    Consumer definitions (``ROTATION_CONSUMERS``/``_FILE``) and ``ROTATION_EVENTS_ENDPOINT``
    are validated here, once: a bad one is a ConfigurationError at start-up.
    """
    from rotation.consumer_checks.loader import build_confirmer
    from rotation.outcome_events import build_publisher
    from rotation.workqueue import QueueDispatcher

    settings = settings or AppSettings.from_env()
    credential = app_credential(settings)
    stores = store_factory(credential)
    registry = default_registry()
    blobs = blob_service(settings.storage, credential)
    timing = LeaseTiming(settings.lock_lease_seconds)
    engine = RotationEngine(
        stores,
        registry,
        BlobLeaseLocks(blobs, timing=timing),
        limits=BlobLeaseLimits(blobs, timing=timing),
        clock=clock or utc_now,
        consumers=build_confirmer(settings, credential),
        on_outcome=build_publisher(settings.events_endpoint, credential),
        settings=EngineSettings(
            verify_attempts=settings.verify_attempts,
            verify_backoff_seconds=settings.verify_backoff_seconds,
            consumer_deadline=timedelta(hours=settings.consumer_deadline_hours),
            max_per_target=settings.max_per_target,
        ),
    )
    return RotationService(
        settings=settings,
        engine=engine,
        stores=stores,
        registry=registry,
        dispatcher=QueueDispatcher(work_queue(settings.storage, credential)),
    )
