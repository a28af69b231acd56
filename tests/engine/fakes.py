"""In-memory stand-ins for unit tests of the engine's logic (the real path is in tests/e2e)."""

from __future__ import annotations

import builtins
import json
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Unpack

from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import (
    ConfigurationError,
    SecretDisabled,
    SecretNotFound,
    TargetUnavailable,
    VerificationFailed,
)
from rotation.rotator import Rotator, Strategy
from rotation.vault import (
    SecretListing,
    SecretSnapshot,
    SecretStore,
    VersionAttributes,
    staging_name,
)

#: The unit tests' fixed "now".
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@dataclass
class _Version:
    version: str
    value: str
    tags: dict[str, str]
    content_type: str | None
    expires_on: datetime | None
    enabled: bool = True


def _listing(name: str, v: _Version) -> SecretListing:
    return SecretListing(name, v.version, dict(v.tags), v.enabled, v.expires_on, v.content_type)


class MemoryStore(SecretStore):
    """A SecretStore in memory, counting value reads per secret name."""

    def __init__(self, vault_url: str = "https://unit.vault.azure.net") -> None:
        self.vault_url = vault_url
        self.secrets: dict[str, list[_Version]] = {}
        self.value_reads: list[str] = []
        self.recycle_bin: dict[str, list[_Version]] = {}
        self._lock = threading.Lock()

    def _canonical(self, name: str) -> str:
        """Key Vault names ignore case: the first spelling written is the one kept."""
        for existing in self.secrets:
            if existing.lower() == name.lower():
                return existing
        return name

    def read(self, name: str, version: str | None = None) -> SecretSnapshot:
        with self._lock:
            name = self._canonical(name)
            versions = self.secrets.get(name)
            if not versions:
                raise SecretNotFound(f"{name} not found")
            if version is None:
                found = versions[-1]
            else:
                matches = [v for v in versions if v.version == version]
                if not matches:
                    raise SecretNotFound(f"{name}/{version} not found")
                found = matches[0]
            if not found.enabled:
                raise SecretDisabled(f"{name} disabled")
            self.value_reads.append(name)
            return SecretSnapshot(
                name,
                found.version,
                found.value,
                dict(found.tags),
                found.content_type,
                found.expires_on,
                found.enabled,
            )

    def write(self, name: str, value: str, **attributes: Unpack[VersionAttributes]) -> str:
        tags, content_type = attributes["tags"], attributes["content_type"]
        with self._lock:
            version = uuid.uuid4().hex
            name = self._canonical(name)
            if name in self.recycle_bin:
                # Key Vault's 409 ObjectIsDeletedButRecoverable, as rotation.vault maps it.
                raise ConfigurationError(
                    f"Key Vault {self.vault_url} (set {name}): conflict (Conflict); a "
                    "soft-deleted secret of that name must be recovered or purged first"
                )
            self.secrets.setdefault(name, []).append(
                _Version(version, value, dict(tags), content_type, attributes.get("expires_on"))
            )
            return version

    def put_login(self, name: str, username: str, password: str, **version: Any) -> str:
        """Write the JSON login ``{"username", "password"}`` as a new version of ``name``, as
        an operator stores a managed or admin secret (``version``: :meth:`write`'s ``tags``
        and ``expires_on``); returns the version."""
        value = json.dumps({"username": username, "password": password})
        return self.write(name, value, content_type="application/json", **version)

    def put_candidate(
        self, name: str, password: str, *, rotation_id: str, from_version: str
    ) -> str:
        """Stage ``password`` (login ``app``) for ``name`` as a run that applied it and then
        stopped leaves it: the companion's new version, stage ``applied``; returns it."""
        return self.write(
            staging_name(name),
            json.dumps({"username": "app", "password": password}),
            tags={
                T.STAGED_FOR: name,
                T.STAGE: "applied",
                T.ROTATION_ID: rotation_id,
                T.STAGED_FROM_VERSION: from_version,
            },
            content_type="application/json",
        )

    def update(
        self, name: str, version: str, *, tags: Mapping[str, str], enabled: bool | None = None
    ) -> None:
        with self._lock:
            for v in self.secrets.get(self._canonical(name), []):
                if v.version == version:
                    v.tags = dict(tags)
                    if enabled is not None:
                        v.enabled = enabled
                    return
            raise SecretNotFound(f"{name}/{version} not found")

    def list(self) -> Iterator[SecretListing]:
        return self._latest(self.secrets)

    def properties(self, name: str) -> SecretListing | None:
        with self._lock:
            versions = self.secrets.get(self._canonical(name))
            if not versions:
                return None
            return _listing(self._canonical(name), versions[-1])

    def deleted(self, name: str) -> SecretListing | None:
        with self._lock:
            for existing, versions in self.recycle_bin.items():
                if existing.lower() == name.lower() and versions:
                    return _listing(existing, versions[-1])
        return None

    def list_deleted(self) -> Iterator[SecretListing]:
        return self._latest(self.recycle_bin)

    def _latest(self, secrets: dict[str, builtins.list[_Version]]) -> Iterator[SecretListing]:
        """The latest version of each secret in ``secrets`` (read under the lock, listed
        after it, as a paged listing would)."""
        with self._lock:
            items = [(n, vs[-1]) for n, vs in secrets.items() if vs]
        for name, v in items:
            yield _listing(name, v)

    def soft_delete(self, name: str) -> None:
        """Move ``name`` to the recycle bin, as Key Vault's soft delete does."""
        with self._lock:
            canonical = self._canonical(name)
            self.recycle_bin[canonical] = self.secrets.pop(canonical)

    def current_value(self, name: str) -> str:
        return self.secrets[name][-1].value

    def versions(self, name: str) -> builtins.list[_Version]:
        return list(self.secrets.get(name, []))


