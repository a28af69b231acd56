"""Blast-radius limit: at most K rotations in flight per target host, across every instance.

A sweep that finds 300 secrets due on one database server, fanned out over 40 instances that
each take 4 queue messages, would otherwise reset 160 logins on that server at once. The
limit is a counting semaphore made of K blob leases in the app's storage account
(``rotation-limits/<host hash>/slot-<i>``, the same fenced, renewed leases as the secret lock
in :mod:`rotation.lock`): a run takes the first free slot before it stages a candidate and
gives it back when it committed (or failed). When all K are taken it raises
:class:`~rotation.errors.TargetBusy` before touching anything.

K comes from the ``rotation-max-per-target`` tag, else the ``ROTATION_MAX_PER_TARGET``
setting (default :data:`rotation.defaults.MAX_PER_TARGET`; 0 switches the limit off). Secrets
of one host with different K each count against their own K: keep them equal.

What holds a slot: staging, apply, verify and commit (the part that changes the target).
Consumer checks and retiring (which run later, when consumers moved) do not.

A crashed holder's slot frees itself when its lease expires (at most the lease duration).
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator
from typing import Protocol
from urllib.parse import urlsplit

from rotation.errors import LockBusy, TargetBusy
from rotation.lock import BlobLeaseLocks

LIMIT_CONTAINER = "rotation-limits"


class TargetLimits(Protocol):
    """Hands out one of ``limit`` slots of a host."""

    def hold(self, host: str, limit: int) -> contextlib.AbstractContextManager[None]:
        """Hold a slot for the block; :class:`TargetBusy` at once when all are taken."""
        ...


def target_host(target: str) -> str:
    """The host a ``rotation-target`` points at, lower case, for counting (not for connecting):

    ``https://api.example.com/v1`` -> ``api.example.com``; ``db.example.com:5432/app`` ->
    ``db.example.com``; ``[::1]:5432/app`` -> ``::1``; an Azure resource id
    (``/subscriptions/...``) -> the id itself.
    """
    text = target.strip()
    if text.startswith("/"):
        return text.lower()
    if "://" not in text:
        text = "//" + text
    try:
        host = urlsplit(text).hostname
    except ValueError:
        host = None
    # A fully qualified name's trailing dot names the same host.
    return (host or target.strip()).lower().rstrip(".")


def slot_key(host: str) -> str:
    """The blob folder of a host's slots: a hash, so any host text makes a valid blob name."""
    return hashlib.sha256(host.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class BlobLeaseLimits:
    """:class:`TargetLimits` over blob leases (one lease per slot, renewed while held)."""

    def __init__(self, leases: BlobLeaseLocks) -> None:
        """Slots are leases of ``leases``, which should have a container of their own
        (:data:`LIMIT_CONTAINER`), apart from the per-secret locks'."""
        self._leases = leases

    @contextlib.contextmanager
    def hold(self, host: str, limit: int) -> Iterator[None]:
        folder = f"https://{slot_key(host)}"
        for slot in range(limit):
            held = contextlib.ExitStack()
            try:
                held.enter_context(self._leases.hold(folder, f"slot-{slot}"))
            except LockBusy:
                continue
            with held:
                yield
            return
        raise TargetBusy(
            f"target {host} already has {limit} rotation(s) in flight; deferred until one ends"
        )


class InProcessLimits:
    """:class:`TargetLimits` for one process (tests, the demo)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held: dict[str, int] = {}

    @contextlib.contextmanager
    def hold(self, host: str, limit: int) -> Iterator[None]:
        with self._guard:
            if self._held.get(host, 0) >= limit:
                raise TargetBusy(f"target {host} already has {limit} rotation(s) in flight")
            self._held[host] = self._held.get(host, 0) + 1
        try:
            yield
        finally:
            with self._guard:
                self._held[host] -= 1
