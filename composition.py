"""The composition root: builds the production service from app settings.

It sits above both the engine (:mod:`rotation`) and the plugins (:mod:`rotators`), the only
module besides the triggers that knows both.

One credential for everything: deployed, the user-assigned managed identity named by
AZURE_CLIENT_ID (Key Vault, Storage, Event Grid, Application Insights ingestion), alone. On a
developer's machine ``ROTATION_CREDENTIAL=developer`` selects azure-identity's developer chain
instead (see :func:`app_credential`). No secret is ever read from settings, except a storage
connection string when one is configured for local development (Azurite).

Telemetry (:func:`configure_telemetry`) goes to Application Insights only when
APPLICATIONINSIGHTS_CONNECTION_STRING is set; without it nothing is exported.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from azure.core.credentials import TokenCredential
from azure.identity import ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient
from azure.storage.blob import BlobServiceClient

from rotation.engine import EngineSettings, RotationEngine, utc_now
from rotation.errors import ConfigurationError
from rotation.limits import LIMIT_CONTAINER, BlobLeaseLimits
from rotation.lock import BlobLeaseLocks, LeaseTiming
from rotation.service import RotationService
from rotation.settings import WORK_QUEUE, AppSettings, StorageSettings
from rotation.vault import KeyVaultStore, SecretStore
from rotators.catalogue import default_registry

if TYPE_CHECKING:
    from azure.storage.queue import QueueClient

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


#: App setting that selects the credential: ``managed-identity`` (default) or ``developer``.
CREDENTIAL = "ROTATION_CREDENTIAL"
MANAGED_IDENTITY = "managed-identity"
DEVELOPER = "developer"
#: Set by App Service / Functions on every instance: the app runs in Azure.
IN_AZURE = "WEBSITE_INSTANCE_ID"
#: Application Insights connection string (set by infra/modules/function-app.bicep).
APPINSIGHTS = "APPLICATIONINSIGHTS_CONNECTION_STRING"


def app_credential(settings: AppSettings, env: Mapping[str, str] | None = None) -> TokenCredential:
    """The app's credential, chosen by ``ROTATION_CREDENTIAL``.

    - ``managed-identity`` (the default, and the only choice in Azure): the user-assigned
      managed identity AZURE_CLIENT_ID, alone; no fallback to any other credential.
    - ``developer``: for a laptop against a real vault. azure-identity's
      ``DefaultAzureCredential`` without its managed identity, shared-cache and interactive
      members, so it uses the developer's own login (environment service principal,
      workload identity, Azure CLI ``az login``, Azure Developer CLI ``azd auth login``,
      Azure PowerShell) and never a stray identity endpoint. Refused where
      WEBSITE_INSTANCE_ID is set (in Azure), so a deployed app cannot run as a person.
    """
    env = os.environ if env is None else env
    mode = env.get(CREDENTIAL, "").strip().lower() or MANAGED_IDENTITY
    if mode == DEVELOPER:
        if env.get(IN_AZURE):
            raise ConfigurationError(
                f"app setting {CREDENTIAL}={DEVELOPER} is for local development only; this "
                f"process runs in Azure ({IN_AZURE} is set): remove the setting to use the "
                "managed identity"
            )
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential(
            exclude_managed_identity_credential=True,
            exclude_shared_token_cache_credential=True,
            exclude_interactive_browser_credential=True,
            exclude_visual_studio_code_credential=True,
        )
    if mode != MANAGED_IDENTITY:
        raise ConfigurationError(
            f"app setting {CREDENTIAL} must be '{MANAGED_IDENTITY}' or '{DEVELOPER}', got "
            f"'{mode[:40]}'"
        )
    if not settings.client_id:
        raise ConfigurationError("app setting AZURE_CLIENT_ID (the managed identity) is not set")
    return ManagedIdentityCredential(client_id=settings.client_id)


#: Auto-instrumentations of the distro that stay off: HTTP client spans would record the URLs
#: of target APIs (a third-party API may take a key in its query string), so only the Azure
#: SDK's own spans (vault, storage, Event Grid: names and versions) are kept.
DISABLED_INSTRUMENTATIONS = (
    "requests",
    "urllib",
    "urllib3",
    "httpx",
    "django",
    "fastapi",
    "flask",
    "psycopg2",
)


_configured: list[str] = []


def _configure_azure_monitor(connection_string: str, credential: TokenCredential) -> None:
    """Once per process (the OpenTelemetry providers are global)."""
    if _configured:
        return
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor(
        connection_string=connection_string,
        credential=credential,  # identity-based ingestion: the component has local auth off
        logger_name="rotation",  # the app's own records only, with their attributes
        sampling_ratio=1.0,  # every rotation trace is kept (the distro rate-limits by default)
        instrumentation_options={name: {"enabled": False} for name in DISABLED_INSTRUMENTATIONS},
    )
    _configured.append(connection_string)


def configure_telemetry(credential: TokenCredential, env: Mapping[str, str] | None = None) -> bool:
    """Send spans, logs and metrics to Application Insights if its connection string is set.

    Returns whether it did. Without APPLICATIONINSIGHTS_CONNECTION_STRING nothing is imported
    or exported (the OpenTelemetry API stays a no-op). The distro is imported here, at the
    first trigger, not when function_app is indexed.
    """
    env = os.environ if env is None else env
    connection_string = env.get(APPINSIGHTS, "").strip()
    if not connection_string:
        return False
    _configure_azure_monitor(connection_string, credential)
    install_log_attributes(logging.getLogger("rotation"))
    return True


def install_log_attributes(logger: logging.Logger) -> None:
    """Give the OpenTelemetry handlers of ``logger`` the active run's attributes (they become
    customDimensions), and let INFO records through to them."""
    from opentelemetry.instrumentation.logging.handler import LoggingHandler

    from rotation.telemetry import RunLogAttributes

    for handler in logger.handlers:
        if isinstance(handler, LoggingHandler) and not any(
            isinstance(f, RunLogAttributes) for f in handler.filters
        ):
            handler.addFilter(RunLogAttributes())
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)


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
    # Imported here: only the sweep in queue mode sends messages (cold start, issue 14).
    from azure.storage.queue import QueueClient, TextBase64EncodePolicy

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
    configure_telemetry(credential)
    stores = store_factory(credential)
    registry = default_registry()
    blobs = blob_service(settings.storage, credential)
    timing = LeaseTiming(settings.lock_lease_seconds)
    engine = RotationEngine(
        stores,
        registry,
        BlobLeaseLocks(blobs, timing=timing),
        limits=BlobLeaseLimits(BlobLeaseLocks(blobs, LIMIT_CONTAINER, timing=timing)),
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