@dataclass
class FakeTarget:
    """A target with logins: user name -> set of passwords that work."""

    logins: dict[str, set[str]] = field(default_factory=dict)
    down: bool = False
    #: apply is accepted but the new password only takes effect later (replication lag)
    refuse_new: bool = False
    #: passwords applied while ``refuse_new`` was set, per user, not yet effective
    late: dict[str, str] = field(default_factory=dict)
    #: verify refuses every password but ``initial-password`` (a target that rejects logins)
    refuse_logins: bool = False

    def works(self, credential: Credential) -> bool:
        return credential.password in self.logins.get(credential.username or "", set())


class FakeRotator(Rotator):
    """A rotator against :class:`FakeTarget` (which tests put on the class)."""

    kind = "fake"
    strategies: ClassVar[tuple[Strategy, ...]] = (
        Strategy.SINGLE,
        Strategy.ALTERNATING,
        Strategy.MULTIPLE,
    )
    target_state: ClassVar[FakeTarget] = FakeTarget()

    def apply(self, current: Credential, candidate: Credential) -> Credential:
        target = self.target_state
        if target.down:
            raise TargetUnavailable("fake target down")
        user = candidate.username or ""
        if self.context.admin is None and not target.works(current):
            # Self-service rotation logs in with the current credential, like ALTER ROLE
            # CURRENT_USER: a stale current credential cannot change anything.
            raise VerificationFailed(f"current credential of {current.username} refused")
        if self.context.strategy is Strategy.MULTIPLE:
            target.logins.setdefault(user, set()).add(candidate.password)
        elif target.refuse_new:
            target.late[user] = candidate.password
        else:
            target.logins[user] = {candidate.password}
        return candidate

    def verify(self, credential: Credential) -> None:
        if self.target_state.down:
            raise TargetUnavailable("fake target down")
        refused = self.target_state.refuse_logins and credential.password != "initial-password"
        if refused or not self.target_state.works(credential):
            raise VerificationFailed(f"login refused for {credential.username}")

    def retire(self, old: Credential, new: Credential) -> None:
        if self.context.strategy is Strategy.MULTIPLE:
            self.target_state.logins.get(old.username or "", set()).discard(old.password)
