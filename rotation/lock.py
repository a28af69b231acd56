"""One rotation per secret at a time, across every instance of the app, fenced by time.

Production uses :class:`BlobLeaseLocks`: a blob per secret in the app's own storage account
and a lease on it, renewed in the background while the rotation runs. A crashed instance's
lease simply expires, so a lock is never held forever; the blob is deleted on release, so
no lock blob outlives its rotation.

Fencing. A lease can lapse while its holder is paused (a frozen VM, a long GC, a renewal
that hangs), and another instance may then take it. So a holder trusts its lease only up to
a *local deadline*: the monotonic time at which the last successful renewal (or the
acquisition) was *sent*, plus the lease duration, minus a safety margin. The engine calls
:meth:`HeldLock.ensure` before every side effect (stage, apply, commit, retire, tag update);
each side effect is bounded by client timeouts shorter than the margin, so a step that
starts before the deadline ends before the lease can lapse.

Residual window (honest): a process frozen *between* :meth:`HeldLock.ensure` and the moment
its request leaves the machine, for longer than the margin, can still act once after the
lease passed to someone else. Key Vault has no conditional write, so no client can close
that window; the protocol keeps it harmless for credentials because every candidate is
staged before the target sees it and a run re-reads the companion and the current version
before it relies on either.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobLeaseClient, BlobServiceClient, ContainerClient

from rotation import defaults as D
from rotation.errors import LockBusy, LockLost, TargetUnavailable

LOCK_CONTAINER = "rotation-locks"
#: Azure Storage accepts leases of 15 to 60 seconds.
MIN_LEASE_SECONDS = 15
MAX_LEASE_SECONDS = 60

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseTiming:
    """How long a lease lasts, how often it is renewed, and how much of it a holder trusts.

    With the default 60 s lease the holder trusts 20 s past each renewal (margin 40 s, longer
    than any bounded step: see :data:`composition.SDK_RETRY`) and renews every 10 s.
    """

    lease_seconds: int = D.LOCK_LEASE_SECONDS

    def __post_init__(self) -> None:
        if not MIN_LEASE_SECONDS <= self.lease_seconds <= MAX_LEASE_SECONDS:
            raise ValueError(
                f"lease must be {MIN_LEASE_SECONDS}-{MAX_LEASE_SECONDS} s, got {self.lease_seconds}"
            )

    @property
    def margin_seconds(self) -> float:
        """Time before the lease's real expiry at which the holder stops trusting it."""
        return self.lease_seconds * 2 / 3

    @property
    def trusted_seconds(self) -> float:
        """How long after sending a successful renewal the holder may still act."""
        return self.lease_seconds - self.margin_seconds

    @property
    def renew_every_seconds(self) -> float:
        """Renewal period: two renewals fit in the trusted time, so one may fail or be slow."""
        return self.trusted_seconds / 2


class HeldLock:
    """A lock while it is held. :meth:`ensure` raises :class:`LockLost` once it can no
    longer be trusted: the renewer gave up, or the local deadline passed."""

    def __init__(
        self,
        name: str,
        *,
        deadline: float = math.inf,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._name = name
        self._lost = threading.Event()
        self._deadline = deadline
        self._clock = clock
        self._guard = threading.Lock()

    def extend(self, deadline: float) -> None:
        """Trust the lock until ``deadline`` (monotonic seconds); never moves it backwards."""
        with self._guard:
            self._deadline = max(self._deadline, deadline)

    def mark_lost(self) -> None:
        """Record that the lock can no longer be trusted (called by the renewer)."""
        self._lost.set()

    @property
    def remaining_seconds(self) -> float:
        """Seconds left before the local deadline (negative once it passed)."""
        with self._guard:
            return self._deadline - self._clock()

    def ensure(self) -> None:
        """Raise :class:`LockLost` unless the lock is provably held; call before every change."""
        if self._lost.is_set():
            raise LockLost(
                f"the rotation lock of '{self._name}' could not be renewed; "
                "stopping before the next change"
            )
        if self.remaining_seconds <= 0:
            self._lost.set()
            raise LockLost(
                f"the rotation lock of '{self._name}' may have lapsed (no renewal within its "
                "deadline); stopping before the next change"
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
    """Locks as blob leases in one container of the app's storage account.

    ``timing`` is the lease policy; the composition root builds it from the app settings.
    """

    def __init__(
        self,
        service: BlobServiceClient,
        container: str = LOCK_CONTAINER,
        *,
        timing: LeaseTiming,
    ) -> None:
        self._container: ContainerClient = service.get_container_client(container)
        self._container_ready = False
        self.timing = timing

    def _ensure_container(self) -> None:
        if self._container_ready:
            return
        with contextlib.suppress(ResourceExistsError):
            self._container.create_container()
        self._container_ready = True

    @contextlib.contextmanager
    def hold(self, vault_url: str, secret_name: str) -> Iterator[HeldLock]:
        key = lock_key(vault_url, secret_name)
        sent = time.monotonic()
        lease = self._acquire(key, secret_name)
        held = HeldLock(secret_name, deadline=sent + self.timing.trusted_seconds)
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
            # A hung renewal must not hold the caller: the thread is a daemon and the lease
            # expires by itself. Deleting the blob under the lease releases it too.
            renewer.join(timeout=self.timing.renew_every_seconds)
            try:
                self._container.get_blob_client(key).delete_blob(lease=lease)
            except AzureError as error:
                # The lease expires by itself within the lease duration; nothing is lost.
                log.warning("could not release rotation lock %s: %s", key, type(error).__name__)

    def _acquire(self, key: str, secret_name: str) -> BlobLeaseClient:
        try:
            self._ensure_container()
            blob = self._container.get_blob_client(key)
            for attempt in range(2):
                with contextlib.suppress(ResourceExistsError):
                    blob.upload_blob(b"", overwrite=False)
                try:
                    return blob.acquire_lease(lease_duration=self.timing.lease_seconds)
                except ResourceNotFoundError:
                    # Its previous holder deleted it between our upload and our lease.
                    if attempt:
                        raise LockBusy(
                            f"the rotation lock of '{secret_name}' changed hands; retry"
                        ) from None
            raise AssertionError("unreachable")  # pragma: no cover
        except ResourceExistsError:
            raise LockBusy(f"a rotation of '{secret_name}' is already running") from None
        except HttpResponseError as error:
            if error.status_code == 409:
                raise LockBusy(f"a rotation of '{secret_name}' is already running") from None
            raise TargetUnavailable(
                f"lock storage refused the lease for '{secret_name}' ({error.status_code})"
            ) from None
        except AzureError as error:
            raise TargetUnavailable(
                f"lock storage unreachable for '{secret_name}' ({type(error).__name__})"
            ) from None

    def _keep_renewing(
        self, lease: BlobLeaseClient, stop: threading.Event, key: str, held: HeldLock
    ) -> None:
        """Renew every ``renew_every_seconds``; each success extends the local deadline from
        the moment the renewal was sent. A failed renewal means the lease may lapse before
        the next one, so the lock counts as lost (the run stops before its next change)."""
        while not stop.wait(self.timing.renew_every_seconds):
            sent = time.monotonic()
            try:
                lease.renew()
            except AzureError as error:
                log.error("could not renew rotation lock %s: %s", key, type(error).__name__)
                held.mark_lost()
                return
            held.extend(sent + self.timing.trusted_seconds)
