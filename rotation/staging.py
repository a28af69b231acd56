"""The staging secret: where a candidate waits, durable, before the target ever sees it.

Key Vault has no version labels and consumers read the newest version, so a candidate cannot be
a new version of the managed secret until it works. It is written instead to a companion secret
(:func:`rotation.vault.staging_name`) whose tags tie it to the version it replaces. A staged
candidate is *pending* (written, maybe applied), *applied* (the target minted or confirmed it),
*committed* or *discarded*; terminal versions are disabled so their values cannot be read.

A companion belongs to exactly one secret and says so in its ``rotation-staged-for`` tag:
a secret of that name that belongs to anyone else is never written to (a configuration
error), and a companion in the recycle bin that still holds an open candidate of the current
version stops the rotation (:class:`CompanionDeleted`), since that candidate may be what the
target holds now.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import (
    CompanionCollision,
    CompanionDeleted,
    LockLost,
    SecretDisabled,
    SecretNotFound,
)
from rotation.states import OPEN_STAGES
from rotation.vault import SecretStore, staging_name


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


def owned_by(tags: Mapping[str, str], secret_name: str) -> bool:
    """Whether a companion's tags say it belongs to ``secret_name`` (names ignore case)."""
    return tags.get(T.STAGED_FOR, "").strip().lower() == secret_name.lower()


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

    def read(self, current_version: str) -> StagedCandidate | None:
        """The latest staged candidate, or None if there is none or it is finished.

        Raises :class:`CompanionCollision` if the companion's name holds another secret, and
        :class:`CompanionDeleted` if the companion is in the recycle bin with an open
        candidate of ``current_version``.
        """
        try:
            snapshot = self._store.read(self.name)
        except SecretDisabled:
            props = self._store.properties(self.name)
            if props is not None:
                self._check_owner(props.tags)
            return None
        except SecretNotFound:
            deleted = self._store.deleted(self.name)
            if (
                deleted is not None
                and owned_by(deleted.tags, self.secret_name)
                and deleted.tags.get(T.STAGE) in OPEN_STAGES
                and deleted.tags.get(T.STAGED_FROM_VERSION) == current_version
            ):
                raise CompanionDeleted(
                    f"secret '{self.secret_name}': its staging secret '{self.name}' is "
                    f"soft-deleted while it holds the {deleted.tags.get(T.STAGE)} candidate of "
                    f"rotation {deleted.tags.get(T.ROTATION_ID, '?')}, which the target may "
                    f"already use; recover it (az keyvault secret recover --name {self.name}) "
                    "and rotate again"
                ) from None
            return None
        self._check_owner(snapshot.tags)
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

    def confirm(self, staged: StagedCandidate) -> None:
        """Read the companion back: raise :class:`LockLost` unless its newest version is
        ``staged`` (another run, whose lock outlived ours, staged after us)."""
        try:
            latest = self._store.read(self.name)
        except (SecretNotFound, SecretDisabled):
            latest = None
        if (
            latest is None
            or latest.version != staged.version
            or latest.tags.get(T.ROTATION_ID) != staged.rotation_id
        ):
            raise LockLost(
                f"secret '{self.secret_name}': another run staged a candidate in "
                f"'{self.name}' meanwhile; this run stops before the target sees its own"
            )

    def finish(self, staged: StagedCandidate, stage: str) -> None:
        """Mark ``staged`` committed or discarded and disable it so its value is unreadable."""
        self._store.update(
            self.name,
            staged.version,
            tags=self._tags(staged.from_version, staged.rotation_id, stage),
            enabled=False,
        )

    def _check_owner(self, tags: Mapping[str, str]) -> None:
        if not owned_by(tags, self.secret_name):
            owner = tags.get(T.STAGED_FOR, "").strip()
            whose = f"the companion of '{owner}'" if owner else "not a staging companion"
            raise CompanionCollision(
                f"its staging secret's name '{self.name}' is taken by a secret that is "
                f"{whose}; nothing was changed (rename one of the two secrets)",
                secret=self.secret_name,
            )

    def _tags(self, from_version: str, rotation_id: str, stage: str) -> dict[str, str]:
        return {
            T.STAGED_FOR: self.secret_name,
            T.STAGED_FROM_VERSION: from_version,
            T.ROTATION_ID: rotation_id,
            T.STAGE: str(stage),
        }
