"""What each trigger does, without Azure Functions types: the triggers in function_app.py
hand plain values to a :class:`RotationService` and turn its answers into their own types.

Error policy, per trigger:

- Event Grid: events that can never succeed (malformed, a bad vault URL, secret name or
  version, a foreign vault, an unmanaged secret, bad configuration, a hostile value, a refused
  candidate) are logged at error level and acknowledged, so Event Grid does not redeliver them
  for 24 hours; retryable failures are raised so Event Grid retries. A lock held by another
  instance means a rotation is already running: acknowledged.
- Queue worker: the same, except that a busy lock is raised (the message comes back later);
  a malformed message is dropped with an error log, never parked in the poison queue. A
  target at its blast-radius limit (:class:`~rotation.errors.TargetBusy`) is *deferred*: the
  work is re-enqueued with a visibility delay (``ROTATION_LIMIT_DEFER_SECONDS``) and the
  message completes. The Functions queue trigger cannot change the visibility of the message
  it is running, and raising would burn one of its 5 dequeues each time (then the poison
  queue); a re-enqueued copy carries the same version, so a duplicate is a no-op.
- Sweep (queue mode): the due secrets are enqueued with visibility delays spread evenly
  over ``ROTATION_SWEEP_SPREAD_SECONDS``, so a vault's Key Vault budget and the targets see
  a trickle instead of a burst.
- Both: an unexpected exception is logged with an incident id (type and frames, never its
  message); an input-shaped one (:data:`INPUT_SHAPED`) is acknowledged, any other raised.
- Sweep: one failing secret or vault never stops the others.
- HTTP (:mod:`rotation.http_api`): names and versions are checked before anything else.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from rotation import fleet, names
from rotation import tags as T
from rotation.engine import RotationEngine
from rotation.errors import (
    ConfigurationError,
    LockBusy,
    MalformedEvent,
    RotationError,
    TargetBusy,
    VaultNotAllowed,
)
from rotation.events import is_other_keyvault_event, parse_event
from rotation.names import shown
from rotation.outcome import RotationOutcome, RotationRequest, Trigger
from rotation.registry import RotatorRegistry
from rotation.settings import AppSettings, SweepMode
from rotation.status import secret_status
from rotation.sweep import DueSecret, SweepReport, sweep
from rotation.telemetry import RotationTelemetry
from rotation.vault import SecretStore
from rotation.windows import decide as decide_window
from rotation.windows import parse_windows
from rotation.workqueue import decode_message

log = logging.getLogger(__name__)


class Dispatcher(Protocol):
    """Sends one due secret to the work queue, visible after ``delay_seconds``."""

    def send(self, item: DueSecret, *, delay_seconds: int = 0) -> None: ...


@dataclass
class RotationService:
    """The app's behaviour per trigger; built by :func:`composition.build_service`."""

    settings: AppSettings
    engine: RotationEngine
    stores: Callable[[str], SecretStore]
    registry: RotatorRegistry
    dispatcher: Dispatcher | None = None
    telemetry: RotationTelemetry = field(default_factory=RotationTelemetry)

    # ------------------------------------------------------------------ Event Grid

    def on_event(self, event: object) -> RotationOutcome | None:
        """Handle one Key Vault event. Returns None when the event was dropped or acknowledged.

        Raises only what Event Grid should redeliver: a retryable
        :class:`~rotation.errors.RotationError` (a dependency is unavailable), or an unexpected
        exception that is not input-shaped (logged with an incident id first). Everything
        that can never succeed is logged at error level and acknowledged.
        """
        try:
            parsed = parse_event(event)
        except MalformedEvent as error:
            if is_other_keyvault_event(event):
                log.info("ignored a Key Vault event this app does not act on: %s", error)
            else:
                log.error("dropped a malformed event: %s", error)
            return None
        except Exception as error:  # noqa: BLE001 - parse_event raises only MalformedEvent
            log_incident("dropped an event that could not be parsed", error)
            return None
        if not parsed.asks_for_rotation:
            log.info(
                "ignored %s for %s '%s'",
                shown(parsed.event_type),
                shown(parsed.object_type),
                parsed.secret_name,
            )
            return None
        vault_url = self._allowed_or_dropped(
            parsed.vault_url, f"{parsed.event_type} for '{parsed.secret_name}'"
        )
        if vault_url is None:
            return None
        request = RotationRequest(
            vault_url=vault_url,
            secret_name=parsed.secret_name,
            trigger=Trigger.EVENT,
            expected_version=parsed.version,
            event_due=True,
        )
        return self._run_acknowledging(request, busy_is_done=True)

    def _allowed_or_dropped(self, vault_url: str, what: str) -> str | None:
        """The configured spelling of ``vault_url``; None, logged as dropping ``what``, when
        the vault is not in ROTATION_VAULTS."""
        allowed = self.settings.allowed_vault(vault_url)
        if allowed is None:
            log.error("dropped %s: vault %s is not in ROTATION_VAULTS", what, vault_url)
        return allowed

    # ------------------------------------------------------------------ queue worker

    def on_work_message(self, body: str | bytes) -> RotationOutcome | None:
        """Handle one work-queue message (its decoded body, text or bytes).

        Returns None when the message was done or dropped; raises when it should come back
        (a busy lock, a retryable error, an unexpected exception that is not input-shaped).
        A malformed message, an ``http://`` / ``ftp://`` / foreign vault or a bad name is
        dropped with an error log, never sent to the poison queue.
        """
        try:
            request = decode_message(body)
        except ConfigurationError as error:
            log.error("dropped a malformed work message: %s", error)
            return None
        except Exception as error:  # noqa: BLE001 - decode_message raises only that
            log_incident("dropped a work message that could not be parsed", error)
            return None
        vault_url = self._allowed_or_dropped(request.vault_url, f"work for '{request.secret_name}'")
        if vault_url is None:
            return None
        try:
            return self._run_acknowledging(
                RotationRequest(
                    vault_url=vault_url,
                    secret_name=request.secret_name,
                    trigger=Trigger.QUEUE,
                    expected_version=request.expected_version,
                ),
                busy_is_done=False,
            )
        except TargetBusy as error:
            if self.dispatcher is None:
                raise
            delay = self.settings.limit_defer_seconds
            self.dispatcher.send(
                DueSecret(vault_url, request.secret_name, request.expected_version, "deferred"),
                delay_seconds=delay,
            )
            log.info("deferred '%s' by %d s: %s", request.secret_name, delay, error)
            return None

    # ------------------------------------------------------------------ timer sweep

    def on_timer(self) -> SweepReport:
        """Sweep every configured vault and rotate (inline) or enqueue (queue) what is due."""
        with self.telemetry.sweep() as trace:
            report = sweep(
                (self.stores(url) for url in self.settings.vault_urls), self.engine.is_due
            )
            trace.report(report, datetime.now(UTC))
        spread = self.settings.sweep_spread_seconds
        waiting = [item for item in report.due if self._window_defers(item)]
        report.due = [item for item in report.due if item not in waiting]
        for index, item in enumerate(report.due):
            log.info("sweep: %s/%s is due (%s)", item.vault_url, item.secret_name, item.reason)
            try:
                if self.settings.sweep_mode is SweepMode.QUEUE and self.dispatcher is not None:
                    delay = spread * index // len(report.due) if spread else 0
                    self.dispatcher.send(item, delay_seconds=delay)
                else:
                    self._run_acknowledging(item.request(Trigger.SWEEP), busy_is_done=True)
            except RotationError as error:
                log.error("sweep: %s/%s failed: %s", item.vault_url, item.secret_name, error)
            except Exception:
                # A bug or an unexpected answer for one secret must not stop the others.
                log.exception("sweep: %s/%s failed unexpectedly", item.vault_url, item.secret_name)
        return report

    # ------------------------------------------------------------------ HTTP

    def rotate_now(
        self,
        vault: str,
        name: str,
        *,
        dry_run: bool = False,
        version: str | None = None,
        revoke: bool = False,
    ) -> RotationOutcome:
        """Rotate (or dry-run) one secret now. Raises every RotationError to the caller.

        ``vault`` must be a configured vault (:class:`VaultNotAllowed` otherwise), ``name`` a
        valid secret name and ``version`` a valid version id (:class:`~rotation.names.
        InvalidName` otherwise), checked before any lock or vault call.
        """
        vault_url = self._vault(vault)
        request = RotationRequest(
            vault_url=vault_url,
            secret_name=names.secret_name(name),
            trigger=Trigger.MANUAL,
            expected_version=None if version is None else names.version(version),
            force=True,
            dry_run=dry_run,
            revoke=revoke,
        )
        return self.engine.run(request)

    def status(self, vault: str, name: str) -> dict[str, Any]:
        """The rotation status of one secret (never its value); the same checks of ``vault``
        and ``name`` as :meth:`rotate_now`."""
        vault_url = self._vault(vault)
        return secret_status(self.stores(vault_url), names.secret_name(name), self.registry)

    def vault_status(
        self,
        vault: str,
        *,
        size: int = fleet.MAX_PAGE_SIZE,
        continuation: str | None = None,
        check: bool = False,
    ) -> dict[str, Any]:
        """One page of the status of every managed secret of ``vault`` (see
        :mod:`rotation.fleet`); ``check``: the doctor's configuration checks too."""
        store = self.stores(self._vault(vault))
        return fleet.vault_status(
            store, self.fleet_context(), size=size, continuation=continuation, check=check
        )

    def fleet_context(self) -> fleet.FleetContext:
        """The registry, the engine's clock and due rule, for :mod:`rotation.fleet`."""
        return fleet.FleetContext(
            registry=self.registry,
            now=self.engine.now(),
            near_expiry=self.engine.settings.near_expiry,
            check_consumers=self.engine.check_consumers,
        )

    def store_for(self, vault: str) -> SecretStore:
        """The store of a configured vault (:class:`VaultNotAllowed` otherwise)."""
        return self.stores(self._vault(vault))

    # ------------------------------------------------------------------ helpers

    def _vault(self, vault: str) -> str:
        url = self.settings.allowed_vault(vault)
        if url is None:
            raise VaultNotAllowed(f"vault '{shown(vault)}' is not in ROTATION_VAULTS")
        return url

    def _window_defers(self, item: DueSecret) -> bool:
        """Whether ``item`` is a new rotation its ``rotation-window`` keeps for later (decided
        from the listing, so no value is read for it; an unfinished rotation never waits). A
        malformed window is left to the engine, which reports it."""
        if item.reason not in ("near expiry", "no expiry"):
            return False
        try:
            windows = parse_windows(item.secret_name, item.tags.get(T.WINDOW))
        except ConfigurationError:
            return False
        decision = decide_window(windows, self.engine.now(), item.expires_on)
        if not decision.run_now:
            log.info("sweep: %s/%s %s", item.vault_url, item.secret_name, decision.reason)
        return not decision.run_now

    def _run_acknowledging(
        self, request: RotationRequest, *, busy_is_done: bool
    ) -> RotationOutcome | None:
        """Run ``request``; log and swallow what retrying cannot fix; raise the rest.

        Swallowed (logged at error level): non-retryable RotationErrors, and unexpected
        exceptions of an input-shaped type (:data:`INPUT_SHAPED`: a hostile tag or value that
        tripped a parser), which would fail the same way on every redelivery; the sweep
        still sees the secret. Raised: retryable RotationErrors (and a busy lock unless
        ``busy_is_done``), and any other unexpected exception, logged with an incident id, so
        that the host retries it (Event Grid for 24 h, the queue up to its poison count).
        """
        try:
            return self.engine.run(request)
        except LockBusy:
            if busy_is_done:
                log.info("'%s' is being rotated by another instance", request.secret_name)
                return None
            raise
        except RotationError as error:
            if error.retryable:
                log.warning("'%s' will be retried: %s", request.secret_name, error)
                raise
            log.error(
                "rotation of '%s' failed (%s, not retried): %s",
                request.secret_name,
                type(error).__name__,
                error,
            )
            return None
        except INPUT_SHAPED as error:
            log_incident(f"rotation of '{request.secret_name}' failed, not retried", error)
            return None
        except Exception as error:
            log_incident(f"rotation of '{request.secret_name}' failed, will be retried", error)
            raise


#: Unexpected exception types that come from malformed input (a parser or codec tripping on
#: a hostile value), not from an unavailable dependency: retrying cannot help.
INPUT_SHAPED: tuple[type[Exception], ...] = (
    ValueError,  # UnicodeError, json.JSONDecodeError, "Invalid IPv6 URL", ...
    TypeError,
    LookupError,
    RecursionError,
    OverflowError,
)


def log_incident(what: str, error: BaseException) -> str:
    """Log an unexpected ``error`` at error level with a new incident id; return the id.

    Only the exception's type and the frames it passed through are logged, not its message,
    which may quote the value that tripped it (a codec error quotes the characters).
    """
    incident = uuid.uuid4().hex
    frames = "".join(traceback.format_tb(error.__traceback__)).rstrip()
    log.error("%s: unexpected %s (incident %s)\n%s", what, type(error).__name__, incident, frames)
    return incident
