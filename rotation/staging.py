"""The staging secret: where a candidate waits, durable, before the target ever sees it.

Key Vault has no version labels and consumers read the newest version, so a candidate cannot be
a new version of the managed secret until it works. It is written instead to a companion secret
(:func:`rotation.vault.staging_name`) whose tags tie it to the version it replaces. A staged
candidate is *pending* (written, maybe applied), *applied* (the target minted or confirmed it),
*committed* or *discarded*; terminal versions are disabled so their values cannot be read.
"""

from __future__ import annotations

from dataclasses import dataclass

from rotation import tags as T
from rotation.credential import Credential
from rotation.vault import SecretStore, staging_name

PENDING = "pending"
APPLIED = "applied"
COMMITTED = "committed"
DISCARDED = "discarded"
OPEN_STAGES = frozenset({PENDING, APPLIED})


@dataclass(frozen=True)
class StagedCandidate:
    """A candidate held in the staging secret (``repr`` hides the credential's password)."""

    version: str
    credential: Credential
    from_version: str
    rotation_id: str
    stage: str

    def continues(self, current_version: str) -> bool:
        """Whether this is an unfinished rotation away from ``current_version``."""
        return self.stage in OPEN_STAGES and self.from_version == current_version


class Staging:
    """Reads and writes the staging secret of one managed secret."""

    def __init__(
        self, store: SecretStore, secret_name: str, *, json_format: bool, content_type: str | None
    ) -> None:
        self._store = store
        self.secret_name = secret_name
        self.name = staging_name(secret_name)
        self._json = json_format
        self._content_type = content_type

    def read(self) -> StagedCandidate | None:
        """The latest staged candidate, or None if there is none or it is finished."""
        snapshot = self._store.read_if_enabled(self.name)
        owner = snapshot.tags.get(T.STAGED_FOR, "") if snapshot is not None else ""
        if snapshot is None or owner.lower() != self.secret_name.lower():
            return None
        credential = Credential.from_value(snapshot.value, json_format=self._json, secret=self.name)
        return StagedCandidate(
            version=snapshot.version,
            credential=credential,
            from_version=snapshot.tags.get(T.STAGED_FROM_VERSION, ""),
            rotation_id=snapshot.tags.get(T.ROTATION_ID, ""),
            stage=snapshot.tags.get(T.STAGE, ""),
        )

    def write(
        self, credential: Credential, *, from_version: str, rotation_id: str, stage: str
    ) -> StagedCandidate:
        """Store ``credential`` as a new staging version and return it."""
        version = self._store.write(
            self.name,
            credential.to_value(json_format=self._json),
            tags=self._tags(from_version, rotation_id, stage),
            content_type=self._content_type,
        )
        return StagedCandidate(version, credential, from_version, rotation_id, stage)

    def finish(self, staged: StagedCandidate, stage: str) -> None:
        """Mark ``staged`` committed or discarded and disable it so its value is unreadable."""
        self._store.update(
            self.name,
            staged.version,
            tags=self._tags(staged.from_version, staged.rotation_id, stage),
            enabled=False,
        )

    def _tags(self, from_version: str, rotation_id: str, stage: str) -> dict[str, str]:
        return {
            T.STAGED_FOR: self.secret_name,
            T.STAGED_FROM_VERSION: from_version,
            T.ROTATION_ID: rotation_id,
            T.STAGE: stage,
        }
