"""A private Key Vault store with one soft-deleted secret, for the purge-schedule tests.

Its own clock: advancing the session stack's clock would age every other test's data.
"""

from __future__ import annotations

from emulators.clock import Clock
from emulators.keyvault.store import VaultStore


def store_with_deleted_secret() -> tuple[Clock, VaultStore]:
    """Vault ``aging`` whose secret ``old`` (value ``v``) was just soft-deleted."""
    clock = Clock()
    store = VaultStore(clock)
    store.create_vault("aging")
    store.set("aging", "old", "v")
    store.delete("aging", "old")
    return clock, store
