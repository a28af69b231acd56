"""The rotation protocol: lock, read, stage, apply, verify, commit, confirm, retire.

A crash between any two steps, followed by any later request for the same secret, converges:
the staged candidate is reused until it is committed, a candidate is applied only after it is
durable in the vault, and the value in Key Vault is replaced only by one that logged in.
See DESIGN.md ("The rotation protocol") for the reasoning; the state lives in tags:

- on the staging secret: ``rotation-stage`` pending / applied / discarded, the version it
  replaces (``rotation-staged-from-version``) and its ``rotation-id``; a candidate is
  committed when the current version carries its rotation id and names its staged-from
  version as the previous one (:func:`rotation.staging.committed`: derived, not written);
- on the committed version: ``rotation-state`` committed / awaiting-consumers / completed /
  overdue, ``rotation-previous-version``, ``rotation-rotated-at``, ``rotation-id``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rotation import defaults as D
from rotation import tags as T
from rotation.candidates import check_candidate
from rotation.config import (
    SecretConfig,
    is_managed,
    parse_config,
)
from rotation.consumer_checks.composite import CompositeConfirmer
from rotation.consumers import (
    ConsumerConfirmer,
    RotationFacts,
    decode_sightings,
    encode_sightings,
    update_sightings,
)
from rotation.credential import Credential
from rotation.errors import (
    CompanionDeleted,
    ConfigurationError,
    LockLost,
    RevokeRefused,
    RotationConflict,
    RotationError,
    SecretNotFound,
    TargetUnavailable,
    VerificationFailed,
    VerificationPending,
)
from rotation.guarded import GuardedRotator, Prepared
from rotation.limits import TargetLimits, target_host
from rotation.lock import HeldLock, RotationLocks
from rotation.outcome import RotationOutcome, RotationRequest, Status
from rotation.registry import RotatorRegistry
from rotation.revoke import refusal as revoke_refusal
from rotation.revoke import rounds as revoke_rounds
from rotation.rotator import Rotator, RotatorContext, Strategy
from rotation.staging import StagedCandidate, Staging
from rotation.states import UNFINISHED_STATES, RotationState, Stage
from rotation.telemetry import RotationRun, RotationTelemetry, step_span
from rotation.vault import SecretSnapshot, SecretStore, staging_name
from rotation.windows import decide as window_decision

log = logging.getLogger(__name__)

#: How many of the 15 Key Vault tags the engine may add to a committed version.
RESERVED_STATE_TAGS = len(T.STATE_TAGS)


@dataclass(frozen=True)
class EngineSettings:
    """Tunables of the protocol."""

    #: Logins tried before a candidate counts as refused (propagation delay on some targets).
    verify_attempts: int = D.VERIFY_ATTEMPTS
    #: First pause between verification attempts, doubled each time.
    verify_backoff_seconds: float = D.VERIFY_BACKOFF_SECONDS
    #: How long consumers get to move to a new version before the rotation is overdue.
    consumer_deadline: timedelta = timedelta(hours=D.CONSUMER_DEADLINE_HOURS)
    near_expiry: timedelta = timedelta(days=D.NEAR_EXPIRY_DAYS)
    #: Rotations in flight per target host (tag ``rotation-max-per-target`` overrides);
    #: 0: no limit. Enforced only when the engine has ``limits``.
    max_per_target: int = D.MAX_PER_TARGET


def utc_now() -> datetime:
    """The real current time (the engine's default clock)."""
    return datetime.now(UTC)


class RotationEngine:
    """Runs :class:`RotationRequest` s. Thread-safe: every request holds its secret's lock."""

    def __init__(
        self,
        stores: Callable[[str], SecretStore],
        registry: RotatorRegistry,
        locks: RotationLocks,
        *,
        consumers: ConsumerConfirmer | None = None,
        settings: EngineSettings | None = None,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        on_outcome: Callable[[str, RotationOutcome], None] | None = None,
        telemetry: RotationTelemetry | None = None,
        limits: TargetLimits | None = None,
    ) -> None:
        self._stores = stores
        self._registry = registry
        self._locks = locks
        self._consumers = consumers or CompositeConfirmer({})
        self._settings = settings or EngineSettings()
        self._now = clock
        self._sleep = sleep
        self._on_outcome = on_outcome
        self._telemetry = telemetry or RotationTelemetry()
        self._limits = limits

    # ------------------------------------------------------------------ entry points

    def run(self, request: RotationRequest) -> RotationOutcome:
        """Do whatever the secret needs now: resume, advance, rotate, or nothing.

        Raises :class:`~rotation.errors.LockBusy` if another instance works on the secret,
        and the other :mod:`rotation.errors` exceptions for failures.
        """
        with self._telemetry.run(request) as telemetry:
            store = self._stores(request.vault_url)
            if request.dry_run:
                return _Run(self, store, request, None, telemetry).execute()
            with self._locks.hold(store.vault_url, request.secret_name) as held:
                return _Run(self, store, request, held, telemetry).execute()

    def now(self) -> datetime:
        """The engine's current time (its clock)."""
        return self._now()

    @property
    def settings(self) -> EngineSettings:
        return self._settings

    def check_consumers(self, config: SecretConfig) -> None:
        """Raise ConfigurationError if ``config`` names consumers that cannot be checked."""
        self._consumers.validate(config)

    def is_due(self, expires_on: datetime | None) -> bool:
        """Whether a version with this expiry should be rotated now (no expiry: yes)."""
        return expires_on is None or expires_on - self._now() <= self._settings.near_expiry

    # ------------------------------------------------------------------ shared helpers

    def _report(self, event: str, outcome: RotationOutcome) -> None:
        log.info(
            "rotation %s: %s %s/%s",
            event,
            outcome.status.value,
            outcome.vault_url,
            outcome.secret_name,
            extra={"rotation": outcome.as_dict(), "rotation_event": event},
        )
        if self._on_outcome is not None:
            self._on_outcome(event, outcome)


@dataclass(frozen=True)
class _Job:
    """What a run decided to work on: the secret's configuration and rotator, the current
    version as read at the start, its companion, and the candidate it resumes (if any)."""

    config: SecretConfig
    rotator_class: type[Rotator]
    current: SecretSnapshot
    staging: Staging
    pending: StagedCandidate | None


class _Run:
    """One request against one secret, under its lock (a helper of :class:`RotationEngine`)."""

    def __init__(
        self,
        engine: RotationEngine,
        store: SecretStore,
        request: RotationRequest,
        held: HeldLock | None,
        telemetry: RotationRun,
    ) -> None:
        self.engine = engine
        self.store = store
        self.request = request
        self.held = held
        self.name = request.secret_name
        # In progress until finish(): reports made on the way ("started", "committed")
        # must not claim an end status such as not-due.
        self.outcome = RotationOutcome(
            status=Status.IN_PROGRESS,
            vault_url=store.vault_url,
            secret_name=self.name,
            trigger=request.trigger,
        )
        self.telemetry = telemetry
        telemetry.track(self.outcome)
        #: Versions of the secret this run read or wrote, by version id (see read_version).
        self.versions: dict[str, SecretSnapshot] = {}
        #: The rotator set-up of this run (see make_rotator): built once, reused by a second
        #: rotator for the same configuration (rotate, then retire).
        self.setup: tuple[SecretConfig, type[Rotator], RotatorContext, Prepared] | None = None

    def guard(self) -> None:
        """Stop before a change if the lock lapsed (``LockLost``, retried later)."""
        if self.held is not None:
            self.held.ensure()

    def read_version(self, version: str) -> SecretSnapshot:
        """One version of the secret (``SecretNotFound`` if gone). A version's value never
        changes, so a version this run already read or wrote (the one a rotation replaced,
        above all) is not read again; its tags are as they were then, so only the value and
        content type are for callers to use."""
        known = self.versions.get(version)
        if known is None:
            known = self.versions[version] = self.store.read(self.name, version)
        return known

    def step(self, text: str) -> None:
        self.outcome.steps.append(text)
        log.info("rotation step: %s/%s: %s", self.store.vault_url, self.name, text)

    def finish(self, status: Status, event: str | None = None, detail: str = "") -> RotationOutcome:
        self.outcome.status = status
        if detail:
            self.outcome.detail = detail
        if event is not None:
            self.engine._report(event, self.outcome)
        return self.outcome

    # ------------------------------------------------------------------ decision

    def execute(self) -> RotationOutcome:
        current = self.store.read(self.name)
        self.versions[current.version] = current
        # Key Vault names are case-insensitive: work with the vault's spelling, so that the
        # staging secret and its tags are the same whatever spelling a trigger used.
        self.name = self.outcome.secret_name = current.name or self.name
        self.outcome.from_version = current.version
        self.step(f"read current version {current.version}")
        if not is_managed(current.tags):
            return self.finish(Status.UNMANAGED, detail=f"no '{T.ROTATOR}' tag")
        expected = self.request.expected_version
        if expected and expected != current.version:
            return self.finish(
                Status.STALE, detail=f"version {expected} is no longer current; nothing to do"
            )
        rotator_class = self.engine._registry.get(current.tags[T.ROTATOR].strip(), secret=self.name)
        config = parse_config(self.name, current.tags, rotator_class)
        self.telemetry.configured(config.rotator_kind, config.strategy.value)
        _check_tag_room(config, current)
        self.engine._consumers.validate(config)
        json_format = _is_json(current)
        staging = Staging(
            self.store, self.name, json_format=json_format, content_type=current.content_type
        )
        try:
            return self.decide(config, rotator_class, current, staging)
        except CompanionDeleted as error:
            self.outcome.detail = str(error)
            self.engine._report("failed", self.outcome)
            raise

    def decide(
        self,
        config: SecretConfig,
        rotator_class: type[Rotator],
        current: SecretSnapshot,
        staging: Staging,
    ) -> RotationOutcome:
        """Resume, advance, rotate or nothing. The recycle bin is read (``check_deleted``)
        before every path that does not write the companion; the path that writes it learns
        of a soft-deleted companion from the write's 409 (see :class:`Staging`)."""
        staged = staging.read()
        pending = staged if staged is not None and staged.continues(current.version) else None
        if staged is not None and pending is None and not staged.is_finished(current.tags):
            self.step(f"found a stale staged candidate from version {staged.from_version}")
            if not self.request.dry_run:
                self.discard_stale(config, rotator_class, current, staging, staged)
        job = _Job(config, rotator_class, current, staging, pending)

        state = current.tags.get(T.STATE)
        if self.request.revoke:
            staging.check_deleted(current.version)
            return self.revoke(job)
        if pending is not None:
            return self.rotate(job)
        if state in UNFINISHED_STATES:
            staging.check_deleted(current.version)
            outcome = self.advance(config, rotator_class, current)
            if self.request.force and outcome.state != RotationState.COMPLETED:
                raise RotationConflict(
                    f"secret '{self.name}': the rotation to version {current.version} is "
                    f"{outcome.state}: its consumers still use the previous credential, which "
                    "a new rotation would reset. Move the consumers (see the status API), "
                    "then rotate again."
                )
            return outcome
        due = self.request.event_due or self.engine.is_due(current.expires_on)
        if self.request.force or due:
            note = ""
            if not self.request.force:
                # Windows defer only new rotations of sweeps and events (rotation/windows.py).
                decision = window_decision(config.windows, self.engine._now(), current.expires_on)
                if not decision.run_now:
                    staging.check_deleted(current.version)
                    return self.finish(Status.DEFERRED, detail=decision.reason)
                note = decision.reason
                if note:
                    self.step(note)
            if self.request.dry_run:
                staging.check_deleted(current.version)
            outcome = self.rotate(job)
            if note and not outcome.detail:
                outcome.detail = note
            return outcome
        staging.check_deleted(current.version)
        return self.finish(Status.NOT_DUE, detail=f"expires {current.expires_on:%Y-%m-%d}")

    # ------------------------------------------------------------------ rotate

    def rotate(self, job: _Job) -> RotationOutcome:
        config, rotator_class, current = job.config, job.rotator_class, job.current
        if self.request.dry_run:
            rotator, current_credential = self.rotator_for(
                config, rotator_class, current, job.pending
            )
            try:
                return self.dry_run(rotator, current_credential, job.pending)
            finally:
                rotator.close()
        with self.target_slot(config):
            committed = self.rotate_and_commit(job)
        if committed.tags.get(T.STATE) == RotationState.COMPLETED:
            # Single strategy, no consumers: the old password died at apply and nobody is
            # waited for, so the commit wrote the final state and nothing is left to do.
            with self.telemetry.step("confirm"):
                pass  # no consumers to ask
            with self.telemetry.step("retire"):
                self.step_single_replaced(config, current.version)
            self.engine._report("retired", self.outcome)
        else:
            self.advance(config, rotator_class, committed)
        self.outcome.status = Status.ROTATED
        return self.outcome

    def rotate_and_commit(self, job: _Job) -> SecretSnapshot:
        """Stage (or resume), apply, verify and commit; return the committed version.

        Nothing is written to the companion after the commit: the committed version's tags
        (rotation id, previous version) are what mark the candidate committed."""
        config, rotator_class, current = job.config, job.rotator_class, job.current
        staging, pending = job.staging, job.pending
        rotator, current_credential = self.rotator_for(config, rotator_class, current, pending)
        try:
            if pending is None:
                with self.telemetry.step("stage"):
                    candidate = rotator.generate(current_credential)
                    check_candidate(candidate, rotator_class, secret=self.name)
                    self.guard()
                    staged = staging.write(
                        candidate,
                        from_version=current.version,
                        rotation_id=uuid.uuid4().hex,
                        stage=Stage.PENDING,
                    )
                    self.outcome.rotation_id = staged.rotation_id
                    staging.confirm(staged)
                    self.step(f"staged a new candidate (staging version {staged.version})")
                self.engine._report("started", self.outcome)
            else:
                staged = pending
                self.outcome.rotation_id = staged.rotation_id
                self.step(
                    f"resumed staged candidate (stage {staged.stage}) of {staged.rotation_id}"
                )
                if staged.stage == Stage.PENDING:
                    self.check_resumed(rotator, rotator_class, staged)

            staged = self.apply(
                rotator, staging, staged, current_credential, resumed=pending is not None
            )
            self.verify(rotator, staging, staged, current_credential)
            committed = self.commit(config, current, staged, staging)
        finally:
            rotator.close()
        self.engine._report("committed", self.outcome)
        return committed

    def check_resumed(
        self, rotator: GuardedRotator, rotator_class: type[Rotator], staged: StagedCandidate
    ) -> None:
        """Check a resumed ``pending`` candidate as a new one is checked, unless it logs in.

        It may have been applied already (the stage is updated only when the target returns
        another credential), under rules that were looser then: a candidate the target
        evidently stores must be committed, not refused forever with the target on it."""
        try:
            check_candidate(staged.credential, rotator_class, secret=self.name)
        except ConfigurationError:
            if not _logs_in(rotator, staged.credential):
                raise
            self.step("the staged candidate breaks today's password rules but already logs in")

    @contextlib.contextmanager
    def target_slot(self, config: SecretConfig) -> Iterator[None]:
        """Hold one of the target host's rotation slots (``TargetBusy`` when all are taken)."""
        limits = self.engine._limits
        limit = config.max_per_target
        if limit is None:
            limit = self.engine._settings.max_per_target
        if limits is None or limit <= 0 or not config.target:
            yield
            return
        with limits.hold(target_host(config.target), limit):
            self.step(f"holding a rotation slot of the target (at most {limit} at once)")
            yield

    # ------------------------------------------------------------------ revoke

    def revoke(self, job: _Job) -> RotationOutcome:
        """Rotate and make every old credential stop working now (see rotation/revoke.py)."""
        config, rotator_class, current = job.config, job.rotator_class, job.current
        problem = revoke_refusal(config, rotator_class)
        if problem is not None:
            raise RevokeRefused(f"secret '{self.name}': cannot revoke: {problem}")
        rounds = revoke_rounds(config)
        if self.request.dry_run:
            self.step(
                f"would rotate {rounds} time(s) without waiting for consumers and make the "
                "old credential stop working"
            )
            return self.rotate(job)
        with self.target_slot(config):
            if job.pending is not None:
                self.step("commits the staged candidate of the unfinished rotation first")
                committed = self.rotate_and_commit(job)
                self.advance(config, rotator_class, committed, wait=False)
                current = self.store.read(self.name)
            elif current.tags.get(T.STATE) in UNFINISHED_STATES:
                self.step("retires the previous credential of the unfinished rotation now")
                self.advance(config, rotator_class, current, wait=False)
                current = self.store.read(self.name)
            for _ in range(rounds):
                fresh = dataclasses.replace(job, current=current, pending=None)
                committed = self.rotate_and_commit(fresh)
                self.advance(config, rotator_class, committed, wait=False)
                current = self.store.read(self.name)
        if config.strategy is Strategy.ALTERNATING:
            self.step("both logins now hold new passwords; the leaked one works nowhere")
        self.outcome.status = Status.REVOKED
        return self.finish(
            Status.REVOKED,
            "revoked",
            detail="rotated and revoked the old credential without waiting for consumers",
        )

    @step_span("apply")
    def apply(
        self,
        rotator: GuardedRotator,
        staging: Staging,
        staged: StagedCandidate,
        current: Credential,
        *,
        resumed: bool,
    ) -> StagedCandidate:
        candidate = staged.credential
        # A rotator whose apply does more after the password (a clone's grants, a broker
        # user's permissions) applies again when resumed: a stopped run may have left that
        # undone although the candidate logs in. The others skip it: under single the current
        # login may be dead, and a minting target would mint again.
        again = rotator.reapply_on_resume and rotator.context.strategy is Strategy.ALTERNATING
        if resumed and candidate.password and not again and _logs_in(rotator, candidate):
            self.step("staged candidate already works on the target; apply skipped")
            return staged
        self.guard()
        applied = rotator.apply(current, candidate)
        self.step("applied the candidate on the target")
        if applied != candidate:
            try:
                self.guard()
            except LockLost:
                self.abandon_minted(rotator, applied, current)
                raise
            staged = staging.write(
                applied,
                from_version=staged.from_version,
                rotation_id=staged.rotation_id,
                stage=Stage.APPLIED,
            )
            self.step(f"staged the credential the target issued (staging version {staged.version})")
        return staged

    def abandon_minted(
        self, rotator: GuardedRotator, minted: Credential, current: Credential
    ) -> None:
        """The lock lapsed while the target minted ``minted`` (a slow API call): another run
        may own the rotation now, so it cannot be staged. Under multiple, revoke it (the
        rotator's ``discard`` removes that one credential, best effort) so that no live
        credential is left that no vault version holds; if that fails, say what to remove by
        hand. Under alternating the minted value is the standby's, which the run that owns the
        rotation now issues again (revoking it here could hit that run's credential)."""
        if rotator.context.strategy is not Strategy.MULTIPLE:
            return
        try:
            rotator.discard(minted, current)
        except RotationError as error:
            log.error(
                "secret %s: the lock lapsed while the target issued a credential (%s), and "
                "revoking it failed: remove it on the target by hand (%s)",
                self.name,
                _identify(minted),
                error,
            )
            return
        self.step("lock lapsed while the target issued a credential: revoked it")

    @step_span("verify")
    def verify(
        self,
        rotator: GuardedRotator,
        staging: Staging,
        staged: StagedCandidate,
        current: Credential,
    ) -> None:
        settings = self.engine._settings
        delay = settings.verify_backoff_seconds
        # At least verify_attempts logins, and at least the rotator's patience of waiting.
        patience = rotator.verify_patience_seconds if delay > 0 else 0.0
        waited = 0.0
        last: Exception | None = None
        attempt = 0
        while True:
            attempt += 1
            try:
                rotator.verify(staged.credential)
                self.telemetry.verify_attempt("ok")
                self.step(f"verified the candidate by logging in (attempt {attempt})")
                return
            except (VerificationFailed, TargetUnavailable) as error:
                self.telemetry.verify_attempt(
                    "refused" if isinstance(error, VerificationFailed) else "unavailable"
                )
                last = error
            if attempt >= settings.verify_attempts and waited >= patience:
                break
            self.guard()
            self.engine._sleep(delay)
            waited += delay
            delay = min(delay * 2, D.VERIFY_MAX_BACKOFF_SECONDS)
        if isinstance(last, TargetUnavailable):
            raise last
        if rotator.context.strategy is Strategy.SINGLE:
            # The target may hold the candidate already (propagation lag): discarding it
            # could leave a password that no vault version knows. Keep it; retry later.
            self.engine._report("failed", self.outcome)
            raise VerificationPending(
                f"secret '{self.name}': the target does not accept the new credential yet "
                f"after {attempt} attempts; the staged candidate "
                f"({staging.name}) is kept and will be verified again"
            )
        if _logs_in(rotator, current):
            # The current login is untouched (alternating: the other login; multiple: a
            # second password), so the candidate can go, after removing it from the target.
            self.guard()
            rotator.discard(staged.credential, current)
            self.guard()
            staging.discard(staged)
            self.step("candidate refused; current credential still works; candidate discarded")
            self.engine._report("failed", self.outcome)
            raise VerificationFailed(
                f"secret '{self.name}': the target refused the new credential after "
                f"{attempt} attempts; the current one still works and stays"
            )
        self.engine._report("failed", self.outcome)
        raise RotationConflict(
            f"secret '{self.name}': neither the staged nor the current credential logs in; "
            f"the staged candidate ({staging.name}) is kept for the next attempt"
        )

    @step_span("commit")
    def commit(
        self,
        config: SecretConfig,
        current: SecretSnapshot,
        staged: StagedCandidate,
        staging: Staging,
    ) -> SecretSnapshot:
        """Write the candidate as the new current version; return that version as written.

        The tags are those of the current version as read just before the write, so a tag
        an operator added during the rotation is carried too.
        """
        self.guard()
        latest = self.store.read(self.name)
        if latest.version != current.version:
            # Someone committed meanwhile (a lapsed lock). The candidate is what the target
            # holds now, so tie it to the new current version: the next run commits it.
            self.guard()
            staging.write(
                staged.credential,
                from_version=latest.version,
                rotation_id=staged.rotation_id,
                stage=Stage.APPLIED,
            )
            raise LockLost(
                f"secret '{self.name}' changed to version {latest.version} during the "
                "rotation; the applied candidate is re-staged and will be committed next"
            )
        now = self.engine._now()
        final = config.strategy is Strategy.SINGLE and not config.consumers
        state = RotationState.COMPLETED if final else RotationState.COMMITTED
        tags = {k: v for k, v in latest.tags.items() if k not in T.STATE_TAGS}
        tags.update(
            {
                T.STATE: state,
                T.PREVIOUS_VERSION: current.version,
                T.ROTATED_AT: T.format_time(now),
                T.ROTATION_ID: staged.rotation_id,
            }
        )
        value = staged.credential.to_value(json_format=_is_json(current))
        expires_on = now + timedelta(days=config.validity_days)
        self.guard()
        new_version = self.store.write(
            self.name,
            value,
            tags=tags,
            content_type=current.content_type,
            expires_on=expires_on,
        )
        self.outcome.to_version = new_version
        self.outcome.state = state
        self.step(f"committed version {new_version} (expires in {config.validity_days} days)")
        return SecretSnapshot(self.name, new_version, value, tags, current.content_type, expires_on)

    def dry_run(
        self, rotator: GuardedRotator, current: Credential, pending: StagedCandidate | None
    ) -> RotationOutcome:
        works = _logs_in(rotator, current)
        self.step(f"current credential logs in on the target: {'yes' if works else 'no'}")
        if pending is not None:
            self.step(f"would resume the staged candidate of rotation {pending.rotation_id}")
        else:
            self.step("would stage a new candidate, apply it, verify it and commit it")
        return self.finish(Status.DRY_RUN, detail="nothing was changed")

    def discard_stale(
        self,
        config: SecretConfig,
        rotator_class: type[Rotator],
        current: SecretSnapshot,
        staging: Staging,
        staged: StagedCandidate,
    ) -> None:
        """Discard an open candidate staged from a version that is no longer current (a run
        stopped before its commit, then someone wrote a version by hand).

        The candidate may be live on the target. If it logs in and the current version does
        not, it holds the only working password: nothing is discarded and the run stops
        with :class:`RotationConflict` for an operator; so it does when neither logs in (the
        candidate may still be propagating). Under alternating and multiple, while
        the current version logs in, the rotator's ``discard`` (idempotent) makes the
        candidate stop working where it can. A candidate that still logs in after that (the
        standby login of alternating keeps its password until the next rotation resets it)
        is marked discarded but left readable, so no live credential's only copy is a
        disabled version. A target that cannot be reached stops the run before anything
        changes (retried).
        """
        rotator, current_credential = self.rotator_for(config, rotator_class, current, staged)
        try:
            works = _logs_in(rotator, staged.credential)
            current_works = _logs_in(rotator, current_credential)
            if not works and not current_works:
                # The candidate may still be propagating to a target that already dropped
                # the current password: it is kept, as a refused verification keeps it.
                raise RotationConflict(
                    f"secret '{self.name}': neither the stale candidate of rotation "
                    f"{staged.rotation_id} ({staging_name(self.name)}) nor the current version "
                    f"{current.version} logs in; the candidate is kept. Write the password the "
                    "target accepts as the secret's new version, then run again."
                )
            if works and not current_works:
                raise RotationConflict(
                    f"secret '{self.name}': the target accepts the candidate that rotation "
                    f"{staged.rotation_id} staged from version {staged.from_version} (version "
                    f"{staged.version} of {staging_name(self.name)}), not the current version "
                    f"{current.version}. Write that candidate as the secret's new version, or "
                    "set the target's password to the current version's, then run again."
                )
            if config.strategy is not Strategy.SINGLE and current_works:
                self.guard()
                rotator.discard(staged.credential, current_credential)
                works = works and _logs_in(rotator, staged.credential)
            self.guard()
            staging.discard(staged, readable=works)
        finally:
            rotator.close()
        if works:
            self.step(
                "the stale candidate still logs in (a standby login keeps its password until "
                "the next rotation resets it): marked discarded, its value left readable"
            )
        else:
            self.step("discarded the stale staged candidate")

    # ------------------------------------------------------------------ after commit

    def advance(
        self,
        config: SecretConfig,
        rotator_class: type[Rotator],
        current: SecretSnapshot,
        *,
        wait: bool = True,
    ) -> RotationOutcome:
        """Check consumers of the committed version; retire the old credential once they moved.

        ``wait=False`` (revoke): retire at once, whatever the consumers use."""
        self.outcome.to_version = current.version
        self.outcome.rotation_id = current.tags.get(T.ROTATION_ID)
        if self.request.dry_run:
            self.step("would check consumers and retire the previous credential")
            return self.finish(Status.DRY_RUN, detail="nothing was changed")
        if not wait:
            self.retire(config, rotator_class, current)
            tags = dict(current.tags)
            tags[T.STATE] = RotationState.COMPLETED
            self.guard()
            self.store.update(self.name, current.version, tags=tags)
            self.outcome.state = RotationState.COMPLETED
            self.step("consumers not waited for (revoke)")
            return self.outcome
        now = self.engine._now()
        rotated_at = T.parse_time(current.tags.get(T.ROTATED_AT))
        facts = RotationFacts(
            vault_url=self.store.vault_url,
            secret_name=self.name,
            new_version=current.version,
            previous_version=current.tags.get(T.PREVIOUS_VERSION) or None,
            rotated_at=rotated_at,
            first_check=current.tags.get(T.STATE) == RotationState.COMMITTED,
        )
        with self.telemetry.step("confirm"):
            report = self.engine._consumers.check(
                config, facts, _TargetAccess(self, config, current)
            )
        tags = dict(current.tags)
        if config.consumers:
            sightings = update_sightings(
                decode_sightings(current.tags.get(T.CONSUMERS_SEEN, ""), rotated_at),
                report,
                facts,
                now,
            )
            tags[T.CONSUMERS_SEEN] = encode_sightings(
                {n: s for n, s in sightings.items() if n in config.consumers}, rotated_at
            )
        if not report.moved:
            if (
                rotated_at is not None
                and now - rotated_at > self.engine._settings.consumer_deadline
            ):
                # Overdue stays under watch (the sweep re-checks it and retires once the
                # consumers move); the alert goes out only on the transition.
                newly_overdue = current.tags.get(T.STATE) != RotationState.OVERDUE
                self.settle(current, tags, RotationState.OVERDUE)
                self.step("consumers did not move by the deadline; old credential kept")
                return self.finish(
                    Status.ADVANCED,
                    "overdue" if newly_overdue else None,
                    detail=_describe_report(report.seen, report.errors),
                )
            self.settle(current, tags, RotationState.AWAITING_CONSUMERS)
            self.step("waiting for consumers to pick up the new version")
            return self.finish(
                Status.AWAITING_CONSUMERS, detail=_describe_report(report.seen, report.errors)
            )
        if config.consumers:
            self.step("every consumer uses the new version")
            self.engine._report("consumers-confirmed", self.outcome)
        self.retire(config, rotator_class, current)
        tags[T.STATE] = RotationState.COMPLETED
        self.guard()
        self.store.update(self.name, current.version, tags=tags)
        self.outcome.state = RotationState.COMPLETED
        return self.finish(Status.ADVANCED, "retired")

    def settle(self, current: SecretSnapshot, tags: dict[str, str], state: RotationState) -> None:
        """Put ``state`` into ``tags`` and write them to ``current`` if anything changed (a
        re-check that learnt nothing new costs no call)."""
        tags[T.STATE] = state
        if tags != dict(current.tags):
            self.guard()
            self.store.update(self.name, current.version, tags=tags)
        self.outcome.state = state

    @step_span("retire")
    def retire(
        self, config: SecretConfig, rotator_class: type[Rotator], current: SecretSnapshot
    ) -> None:
        previous = current.tags.get(T.PREVIOUS_VERSION)
        if not previous:
            return
        if config.strategy is Strategy.SINGLE:
            # One login: setting the new password replaced the old one; nothing to retire
            # (so the old version's value is not even read).
            self.step_single_replaced(config, previous)
            return
        try:
            old = self.read_version(previous)
        except SecretNotFound:
            self.step(f"previous version {previous} is gone; nothing to retire")
            return
        json_format = _is_json(current)
        old_credential = Credential.from_value(old.value, json_format=json_format, secret=self.name)
        new_credential = Credential.from_value(
            current.value, json_format=json_format, secret=self.name
        )
        rotator = self.make_rotator(config, rotator_class, old_credential, new_credential)
        try:
            self.guard()
            rotator.retire(old_credential, new_credential)
        finally:
            rotator.close()
        if config.strategy is Strategy.ALTERNATING:
            self.step(
                f"kept the login of version {previous} as the standby: it works until the "
                "next rotation resets its password"
            )
        else:
            self.step(f"retired the credential of version {previous}")

    def step_single_replaced(self, config: SecretConfig, previous: str) -> None:
        """Say what became of the previous version under the single strategy."""
        if config.target:
            self.step(
                f"the password of version {previous} stopped working when the new one was set"
            )
        else:
            # A targetless rotator (``random``): no login anywhere to stop.
            self.step(
                f"nothing to retire for version {previous}: the secret has no target; its "
                "old value lapses as consumers stop reading it"
            )

    # ------------------------------------------------------------------ rotator set-up

    def rotator_for(
        self,
        config: SecretConfig,
        rotator_class: type[Rotator],
        current: SecretSnapshot,
        pending: StagedCandidate | None,
    ) -> tuple[GuardedRotator, Credential]:
        """The current credential and the rotator that knows it (and a pending candidate)."""
        current_credential = Credential.from_value(
            current.value, json_format=_is_json(current), secret=self.name
        )
        known = [current_credential] + ([pending.credential] if pending is not None else [])
        return self.make_rotator(config, rotator_class, *known), current_credential

    def make_rotator(
        self, config: SecretConfig, rotator_class: type[Rotator], *known: Credential
    ) -> GuardedRotator:
        """The rotator for this run behind the engine's sanitizer, which redacts the admin
        password and the passwords of ``known`` (and of every credential passed to a call).

        The admin secret is read, and the settings parsed, once per run: a second rotator
        for the same ``config`` and class reuses the first one's context and settings.
        """
        secrets = [c.password for c in known]
        if self.setup is not None:
            done_config, done_class, context, prepared = self.setup
            if done_config is config and done_class is rotator_class:
                return GuardedRotator.create(rotator_class, context, secrets, prepared)
        context = RotatorContext(
            secret_name=self.name,
            target=config.target,
            strategy=config.strategy,
            policy=config.policy,
            admin=self.read_admin(config),
            options=config.options,
        )
        rotator = GuardedRotator.create(rotator_class, context, secrets)
        if rotator.prepared is not None:
            self.setup = (config, rotator_class, context, rotator.prepared)
        return rotator

    def read_admin(self, config: SecretConfig) -> Credential | None:
        """The admin credential named by ``rotation-admin-secret``, or None without one."""
        admin = None
        if config.admin_secret:
            try:
                snapshot = self.store.read(config.admin_secret)
            except SecretNotFound:
                raise ConfigurationError(
                    f"admin secret '{config.admin_secret}' does not exist in the vault",
                    secret=self.name,
                    tag=T.ADMIN_SECRET,
                ) from None
            _check_admin_opt_in(config, snapshot)
            admin = Credential.from_value(
                snapshot.value, json_format=True, secret=config.admin_secret
            )
        return admin


class _TargetAccess:
    """:class:`~rotation.consumers.TargetAccess` for one run: reads lazily, at most once."""

    def __init__(self, run: _Run, config: SecretConfig, current: SecretSnapshot) -> None:
        self._run = run
        self._config = config
        self._current = current
        self._usernames: tuple[str | None, str | None] | None = None
        self._admin: tuple[Credential | None] | None = None

    def usernames(self) -> tuple[str | None, str | None]:
        """The login names of the previous and of the committed version (values not kept)."""
        if self._usernames is None:
            json_format = _is_json(self._current)
            new = Credential.from_value(
                self._current.value, json_format=json_format, secret=self._run.name
            ).username
            previous: str | None = None
            previous_version = self._current.tags.get(T.PREVIOUS_VERSION)
            if previous_version:
                try:
                    old = self._run.read_version(previous_version)
                except SecretNotFound:
                    old = None
                if old is not None:
                    previous = Credential.from_value(
                        old.value, json_format=json_format, secret=self._run.name
                    ).username
            self._usernames = (previous, new)
        return self._usernames

    def admin(self) -> Credential | None:
        """The rotator's admin credential (``rotation-admin-secret``)."""
        if self._admin is None:
            self._admin = (self._run.read_admin(self._config),)
        return self._admin[0]


def _check_admin_opt_in(config: SecretConfig, admin: SecretSnapshot) -> None:
    """An admin secret serves only the secrets its ``rotation-admin-for`` tag names, or any
    secret (``*``) if it pins its own ``rotation-target``; with a pin, only that target.

    ``*`` without a pin is refused: anyone allowed to edit one managed secret's tags could
    otherwise send the admin password to a host of their choosing."""
    allowed = {n.strip().lower() for n in admin.tags.get(T.ADMIN_FOR, "").split(",") if n.strip()}
    pinned = admin.tags.get(T.TARGET, "").strip()
    if config.secret_name.lower() not in allowed and not ("*" in allowed and pinned):
        hint = (
            f"'*' serves any secret only when the admin secret pins its '{T.TARGET}'"
            if "*" in allowed
            else f"add '{config.secret_name}' there, or pin '{T.TARGET}' and use '*'"
        )
        raise ConfigurationError(
            f"admin secret '{admin.name}' does not serve this secret through its "
            f"'{T.ADMIN_FOR}' tag ({hint})",
            secret=config.secret_name,
            tag=T.ADMIN_SECRET,
        )
    if pinned and pinned != (config.target or ""):
        raise ConfigurationError(
            f"admin secret '{admin.name}' may only be used for target '{pinned}'",
            secret=config.secret_name,
            tag=T.TARGET,
        )


def _logs_in(rotator: GuardedRotator, credential: Credential) -> bool:
    try:
        rotator.verify(credential)
    except VerificationFailed:
        return False
    return True


def _identify(credential: Credential) -> str:
    """What names a credential on its target without its value: user name and key id."""
    key_id = credential.extra.get("key_id")
    return f"username {credential.username!r}, key id {key_id!r}"


def _is_json(snapshot: SecretSnapshot) -> bool:
    if snapshot.content_type:
        return snapshot.content_type.split(";")[0].strip().lower() == "application/json"
    return snapshot.value.lstrip().startswith("{")


def _check_tag_room(config: SecretConfig, current: SecretSnapshot) -> None:
    own = [k for k in current.tags if k not in T.STATE_TAGS]
    if len(own) + RESERVED_STATE_TAGS > T.MAX_TAGS:
        raise ConfigurationError(
            f"has {len(own)} tags; rotation needs {RESERVED_STATE_TAGS} of Key Vault's "
            f"{T.MAX_TAGS} for its state: remove {len(own) + RESERVED_STATE_TAGS - T.MAX_TAGS}",
            secret=config.secret_name,
        )


def _describe_report(seen: Mapping[str, str | None], errors: Mapping[str, str]) -> str:
    parts = [
        f"{name} uses {version or 'an unknown version'}" for name, version in sorted(seen.items())
    ]
    parts += [f"{name} check failed: {reason}" for name, reason in sorted(errors.items())]
    return "; ".join(parts)
