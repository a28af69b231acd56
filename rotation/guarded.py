"""The engine's wrapper around every rotator call, after Vault's error-sanitizer middleware.

:class:`GuardedRotator` is the only way the engine calls a rotator. For every call it

- redacts every secret value it knows (current, candidate and admin passwords, as they are,
  URL-encoded and JSON-escaped) from the message of any exception that escapes, and drops
  the exception chain (a driver error there could quote a value);
- maps anything outside :mod:`rotation.errors` to a typed error: socket-level failures to
  :class:`~rotation.errors.TargetUnavailable` (retried), anything else to
  :class:`~rotation.errors.RotatorFailed` (not retried).

Rotators therefore hold target logic only; time bounds come from their drivers' timeouts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from rotation.credential import Credential
from rotation.errors import RotationError, RotatorFailed, TargetUnavailable
from rotation.rotator import Rotator, RotatorContext
from rotation.sanitize import redact, sanitize_error

R = TypeVar("R")


@dataclass(frozen=True)
class Prepared:
    """What :meth:`Rotator.prepare` returned for one context (its parsed settings)."""

    value: object


class GuardedRotator:
    """A rotator seen through the engine's sanitizer. Same methods, same contracts."""

    def __init__(
        self,
        rotator: Rotator,
        secrets: Iterable[str | None] = (),
        prepared: Prepared | None = None,
    ) -> None:
        self._rotator = rotator
        self.kind = rotator.kind
        self.verify_patience_seconds = rotator.verify_patience_seconds
        self.reapply_on_resume = rotator.reapply_on_resume
        self._secrets = _known_secrets(rotator.context, secrets)
        #: What :meth:`Rotator.prepare` returned for this context (None if not known).
        self.prepared = prepared

    @classmethod
    def create(
        cls,
        rotator_class: type[Rotator],
        context: RotatorContext,
        secrets: Iterable[str | None],
        prepared: Prepared | None = None,
    ) -> GuardedRotator:
        """Check ``context`` and build the rotator, under the same sanitizer as every later
        call. ``prepared``, the :attr:`prepared` of an earlier rotator for this very context,
        skips the check and the parse (:meth:`Rotator.prepare`), so a run parses once."""
        secrets = list(secrets)
        known = _known_secrets(context, secrets)

        def set_up() -> tuple[Rotator, Prepared]:
            done = prepared or Prepared(rotator_class.prepare(context))
            return rotator_class.build(context, done.value), done

        rotator, done = _guard_call(rotator_class.kind, "set-up", set_up, known)
        return cls(rotator, secrets, done)

    @property
    def context(self) -> RotatorContext:
        """The wrapped rotator's context."""
        return self._rotator.context

    def generate(self, current: Credential) -> Credential:
        return self._call("generate", self._rotator.generate, current)

    def apply(self, current: Credential, candidate: Credential) -> Credential:
        return self._call("apply", self._rotator.apply, current, candidate)

    def verify(self, credential: Credential) -> None:
        self._call("verify", self._rotator.verify, credential)

    def retire(self, old: Credential, new: Credential) -> None:
        self._call("retire", self._rotator.retire, old, new)

    def discard(self, candidate: Credential, current: Credential) -> None:
        self._call("discard", self._rotator.discard, candidate, current)

    def close(self) -> None:
        self._call("close", self._rotator.close)

    def _call(self, step: str, method: Callable[..., R], *credentials: Credential) -> R:
        secrets = self._secrets + [c.password for c in credentials if c.password]
        return _guard_call(self.kind, step, lambda: method(*credentials), secrets)


def _known_secrets(context: RotatorContext, secrets: Iterable[str | None]) -> list[str]:
    known = [s for s in secrets if s]
    if context.admin is not None and context.admin.password:
        known.append(context.admin.password)
    return known


def _guard_call(kind: str, step: str, call: Callable[[], R], secrets: list[str]) -> R:
    """Run ``call``; re-raise what escapes as a typed error with ``secrets`` redacted."""
    try:
        return call()
    except RotationError as error:
        error.args = tuple(
            redact(arg, secrets) if isinstance(arg, str) else arg for arg in error.args
        )
        error.__cause__ = None
        error.__context__ = None
        error.__suppress_context__ = True
        raise
    except (OSError, TimeoutError) as error:
        raise TargetUnavailable(f"{kind} {step}: {sanitize_error(error, secrets)}") from None
    except Exception as error:  # noqa: BLE001 - every escape becomes a typed error
        message = f"rotator '{kind}' failed in {step}: {sanitize_error(error, secrets)}"
        raise RotatorFailed(message) from None
