"""What each trigger does, without Azure Functions types: the triggers in function_app.py
hand plain values to a :class:`RotationService` and turn its answers into their own types.

Error policy, per trigger:

- Event Grid: events that can never succeed (malformed, foreign vault, unmanaged secret, bad
  configuration, a refused candidate) are logged and acknowledged, so Event Grid does not
  redeliver them for 24 hours; retryable failures are raised so Event Grid retries. A lock held
  by another instance means a rotation is already running: acknowledged.
- Queue worker: the same, except that a busy lock is raised (the message comes back later).
- Sweep: one failing secret or vault never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from rotation.engine import RotationEngine
from rotation.errors import ConfigurationError, LockBusy, RotationError
from rotation.events import MalformedEvent, parse_event
from rotation.outcome import RotationOutcome, RotationRequest, Trigger
from rotation.registry import RotatorRegistry
from rotation.settings import AppSettings, SweepMode
from rotation.status import secret_status
from rotation.sweep import DueSecret, SweepReport, sweep
from rotation.vault import SecretStore
from rotation.workqueue import decode_message

log = logging.getLogger(__name__)


class Dispatcher(Protocol):
    """Sends one due secret to the work queue."""

    def send(self, item: DueSecret) -> None: ...


class VaultNotAllowed(ConfigurationError):
    """The vault is not listed in ROTATION_VAULTS: the app never touches it."""


@dataclass
class RotationService:
    """The app's behaviour per trigger; built by :func:`composition.build_service`."""

    settings: AppSettings
    engine: RotationEngine
    stores: Callable[[str], SecretStore]
    registry: RotatorRegistry
    dispatcher: Dispatcher | None = None

    # ------------------------------------------------------------------ Event Grid

    def on_event(self, event: Mapping[str, Any]) -> RotationOutcome | None:
        """Handle one Key Vault event. Returns None when the event was dropped."""
        try:
            parsed = parse_event(event)
        except MalformedEvent as error:
            log.warning("dropped a malformed event: %s", error)
            return None
        if not parsed.asks_for_rotation:
            log.info(
                "ignored %s for %s '%s'", parsed.event_type, parsed.object_type, parsed.secret_name
            )
            return None
        vault_url = self.settings.allowed_vault(parsed.vault_url)
        if vault_url is None:
            log.warning(
                "dropped %s for '%s': vault %s is not in ROTATION_VAULTS",
                parsed.event_type,
                parsed.secret_name,
                parsed.vault_url,
            )
            return None
        request = RotationRequest(
            vault_url=vault_url,
            secret_name=parsed.secret_name,
            trigger=Trigger.EVENT,
            expected_version=parsed.version,
            event_due=True,
        )
        return self._run_acknowledging(request, busy_is_done=True)

    # ------------------------------------------------------------------ queue worker

    def on_work_message(self, body: str) -> RotationOutcome | None:
        """Handle one work-queue message. Raises when the message should be retried."""
        try:
            request = decode_message(body)
        except ConfigurationError as error:
            log.error("dropped a malformed work message: %s", error)
            return None
        vault_url = self.settings.allowed_vault(request.vault_url)
        if vault_url is None:
            log.error("dropped work for vault %s: not in ROTATION_VAULTS", request.vault_url)
            return None
        return self._run_acknowledging(
            RotationRequest(
                vault_url=vault_url,
                secret_name=request.secret_name,
                trigger=Trigger.QUEUE,
                expected_version=request.expected_version,
            ),
            busy_is_done=False,
        )

    # ------------------------------------------------------------------ timer sweep

    def on_timer(self) -> SweepReport:
        """Sweep every configured vault and rotate (inline) or enqueue (queue) what is due."""
        report = sweep((self.stores(url) for url in self.settings.vault_urls), self.engine.is_due)
        for item in report.due:
            log.info("sweep: %s/%s is due (%s)", item.vault_url, item.secret_name, item.reason)
            try:
                if self.settings.sweep_mode is SweepMode.QUEUE and self.dispatcher is not None:
                    self.dispatcher.send(item)
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
        self, vault: str, name: str, *, dry_run: bool = False, version: str | None = None
    ) -> RotationOutcome:
        """Rotate (or dry-run) one secret now. Raises every RotationError to the caller."""
        return self.engine.run(
            RotationRequest(
                vault_url=self._vault(vault),
                secret_name=name,
                trigger=Trigger.MANUAL,
                expected_version=version,
                force=True,
                dry_run=dry_run,
            )
        )

    def status(self, vault: str, name: str) -> dict[str, Any]:
        """The rotation status of one secret (never its value)."""
        return secret_status(self.stores(self._vault(vault)), name, self.registry)

    # ------------------------------------------------------------------ helpers

    def _vault(self, vault: str) -> str:
        url = self.settings.allowed_vault(vault)
        if url is None:
            raise VaultNotAllowed(f"vault '{vault}' is not in ROTATION_VAULTS")
        return url

    def _run_acknowledging(
        self, request: RotationRequest, *, busy_is_done: bool
    ) -> RotationOutcome | None:
        """Run ``request``; log and swallow what retrying cannot fix; raise the rest."""
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
