"""The timer sweep: find every managed secret that needs work, without reading any value.

Listing returns each secret's current tags and expiry, so deciding what is due costs one
paged list call per page of a vault, plus one listing of its recycle bin (a soft-deleted
staging companion may hold the target's password); values are fetched later, by the engine,
for due secrets only.

A staging companion's candidate needs work only while it is open and not committed, and
"committed" is read from the tags of the owner's current version (its rotation id and
previous version, :func:`rotation.staging.needs_work`), never written to the companion: so
companions are matched with their owners' listings, and a finished companion, enabled or in
the recycle bin, schedules nothing.

Vaults are listed concurrently, at most :data:`MAX_PARALLEL_VAULTS` at a time: a slow or
failing vault holds one worker and is reported, while the others go on. Memory stays flat in
the number of secrets: listings are streamed page by page and the scan keeps only what is due
(plus a short path of names, the few candidates listed before their secret, and the open
candidates of the recycle bin, see :class:`_Scan`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from rotation import names
from rotation import tags as T
from rotation.config import is_managed
from rotation.errors import RotationError
from rotation.outcome import RotationRequest, Trigger
from rotation.staging import needs_work
from rotation.states import OPEN_STAGES, UNFINISHED_STATES
from rotation.vault import (
    MAX_NAME_LENGTH,
    STAGING_SUFFIX,
    SecretListing,
    SecretStore,
    staging_name,
)

log = logging.getLogger(__name__)

#: How many vaults one sweep lists at the same time.
MAX_PARALLEL_VAULTS = 4

UNFINISHED_ROTATION = "unfinished rotation"
#: Where a deleted companion's entry keeps its owner's spelling (not a Key Vault tag).
_OWNER = "owner"
DELETED_COMPANION = "staging companion soft-deleted with an open candidate"


@dataclass(frozen=True)
class DueSecret:
    """A secret the sweep found needing work, and why."""

    vault_url: str
    secret_name: str
    version: str | None
    reason: str
    #: The listing's tags and expiry (for the service's rotation-window check); not sent.
    tags: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    expires_on: datetime | None = field(default=None, compare=False)

    def request(self, trigger: Trigger) -> RotationRequest:
        """The engine request for this item (acts only if ``version`` is still current)."""
        return RotationRequest(
            vault_url=self.vault_url,
            secret_name=self.secret_name,
            trigger=trigger,
            expected_version=self.version,
        )


@dataclass
class SweepReport:
    """What one sweep saw and did (counts and names, never values)."""

    listed: int = 0
    managed: int = 0
    due: list[DueSecret] = field(default_factory=list)
    failed_vaults: dict[str, str] = field(default_factory=dict)
    #: Per vault URL, the managed secret whose current version expires first, and when.
    nearest_expiry: dict[str, tuple[str, datetime]] = field(default_factory=dict)


class _Nearest:
    """The managed secret that expires first among a listing (kept as one pair: flat memory)."""

    __slots__ = ("found",)

    def __init__(self) -> None:
        self.found: tuple[str, datetime] | None = None

    def watch(self, listings: Iterable[SecretListing]) -> Iterator[SecretListing]:
        """Pass ``listings`` through, noting the earliest expiry of an enabled managed secret."""
        for item in listings:
            expires = item.expires_on
            if (
                expires is not None
                and item.enabled
                and not item.tags.get(T.STAGED_FOR)
                and is_managed(item.tags)
                and (self.found is None or expires < self.found[1])
            ):
                self.found = (item.name, expires)
            yield item


#: The tags of a version that say which candidate it committed (see rotation.staging).
_COMMIT_TAGS = (T.ROTATION_ID, T.PREVIOUS_VERSION)
#: The tags of a companion that say which candidate it holds.
_STAGED_TAGS = (T.ROTATION_ID, T.STAGED_FROM_VERSION, T.STAGE)


def _keep(tags: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    return {name: tags[name] for name in names if name in tags}


class _Seen:
    """A managed, not-due secret the scan may still need (a plain class: cheap to import)."""

    __slots__ = ("commit", "key", "name", "version")

    def __init__(self, key: str, name: str, version: str | None, commit: Mapping[str, str]) -> None:
        self.key = key
        self.name = name
        self.version = version
        #: Its commit tags (rotation id, previous version), to judge its companion.
        self.commit = commit


class _Scan:
    """One vault's listing, consumed item by item, keeping only what it must.

    A secret is due when a rotation of it is unfinished (an enabled staged candidate that
    needs work, or a committed version still waiting for consumers), its current version is
    near expiry (or has none), or its companion is in the recycle bin with a candidate that
    needs work. Disabled secrets are skipped.

    The staged companion of ``name`` is ``name-rotation-staged``, which Key Vault lists after
    ``name`` with only names that start with ``name`` in between. So to match a companion to
    its secret, the scan keeps the managed, not-due secrets whose name is a prefix of the
    current name (a path at most 127 deep, each with its two commit tags), plus the rare
    secret whose name is too long for that (its companion's name is shortened with a hash).
    A companion listed before its secret (a hashed name can sort so) is remembered (its
    three stage tags) until the secret comes. A listing out of name order (a test double,
    say) is scanned again from a fresh listing with ``ordered=False``: remembering every
    managed secret and every unmatched companion (see :func:`find_due`).

    ``deleted``: owner name (lower case) to the tags of its soft-deleted companion, for the
    companions of the recycle bin whose stage is open (:func:`deleted_companions`).
    """

    def __init__(
        self,
        vault_url: str,
        is_due: Callable[[datetime | None], bool],
        deleted: Mapping[str, Mapping[str, str]] | None = None,
        *,
        ordered: bool = True,
    ) -> None:
        self.vault_url = vault_url
        self.is_due = is_due
        self.listed = 0
        self.managed = 0
        self.due: dict[str, DueSecret] = {}
        #: Companions whose secret was not listed yet: owner key -> their stage tags.
        self.open_candidates: dict[str, dict[str, str]] = {}
        self.deleted = dict(deleted or {})
        self.path: list[_Seen] = []
        self.remembered: dict[str, _Seen] = {}
        self.previous_key = ""
        self.in_order = ordered

    def add(self, item: SecretListing) -> None:
        self.listed += 1
        key = item.name.lower()
        if key < self.previous_key and self.in_order:
            self.in_order = False
            self.remembered.update((seen.key, seen) for seen in self.path)
        self.previous_key = key
        while self.path and not key.startswith(self.path[-1].key):
            self.path.pop()
        staged_for = item.tags.get(T.STAGED_FOR)
        if staged_for:
            if item.enabled and item.tags.get(T.STAGE) in OPEN_STAGES:
                self._candidate_for(staged_for.lower(), key, _keep(item.tags, _STAGED_TAGS))
            return
        gone = self.deleted.pop(key, None)
        if gone is not None and not needs_work(gone, item.tags):
            gone = None
        if not (item.enabled and is_managed(item.tags)):
            if gone is not None:
                self._deleted_companion(item.name, gone)
            return
        self.managed += 1
        staged = self.open_candidates.pop(key, None)
        if staged is not None and needs_work(staged, item.tags):
            reason: str | None = UNFINISHED_ROTATION
        elif item.tags.get(T.STATE) in UNFINISHED_STATES:
            reason = f"rotation {item.tags[T.STATE]}"
        elif self.is_due(item.expires_on):
            reason = "no expiry" if item.expires_on is None else "near expiry"
        else:
            reason = None
        if reason is not None:
            self.due[key] = DueSecret(
                self.vault_url, item.name, item.version, reason, item.tags, item.expires_on
            )
            return
        if gone is not None:
            self._deleted_companion(item.name, gone)
            return
        seen = _Seen(key, item.name, item.version, _keep(item.tags, _COMMIT_TAGS))
        self.path.append(seen)
        if not self.in_order or len(item.name) + len(STAGING_SUFFIX) > MAX_NAME_LENGTH:
            self.remembered[key] = seen

    def _candidate_for(self, base: str, key: str, staged: dict[str, str]) -> None:
        if base in self.due:
            if needs_work(staged, self.due[base].tags):
                self.due[base] = dataclasses.replace(self.due[base], reason=UNFINISHED_ROTATION)
            return
        seen = next((s for s in self.path if s.key == base), None) or self.remembered.pop(
            base, None
        )
        if seen is not None:
            if needs_work(staged, seen.commit):
                self.due[base] = DueSecret(
                    self.vault_url, seen.name, seen.version, UNFINISHED_ROTATION
                )
            return
        if not self.in_order or base > key:
            # Its secret is still to come (or, out of order, may have been forgotten).
            self.open_candidates[base] = staged

    def _deleted_companion(self, owner: str, tags: Mapping[str, str]) -> None:
        """Queue ``owner``: its soft-deleted companion holds a candidate that needs work. The
        request names the version the candidate replaces, so a secret that moved on since is
        left alone."""
        log.error(
            "sweep: the staging companion of %s/%s is soft-deleted with an open candidate; "
            "recover it (see README)",
            self.vault_url,
            owner,
        )
        from_version = tags.get(T.STAGED_FROM_VERSION) or None
        self.due[owner.lower()] = DueSecret(self.vault_url, owner, from_version, DELETED_COMPANION)

    def result(self) -> tuple[list[DueSecret], int, int]:
        for owner, tags in self.deleted.items():
            # The owner was not listed (deleted too, say): nothing says the candidate was
            # committed, so it is reported as it stands.
            if owner not in self.due:
                self._deleted_companion(str(tags.get(_OWNER, owner)), tags)
        self.deleted.clear()
        due = sorted(self.due.values(), key=lambda d: d.secret_name)
        return due, self.listed, self.managed


def find_due(
    vault_url: str,
    listings: Iterable[SecretListing],
    is_due: Callable[[datetime | None], bool],
    relist: Callable[[], Iterable[SecretListing]] | None = None,
    deleted: Mapping[str, Mapping[str, str]] | None = None,
) -> tuple[list[DueSecret], int, int]:
    """Due secrets among one vault's listings, with the listed and managed counts.

    ``listings`` is consumed once, as a stream; see :class:`_Scan` for the rules. Key Vault
    lists in name order; should a listing come out of order, ``relist`` (a fresh listing of the
    same vault) is scanned once more, remembering everything (test doubles list so).
    ``deleted``: the open companions of the vault's recycle bin (:func:`deleted_companions`).
    """
    scan = _Scan(vault_url, is_due, deleted)
    for item in listings:
        scan.add(item)
    if not scan.in_order and relist is not None:
        log.info("listing of %s was not in name order; listing it again", vault_url)
        scan = _Scan(vault_url, is_due, deleted, ordered=False)
        for item in relist():
            scan.add(item)
    return scan.result()


class _VaultResult:
    """What listing one vault gave: its due secrets and counts, or the error."""

    __slots__ = ("due", "error", "listed", "managed", "nearest", "vault_url")

    def __init__(
        self,
        vault_url: str,
        due: list[DueSecret] | None = None,
        listed: int = 0,
        managed: int = 0,
        error: str | None = None,
    ) -> None:
        self.vault_url = vault_url
        self.due = due or []
        self.listed = listed
        self.managed = managed
        self.error = error
        self.nearest: tuple[str, datetime] | None = None


def deleted_companions(deleted: Iterable[SecretListing]) -> dict[str, dict[str, str]]:
    """The soft-deleted staging companions whose stage is open, by owner (lower case): their
    stage tags, and the owner's spelling under ``_OWNER``.

    Such a candidate may be what the target holds now (a run stopped between apply and
    commit), unless the owner's current version committed it; :class:`_Scan` judges that
    from the owner's listing, and queues the owner, whose run reports ``CompanionDeleted``
    with an alert event until someone recovers the companion. A companion whose
    ``rotation-staged-for`` names another secret than its own name says (the tag is
    editable) is skipped: it cannot be that secret's companion.
    """
    found: dict[str, dict[str, str]] = {}
    for item in deleted:
        owner = item.tags.get(T.STAGED_FOR, "").strip()
        if (
            not names.SECRET_NAME.fullmatch(owner)
            or staging_name(owner).lower() != item.name.lower()
        ):
            continue
        if item.tags.get(T.STAGE) in OPEN_STAGES:
            found[owner.lower()] = {**_keep(item.tags, _STAGED_TAGS), _OWNER: owner}
    return found


def _sweep_vault(store: SecretStore, is_due: Callable[[datetime | None], bool]) -> _VaultResult:
    """List one vault's recycle bin, then the vault; every failure becomes a result, so no
    vault can stop the others."""
    try:
        deleted = deleted_companions(store.list_deleted())
        nearest = _Nearest()
        due, listed, managed = find_due(
            store.vault_url, nearest.watch(store.list()), is_due, store.list, deleted
        )
    except RotationError as error:
        log.error("sweep could not list %s: %s", store.vault_url, error)
        return _VaultResult(store.vault_url, error=str(error))
    except Exception as error:
        log.exception("sweep could not list %s (unexpected error)", store.vault_url)
        return _VaultResult(store.vault_url, error=f"unexpected {type(error).__name__}")
    result = _VaultResult(store.vault_url, due, listed, managed)
    result.nearest = nearest.found
    return result


def sweep(
    stores: Iterable[SecretStore],
    is_due: Callable[[datetime | None], bool],
    *,
    max_parallel: int = MAX_PARALLEL_VAULTS,
) -> SweepReport:
    """List every vault (up to ``max_parallel`` at once) and collect what is due.

    A vault that fails is reported in ``failed_vaults``, never fatal, and does not hold up the
    others. The report lists vaults in the order given, each vault's due secrets by name.
    """
    from concurrent.futures import ThreadPoolExecutor  # only the timer trigger needs it

    vaults = list(stores)
    report = SweepReport()
    if vaults:
        workers = max(1, min(max_parallel, len(vaults)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sweep") as pool:
            futures = [pool.submit(_sweep_vault, store, is_due) for store in vaults]
            results = [future.result() for future in futures]
        for result in results:
            if result.error is not None:
                report.failed_vaults[result.vault_url] = result.error
                continue
            report.listed += result.listed
            report.managed += result.managed
            report.due.extend(result.due)
            if result.nearest is not None:
                report.nearest_expiry[result.vault_url] = result.nearest
    log.info(
        "sweep listed %d secrets, %d managed, %d due, %d vaults failed",
        report.listed,
        report.managed,
        len(report.due),
        len(report.failed_vaults),
    )
    return report
