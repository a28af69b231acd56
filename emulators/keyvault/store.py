"""The state of emulated vaults: secrets, versions, soft-deleted secrets and role assignments.

Pure data and rules, no HTTP. Thread-safe: every public method runs under one lock and returns
immutable snapshots. Listing is paged from sorted indexes kept up to date on every write and
delete (names of live and of deleted secrets, a purge-time heap), so a page costs the same at any
vault size: :meth:`VaultStore.secrets_page` and friends touch only the items they return (plus
one to know whether more follow); :attr:`VaultStore.items_touched` counts them, for tests.
Errors are :class:`~emulators.keyvault.errors.KeyVaultError` so the HTTP layer can answer
them as they are. Time comes from the shared :class:`~emulators.clock.Clock`.
"""

from __future__ import annotations

import bisect
import dataclasses
import heapq
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from emulators.clock import Clock
from emulators.keyvault import errors
from emulators.keyvault.rbac import ROLES

NAME_RE = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
VAULT_NAME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$")
MAX_VALUE_BYTES = 25 * 1024
MAX_TAGS = 15
MAX_TAG_NAME = 512
MAX_TAG_VALUE = 256
RECOVERABLE_DAYS = 90


@dataclass(frozen=True)
class SecretVersion:
    """One version of a secret. Attributes and tags belong to the version, as in Key Vault."""

    vault: str
    name: str
    version: str
    value: str = field(repr=False)
    content_type: str | None
    enabled: bool
    not_before: datetime | None
    expires: datetime | None
    created: datetime
    updated: datetime
    tags: dict[str, str] | None


