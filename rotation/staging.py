"""The staging secret: where a candidate waits, durable, before the target ever sees it.

Key Vault has no version labels and consumers read the newest version, so a candidate cannot be
a new version of the managed secret until it works. It is written instead to a companion secret
(:func:`rotation.vault.staging_name`) whose tags tie it to the version it replaces. A staged
candidate is *pending* (written, maybe applied) or *applied* (the target minted or confirmed it)
until it is finished:

- **committed** is derived, never written: the owner's current version carries the candidate's
  rotation id and names the version the candidate was staged from as its previous version
  (:func:`committed`). Its value is then the current value, so it stays enabled and costs no
  call after the commit;
- **discarded** is written (refused or stale candidates), and the version is disabled so that
  its value cannot be read.

A candidate is resumed only when it *continues* the current version (open, and staged from
it); see :meth:`StagedCandidate.continues`.

A companion belongs to exactly one secret and says so in its ``rotation-staged-for`` tag:
a secret of that name that belongs to anyone else is never written to (a configuration
error), and a companion in the recycle bin that still holds an open candidate of the current
version stops the rotation (:class:`CompanionDeleted`), since that candidate may be what the
target holds now. The recycle bin is read only when it can matter: when the companion is
absent (404) and the run will not write it (:meth:`Staging.check_deleted`), or when writing it
fails because Key Vault keeps the name for a soft-deleted secret (409
``ObjectIsDeletedButRecoverable``, :meth:`Staging.write`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import (
    CompanionCollision,
    CompanionDeleted,
    ConfigurationError,
    LockLost,
    SecretDisabled,
    SecretNotFound,
)
from rotation.states import OPEN_STAGES, Stage
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

    def is_finished(self, current_tags: Mapping[str, str]) -> bool:
        """Whether nothing is left to do for this candidate, given the owner's current tags:
        it is discarded, or committed (see :func:`committed`)."""
        return not needs_work(self.tags(), current_tags)

    def tags(self) -> dict[str, str]:
        """The state tags this candidate was read with (no owner tag)."""
        return {
            T.STAGED_FROM_VERSION: self.from_version,
            T.ROTATION_ID: self.rotation_id,
            T.STAGE: self.stage,
        }


def committed(companion_tags: Mapping[str, str], current_tags: Mapping[str, str]) -> bool:
    """Whether a staged candidate became the owner's current version.

    The commit writes the candidate's rotation id and the version it replaced (the version
    the candidate was staged from) into the new current version's tags, so both tag sets,
    as any listing returns them, say it without another call. A candidate re-staged onto a
    newer version (a commit that found the secret moved) is not committed by this rule, since
    its staged-from version differs, and is resumed.
    """
    rotation_id = companion_tags.get(T.ROTATION_ID, "")
    from_version = companion_tags.get(T.STAGED_FROM_VERSION, "")
    return (
        bool(rotation_id)
        and bool(from_version)
        and rotation_id == current_tags.get(T.ROTATION_ID)
        and from_version == current_tags.get(T.PREVIOUS_VERSION)
    )


def needs_work(companion_tags: Mapping[str, str], current_tags: Mapping[str, str]) -> bool:
    """Whether a companion (listed or read) holds a candidate a run must still resolve:
    open and not committed (``current_tags``: the owner's current version)."""
    return companion_tags.get(T.STAGE) in OPEN_STAGES and not committed(
        companion_tags, current_tags
    )


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
        #: Set by :meth:`read` when the companion did not exist (a 404): only then can the
        #: recycle bin hold it.
        self._absent = False

    def read(self) -> StagedCandidate | None:
        """The latest staged candidate, or None if the companion is absent or disabled.

        Raises :class:`CompanionCollision` if the companion's name holds another secret. An
        absent companion may be in the recycle bin: a run that will not write the companion
        calls :meth:`check_deleted` (a write finds out by itself, see :meth:`write`).
        """
        self._absent = False
        try:
            snapshot = self._store.read(self.name)
        except SecretDisabled:
            props = self._store.properties(self.name)
            if props is not None:
                self._check_owner(props.tags)
            return None
        except SecretNotFound:
            self._absent = True
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

    def check_deleted(self, current_version: str) -> None:
        """Raise :class:`CompanionDeleted` if the companion that :meth:`read` found absent is
        in the recycle bin with an open candidate of ``current_version`` (one call, and only
        after a 404)."""
        if not self._absent:
            return
        self._absent = False
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
            )
        if deleted is not None:
            raise ConfigurationError(
                f"its staging secret '{self.name}' is soft-deleted, and Key Vault keeps the "
                "name until it is recovered or purged: recover it (az keyvault secret recover "
                f"--name {self.name}), or, if it holds no candidate the target may use, purge "
                f"it (az keyvault secret purge --name {self.name}); nothing was changed",
                secret=self.secret_name,
            )

    def write(
        self, credential: Credential, *, from_version: str, rotation_id: str, stage: str
    ) -> StagedCandidate:
        """Store ``credential`` as a new staging version and return it.

        Key Vault refuses the write (409 ``ObjectIsDeletedButRecoverable``) exactly when the
        companion is in the recycle bin; the bin is read then, to raise
        :class:`CompanionDeleted` (an open candidate of ``from_version``) or a
        :class:`ConfigurationError` naming the recover and purge commands.
        """
        try:
            version = self._store.write(
                self.name,
                credential.to_value(json_format=self._json),
                tags=self._tags(from_version, rotation_id, stage),
                content_type=self._content_type,
            )
        except ConfigurationError as error:
            refused = error
        else:
            return StagedCandidate(version, credential, from_version, rotation_id, stage)
        self._absent = True
        self.check_deleted(from_version)
        raise refused

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

    def discard(self, staged: StagedCandidate, *, readable: bool = False) -> None:
        """Mark ``staged`` discarded and disable it so its value is unreadable; with
        ``readable``, leave it enabled (a credential the target still accepts must keep a
        readable copy)."""
        self._store.update(
            self.name,
            staged.version,
            tags=self._tags(staged.from_version, staged.rotation_id, Stage.DISCARDED),
            enabled=None if readable else False,
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
