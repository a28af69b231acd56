"""The timer sweep: find every managed secret that needs work, without reading any value.

Listing returns each secret's current tags and expiry, so deciding what is due costs one
paged list call per page of a vault, plus one listing of its recycle bin (a soft-deleted
staging companion may hold the target's password); values are fetched later, by the engine,
for due secrets only.

Vaults are listed concurrently, at most :data:`MAX_PARALLEL_VAULTS` at a time: a slow or
failing vault holds one worker and is reported, while the others go on. Memory stays flat in
the number of secrets: listings are streamed page by page and the scan keeps only what is due
(plus the open staged candidates it has seen and a short path of names, see :class:`_Scan`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from rotation import tags as T
from rotation.config import is_managed
from rotation.errors import RotationError
from rotation.outcome import RotationRequest, Trigger
from rotation.states import OPEN_STAGES, UNFINISHED_STATES
from rotation.vault import MAX_NAME_LENGTH, STAGING_SUFFIX, SecretListing, SecretStore

log = logging.getLogger(__name__)

#: How many vaults one sweep lists at the same time.
MAX_PARALLEL_VAULTS = 4

UNFINISHED_ROTATION = "unfinished rotation"
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


class _Seen:
    """A managed, not-due secret the scan may still need (a plain class: cheap to import)."""

    __slots__ = ("key", "name", "version")

    def __init__(self, key: str, name: str, version: str | None) -> None:
        self.key = key
        self.name = name
        self.version = version


class _Scan:
    """One vault's listing, consumed item by item, keeping only what it must.

    A secret is due when a rotation of it is unfinished (an open staged candidate, or a
    committed version still waiting for consumers) or its current version is near expiry (or
    has none). Disabled secrets are skipped.

    The staged companion of ``name`` is ``name-rotation-staged``, which Key Vault lists after
    ``name`` with only names that start with ``name`` in between. So to match a companion to
    its secret, the scan keeps the managed, not-due secrets whose name is a prefix of the
    current name (a path at most 127 deep), plus the rare secret whose name is too long for
    that (its companion's name is shortened with a hash). A companion listed before its
    secret is remembered as an open candidate. A listing out of name order (a test double,
    say) switches the scan to remembering every managed secret from then on; a companion
    whose secret was forgotten before that is found by :meth:`resolve` in a second pass.
    """

    def __init__(self, vault_url: str, is_due: Callable[[datetime | None], bool]) -> None:
        self.vault_url = vault_url
        self.is_due = is_due
        self.listed = 0
        self.managed = 0
        self.due: dict[str, DueSecret] = {}
        self.open_candidates: set[str] = set()
        self.path: list[_Seen] = []
        self.remembered: dict[str, _Seen] = {}
        self.previous_key = ""
        self.in_order = True

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
                self._candidate_for(staged_for.lower())
            return
        if not (item.enabled and is_managed(item.tags)):
            return
        self.managed += 1
        if key in self.open_candidates:
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
        seen = _Seen(key, item.name, item.version)
        self.path.append(seen)
        if not self.in_order or len(item.name) + len(STAGING_SUFFIX) > MAX_NAME_LENGTH:
            self.remembered[key] = seen

    def _candidate_for(self, base: str) -> None:
        self.open_candidates.add(base)
        if base in self.due:
            self.due[base] = dataclasses.replace(self.due[base], reason=UNFINISHED_ROTATION)
            return
        seen = next((s for s in self.path if s.key == base), None) or self.remembered.pop(
            base, None
        )
        if seen is not None:
            self.due[base] = DueSecret(self.vault_url, seen.name, seen.version, UNFINISHED_ROTATION)

    def lost(self) -> set[str]:
        """Open candidates whose secret may have been listed and forgotten (only possible
        when the listing was out of name order)."""
        return set() if self.in_order else self.open_candidates - set(self.due)

    def resolve(self, listings: Iterable[SecretListing], lost: set[str]) -> None:
        """A second pass for :meth:`lost` candidates: finds their secrets, keeping nothing else."""
        for item in listings:
            key = item.name.lower()
            if key in lost and not item.tags.get(T.STAGED_FOR):
                if item.enabled and is_managed(item.tags):
                    self.due[key] = DueSecret(
                        self.vault_url, item.name, item.version, UNFINISHED_ROTATION
                    )

    def result(self) -> tuple[list[DueSecret], int, int]:
        due = sorted(self.due.values(), key=lambda d: d.secret_name)
        return due, self.listed, self.managed


def find_due(
    vault_url: str,
    listings: Iterable[SecretListing],
    is_due: Callable[[datetime | None], bool],
    relist: Callable[[], Iterable[SecretListing]] | None = None,
) -> tuple[list[DueSecret], int, int]:
    """Due secrets among one vault's listings, with the listed and managed counts.

    ``listings`` is consumed once, as a stream; see :class:`_Scan` for the rules. Key Vault
    lists in name order; should a listing come out of order, ``relist`` (a fresh listing of the
    same vault) is read once more to find the secrets of staged candidates seen too late.
    """
    scan = _Scan(vault_url, is_due)
    for item in listings:
        scan.add(item)
    lost = scan.lost()
    if lost and relist is not None:
        log.info("listing of %s was not in name order; listing it again", vault_url)
        scan.resolve(relist(), lost)
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


def deleted_companions(vault_url: str, deleted: Iterable[SecretListing]) -> list[DueSecret]:
    """The secrets whose staging companion is in the recycle bin with an open candidate.

    Such a candidate may be what the target holds now (a run stopped between apply and
    commit), so the secret is due: its run reports ``CompanionDeleted`` with an alert
    event, until someone recovers the companion. The request names the version the
    candidate replaces, so a secret that moved on since is left alone.
    """
    found: list[DueSecret] = []
    for item in deleted:
        owner = item.tags.get(T.STAGED_FOR, "").strip()
        if owner and item.tags.get(T.STAGE) in OPEN_STAGES:
            from_version = item.tags.get(T.STAGED_FROM_VERSION) or None
            found.append(DueSecret(vault_url, owner, from_version, DELETED_COMPANION))
    return found


def _sweep_vault(store: SecretStore, is_due: Callable[[datetime | None], bool]) -> _VaultResult:
    """List one vault and its recycle bin; every failure becomes a result, so no vault can
    stop the others."""
    try:
        nearest = _Nearest()
        due, listed, managed = find_due(
            store.vault_url, nearest.watch(store.list()), is_due, store.list
        )
        known = {d.secret_name.lower() for d in due}
        for item in deleted_companions(store.vault_url, store.list_deleted()):
            if item.secret_name.lower() not in known:
                log.error(
                    "sweep: the staging companion of %s/%s is soft-deleted with an open "
                    "candidate; recover it (see README)",
                    store.vault_url,
                    item.secret_name,
                )
                due.append(item)
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
