"""One rotation per secret at a time, across every instance of the app.

Production uses :class:`BlobLeaseLocks`: a blob per secret in the app's own storage account
and a 60-second lease on it, renewed in the background while the rotation runs. A crashed
instance's lease simply expires, so a lock is never held forever.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Protocol
from urllib.parse import urlsplit

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobLeaseClient, BlobServiceClient, ContainerClient

from rotation.errors import LockBusy, LockLost, TargetUnavailable

LOCK_CONTAINER = "rotation-locks"
LEASE_SECONDS = 60
RENEW_EVERY_SECONDS = 20

log = logging.getLogger(__name__)


class HeldLock:
    """A lock while it is held. :meth:`ensure` raises :class:`LockLost` once it lapsed."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lost = threading.Event()

    def mark_lost(self) -> None:
        """Record that the lock can no longer be trusted (called by the renewer)."""
        self._lost.set()

    def ensure(self) -> None:
        """Raise :class:`LockLost` if the lock lapsed; call before every change."""
        if self._lost.is_set():
            raise LockLost(
                f"the rotation lock of '{self._name}' lapsed; stopping before the next change"
            )


class RotationLocks(Protocol):
    """Hands out the per-secret lock."""

    def hold(self, vault_url: str, secret_name: str) -> contextlib.AbstractContextManager[HeldLock]:
        """Hold the lock for the block; raise :class:`LockBusy` at once if someone else does."""
        ...


def lock_key(vault_url: str, secret_name: str) -> str:
    """A blob name unique per (vault, secret): ``<vault host>/<secret>``."""
    host = (urlsplit(vault_url).hostname or vault_url).lower()
    return f"{host}/{secret_name.lower()}"


class InProcessLocks:
    """Locks for a single process (tests, the local demo). Same contract as blob leases."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held: set[str] = set()

    @contextlib.contextmanager
    def hold(self, vault_url: str, secret_name: str) -> Iterator[HeldLock]:
        key = lock_key(vault_url, secret_name)
        with self._guard:
            if key in self._held:
                raise LockBusy(f"a rotation of '{secret_name}' is already running")
            self._held.add(key)
        try:
            yield HeldLock(secret_name)
        finally:
            with self._guard:
                self._held.discard(key)


class BlobLeaseLocks:
    """Locks as blob leases in one container of the app's storage account."""

    def __init__(self, service: BlobServiceClient, container: str = LOCK_CONTAINER) -> None:
        self._container: ContainerClient = service.get_container_client(container)
        self._container_ready = False

    def _ensure_container(self) -> None:
        if self._container_ready:
            return
        with contextlib.suppress(ResourceExistsError):
            self._container.create_container()
        self._container_ready = True

    @contextlib.contextmanager
    def hold(self, vault_url: str, secret_name: str) -> Iterator[HeldLock]:
        key = lock_key(vault_url, secret_name)
        lease = self._acquire(key, secret_name)
        held = HeldLock(secret_name)
        stop = threading.Event()
        renewer = threading.Thread(
            target=self._keep_renewing,
            args=(lease, stop, key, held),
            name=f"lease:{key}",
            daemon=True,
        )
        renewer.start()
        try:
            yield held
        finally:
            stop.set()
            renewer.join()
            try:
                lease.release()
            except AzureError as error:
                # The lease expires by itself within LEASE_SECONDS; nothing is lost.
                log.warning("could not release rotation lock %s: %s", key, type(error).__name__)

    def _acquire(self, key: str, secret_name: str) -> BlobLeaseClient:
        try:
            self._ensure_container()
            blob = self._container.get_blob_client(key)
            with contextlib.suppress(ResourceExistsError):
                blob.upload_blob(b"", overwrite=False)
            return blob.acquire_lease(lease_duration=LEASE_SECONDS)
        except ResourceExistsError:
            raise LockBusy(f"a rotation of '{secret_name}' is already running") from None
        except HttpResponseError as error:
            if error.status_code == 409:
                raise LockBusy(f"a rotation of '{secret_name}' is already running") from None
            raise TargetUnavailable(
                f"lock storage refused the lease for '{secret_name}' ({error.status_code})"
            ) from None
        except (ResourceNotFoundError, AzureError) as error:
            raise TargetUnavailable(
                f"lock storage unreachable for '{secret_name}' ({type(error).__name__})"
            ) from None

    @staticmethod
    def _keep_renewing(
        lease: BlobLeaseClient, stop: threading.Event, key: str, held: HeldLock
    ) -> None:
        """Renew every RENEW_EVERY_SECONDS; once a renewal fails, the lease may lapse before
        the next one, so the lock counts as lost (the run stops before its next change)."""
        while not stop.wait(RENEW_EVERY_SECONDS):
            try:
                lease.renew()
            except AzureError as error:
                log.error("could not renew rotation lock %s: %s", key, type(error).__name__)
                held.mark_lost()
                return