@dataclass(frozen=True)
class DeletedSecret:
    """A soft-deleted secret: its latest version plus the deletion dates."""

    latest: SecretVersion
    deleted: datetime
    scheduled_purge: datetime


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing: its items and where the next page starts (``None``: last)."""

    items: list[T]
    next_marker: str | None


@dataclass
class _Secret:
    name: str
    versions: list[SecretVersion] = field(default_factory=list)


@dataclass
class _Vault:
    name: str
    secrets: dict[str, _Secret] = field(default_factory=dict)
    deleted: dict[str, tuple[_Secret, datetime, datetime]] = field(default_factory=dict)
    roles: dict[str, set[str]] = field(default_factory=dict)
    #: Sorted keys of ``secrets`` and of ``deleted``: the listing indexes.
    names: list[str] = field(default_factory=list)
    deleted_names: list[str] = field(default_factory=list)
    #: ``(scheduled purge, key)`` of deleted secrets; entries left behind by a recover or a
    #: purge are skipped when they surface (their purge time no longer matches).
    purge_heap: list[tuple[datetime, str]] = field(default_factory=list)

    def add_secret(self, key: str, secret: _Secret) -> None:
        if key not in self.secrets:
            bisect.insort(self.names, key)
        self.secrets[key] = secret

    def remove_secret(self, key: str) -> _Secret:
        _remove_sorted(self.names, key)
        return self.secrets.pop(key)

    def add_deleted(self, key: str, secret: _Secret, deleted: datetime, purge: datetime) -> None:
        if key not in self.deleted:
            bisect.insort(self.deleted_names, key)
        self.deleted[key] = (secret, deleted, purge)
        heapq.heappush(self.purge_heap, (purge, key))

    def remove_deleted(self, key: str) -> tuple[_Secret, datetime, datetime]:
        _remove_sorted(self.deleted_names, key)
        return self.deleted.pop(key)


def _remove_sorted(keys: list[str], key: str) -> None:
    index = bisect.bisect_left(keys, key)
    if index < len(keys) and keys[index] == key:
        del keys[index]


def check_name(name: str) -> None:
    """Raise 400 BadParameter unless ``name`` is 1-127 characters of ``[0-9a-zA-Z-]``."""
    if not NAME_RE.match(name):
        raise errors.bad_parameter(
            "The request URI contains an invalid name: secret names must be 1-127 characters "
            "of 0-9, a-z, A-Z and -."
        )


def check_tags(tags: Any) -> dict[str, str] | None:
    """Validate tags (at most 15, string names and values within Key Vault's lengths)."""
    if tags is None:
        return None
    if not isinstance(tags, dict):
        raise errors.bad_parameter("Tags must be a JSON object of string names and values.")
    if len(tags) > MAX_TAGS:
        raise errors.bad_parameter(f"The number of tags exceeds the maximum of {MAX_TAGS}.")
    for key, value in tags.items():
        if not isinstance(value, str) or not key or len(key) > MAX_TAG_NAME:
            raise errors.bad_parameter("Tag names and values must be strings.")
        if len(value) > MAX_TAG_VALUE:
            raise errors.bad_parameter(f"Tag {key!r} is longer than {MAX_TAG_VALUE} characters.")
    return dict(tags)


class VaultStore:
    """Every emulated vault. Names of vaults and secrets are case-insensitive."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lock = threading.RLock()
        self._vaults: dict[str, _Vault] = {}
        #: Index entries read by the paged listings since start (a cost counter for tests).
        self.items_touched = 0

    # -- vaults and roles -------------------------------------------------------------------

    def create_vault(self, name: str) -> None:
        """Create an empty vault (``ValueError`` for a bad or taken name)."""
        if not VAULT_NAME_RE.match(name) or "--" in name:
            raise ValueError(f"invalid vault name {name!r}: 3-24 letters, digits and dashes")
        with self._lock:
            if name.lower() in self._vaults:
                raise ValueError(f"vault {name!r} already exists")
            self._vaults[name.lower()] = _Vault(name.lower())

    def has_vault(self, name: str) -> bool:
        """Whether the vault exists."""
        with self._lock:
            return name.lower() in self._vaults

    def assign_role(self, vault: str, principal_id: str, role: str) -> None:
        """Grant ``role`` (a key of :data:`ROLES`) on ``vault`` to ``principal_id``."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; known: {sorted(ROLES)}")
        with self._lock:
            self._vault(vault).roles.setdefault(principal_id.lower(), set()).add(role)

    def remove_role(self, vault: str, principal_id: str, role: str) -> None:
        """Revoke ``role`` on ``vault`` from ``principal_id`` (no error if not granted)."""
        with self._lock:
            self._vault(vault).roles.get(principal_id.lower(), set()).discard(role)

    def roles_of(self, vault: str, principal_id: str) -> frozenset[str]:
        """The roles ``principal_id`` holds on ``vault``."""
        with self._lock:
            return frozenset(self._vault(vault).roles.get(principal_id.lower(), set()))

    # -- secrets ----------------------------------------------------------------------------

    def set(
        self,
        vault: str,
        name: str,
        value: str,
        *,
        content_type: str | None = None,
        enabled: bool = True,
        not_before: datetime | None = None,
        expires: datetime | None = None,
        tags: dict[str, str] | None = None,
    ) -> SecretVersion:
        """Add a new version, which becomes the current one. 409 if the name is soft-deleted."""
        check_name(name)
        if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
            raise errors.bad_parameter(
                f"The secret value exceeds the maximum size of {MAX_VALUE_BYTES} bytes."
            )
        tags = check_tags(tags)
        with self._lock:
            v = self._vault(vault)
            self._expire_deleted(v)
            if name.lower() in v.deleted:
                raise errors.conflict_deleted(name)
            secret = v.secrets.get(name.lower())
            if secret is None:
                secret = _Secret(name)
                v.add_secret(name.lower(), secret)
            now = self.clock.now()
            version = SecretVersion(
                vault=v.name,
                name=secret.name,
                version=secrets.token_hex(16),
                value=value,
                content_type=content_type,
                enabled=enabled,
                not_before=not_before,
                expires=expires,
                created=now,
                updated=now,
                tags=tags,
            )
            secret.versions.append(version)
            return version

    def get(self, vault: str, name: str, version: str | None = None) -> SecretVersion:
        """A version (the current one when ``version`` is empty); 403 if it is disabled."""
        found = self.peek(vault, name, version)
        if not found.enabled:
            raise errors.disabled("get")
        return found

    def peek(self, vault: str, name: str, version: str | None = None) -> SecretVersion:
        """Like :meth:`get` but returns disabled versions too (for tests and metadata)."""
        with self._lock:
            secret = self._secret(vault, name)
            if not version:
                return secret.versions[-1]
            for candidate in secret.versions:
                if candidate.version == version.lower():
                    return candidate
            raise errors.secret_not_found(name, version)

    def update(
        self, vault: str, name: str, version: str | None, changes: dict[str, Any]
    ) -> SecretVersion:
        """Change the attributes of a version: keys among ``content_type``, ``enabled``,
        ``not_before``, ``expires``, ``tags`` (present keys are applied, ``None`` clears)."""
        allowed = {"content_type", "enabled", "not_before", "expires", "tags"}
        if set(changes) - allowed:
            raise ValueError(f"unknown attributes {sorted(set(changes) - allowed)}")
        if "tags" in changes:
            changes = {**changes, "tags": check_tags(changes["tags"])}
        with self._lock:
            secret = self._secret(vault, name)
            current = self.peek(vault, name, version)
            updated = dataclasses.replace(current, **changes, updated=self.clock.now())
            index = secret.versions.index(current)
            secret.versions[index] = updated
            return updated

    def list_secrets(self, vault: str) -> list[SecretVersion]:
        """The current version of every secret that is not deleted, ordered by name."""
        with self._lock:
            v = self._vault(vault)
            return [v.secrets[k].versions[-1] for k in v.names]

    def list_versions(self, vault: str, name: str) -> list[SecretVersion]:
        """Every version of a secret, oldest first (404 if the secret does not exist)."""
        with self._lock:
            return list(self._secret(vault, name).versions)

    def secrets_page(self, vault: str, marker: str | None, size: int) -> Page[SecretVersion]:
        """Up to ``size`` current versions in name order, from the secret named ``marker``
        (its lower-case name: the ``next_marker`` of the previous page) or from the start.

        A marker names a position, not an item: secrets added or deleted between pages are
        seen or skipped as their names fall, and nothing is listed twice.
        """
        with self._lock:
            v = self._vault(vault)
            start, end, next_marker = self._page_of(v.names, marker, size)
            return Page([v.secrets[k].versions[-1] for k in v.names[start:end]], next_marker)

    def versions_page(
        self, vault: str, name: str, marker: str | None, size: int
    ) -> Page[SecretVersion]:
        """Up to ``size`` versions of a secret, oldest first, from position ``marker``
        (a decimal index: versions are only ever appended)."""
        with self._lock:
            versions = self._secret(vault, name).versions
            start = 0 if marker is None else int(marker)
            end = min(start + size, len(versions))
            self.items_touched += max(0, end - start)
            return Page(list(versions[start:end]), str(end) if end < len(versions) else None)

    def deleted_page(self, vault: str, marker: str | None, size: int) -> Page[DeletedSecret]:
        """Up to ``size`` soft-deleted secrets in name order, from ``marker`` (as in
        :meth:`secrets_page`)."""
        with self._lock:
            v = self._vault(vault)
            self._expire_deleted(v)
            start, end, next_marker = self._page_of(v.deleted_names, marker, size)
            page = [
                DeletedSecret(s.versions[-1], d, p)
                for s, d, p in (v.deleted[k] for k in v.deleted_names[start:end])
            ]
            return Page(page, next_marker)

    def delete(self, vault: str, name: str) -> DeletedSecret:
        """Soft-delete a secret (all versions); recoverable for 90 days of emulated time."""
        with self._lock:
            v = self._vault(vault)
            secret = self._secret(vault, name)
            now = self.clock.now()
            purge = now + timedelta(days=RECOVERABLE_DAYS)
            v.remove_secret(name.lower())
            v.add_deleted(name.lower(), secret, now, purge)
            return DeletedSecret(secret.versions[-1], now, purge)

    def get_deleted(self, vault: str, name: str) -> DeletedSecret:
        """A soft-deleted secret (404 if the name is not soft-deleted)."""
        with self._lock:
            v = self._vault(vault)
            self._expire_deleted(v)
            entry = v.deleted.get(name.lower())
            if entry is None:
                raise errors.deleted_secret_not_found(name)
            return DeletedSecret(entry[0].versions[-1], entry[1], entry[2])

    def list_deleted(self, vault: str) -> list[DeletedSecret]:
        """Every soft-deleted secret, ordered by name."""
        with self._lock:
            v = self._vault(vault)
            self._expire_deleted(v)
            return [
                DeletedSecret(s.versions[-1], d, p)
                for s, d, p in (v.deleted[k] for k in v.deleted_names)
            ]

    def recover(self, vault: str, name: str) -> SecretVersion:
        """Undelete a soft-deleted secret with all its versions; returns the current one."""
        with self._lock:
            v = self._vault(vault)
            self.get_deleted(vault, name)
            secret, _, _ = v.remove_deleted(name.lower())
            v.add_secret(name.lower(), secret)
            return secret.versions[-1]

    def purge(self, vault: str, name: str) -> None:
        """Remove a soft-deleted secret for good."""
        with self._lock:
            v = self._vault(vault)
            self.get_deleted(vault, name)
            v.remove_deleted(name.lower())

    def restore(self, vault: str, versions: list[SecretVersion]) -> SecretVersion:
        """Re-create a secret from backed-up versions (409 if the name is in use or deleted)."""
        if not versions:
            raise errors.bad_parameter("The backup blob is empty.")
        name = versions[0].name
        with self._lock:
            v = self._vault(vault)
            self._expire_deleted(v)
            if name.lower() in v.deleted:
                raise errors.conflict_deleted(name)
            if name.lower() in v.secrets:
                raise errors.KeyVaultError(
                    409, "Conflict", f"Secret {name} already exists and cannot be restored."
                )
            restored = [dataclasses.replace(ver, vault=v.name) for ver in versions]
            v.add_secret(name.lower(), _Secret(name, restored))
            return restored[-1]

    def current_versions(self) -> list[SecretVersion]:
        """The current version of every non-deleted secret in every vault."""
        with self._lock:
            return [
                s.versions[-1]
                for key in sorted(self._vaults)
                for s in (self._vaults[key].secrets[n] for n in self._vaults[key].names)
            ]

    # -- internals --------------------------------------------------------------------------

    def _vault(self, name: str) -> _Vault:
        v = self._vaults.get(name.lower())
        if v is None:
            raise errors.KeyVaultError(404, "VaultNotFound", f"Vault {name} does not exist.")
        return v

    def _secret(self, vault: str, name: str) -> _Secret:
        check_name(name)
        secret = self._vault(vault).secrets.get(name.lower())
        if secret is None:
            raise errors.secret_not_found(name)
        return secret

    def _expire_deleted(self, v: _Vault) -> None:
        now = self.clock.now()
        heap = v.purge_heap
        while heap and heap[0][0] <= now:
            purge, key = heapq.heappop(heap)
            entry = v.deleted.get(key)
            if entry is not None and entry[2] == purge:
                v.remove_deleted(key)

    def _page_of(
        self, keys: list[str], marker: str | None, size: int
    ) -> tuple[int, int, str | None]:
        """``keys[start:end]`` is the page starting at ``marker``; the marker of the next page."""
        start = 0 if marker is None else bisect.bisect_left(keys, marker)
        end = min(start + size, len(keys))
        self.items_touched += end - start
        if end < len(keys):
            self.items_touched += 1
            return start, end, keys[end]
        return start, end, None
