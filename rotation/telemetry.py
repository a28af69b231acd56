"""OpenTelemetry for rotations: one span per run and per step, log attributes, metrics.

The engine calls a :class:`RotationTelemetry` at its few choke points (a run, each step,
each verification attempt, the configuration once parsed); the service calls it around the
sweep. It uses the OpenTelemetry *API* only, so without a configured SDK (no
``APPLICATIONINSIGHTS_CONNECTION_STRING``, see :func:`composition.configure_telemetry`) every
call is a no-op and nothing is exported.

What is emitted (names are the contract the alerts in ``infra/alerts/*.kql`` and the
workbook query; ``tests/e2e/test_telemetry.py`` holds them to it):

- spans ``rotation`` (one per engine request) with children ``rotation.stage``,
  ``rotation.apply``, ``rotation.verify``, ``rotation.commit``, ``rotation.confirm`` and
  ``rotation.retire``; and ``rotation.sweep`` per timer run;
- attributes (on spans and on every log record written while a run is active):
  :data:`ID`, :data:`VAULT`, :data:`SECRET`, :data:`ROTATOR`, :data:`STRATEGY`,
  :data:`TRIGGER`, :data:`OUTCOME`, and where known :data:`STATE`, :data:`FROM_VERSION`,
  :data:`TO_VERSION`, :data:`ERROR`, :data:`DURATION_MS`, :data:`VERIFY_ATTEMPTS`;
- one summary log record per run, ``rotation finished: <outcome>`` (:data:`EVENT`
  ``finished``; WARNING when it failed), and per sweep ``sweep finished`` (:data:`EVENT`
  ``sweep``) plus one ``sweep: nearest expiry`` record per vault (:data:`EVENT`
  ``sweep-vault``);
- metrics :data:`METRIC_RUNS` (counter by vault, rotator, trigger, outcome),
  :data:`METRIC_VERIFY_ATTEMPTS` (counter by vault, rotator, result) and
  :data:`METRIC_NEAREST_EXPIRY` (gauge: days to the nearest expiry of a managed secret, by
  vault).

Never a value: attributes are names, versions, kinds, counts and exception *type* names.
Exception messages are not recorded (an unexpected one may quote the input that tripped it).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar

from opentelemetry import metrics, trace
from opentelemetry.trace import Span, StatusCode

from rotation.errors import LockBusy, RotationError

if TYPE_CHECKING:
    from rotation.outcome import RotationOutcome, RotationRequest
    from rotation.sweep import SweepReport

log = logging.getLogger(__name__)

#: Instrumentation scope of every tracer and meter here.
SCOPE = "rotation"

ID = "rotation.id"
VAULT = "rotation.vault"
SECRET = "rotation.secret"  # noqa: S105 (an attribute name)
ROTATOR = "rotation.rotator"
STRATEGY = "rotation.strategy"
TRIGGER = "rotation.trigger"
OUTCOME = "rotation.outcome"
STATE = "rotation.state"
FROM_VERSION = "rotation.from_version"
TO_VERSION = "rotation.to_version"
ERROR = "rotation.error"
RETRYABLE = "rotation.retryable"
DURATION_MS = "rotation.duration_ms"
VERIFY_ATTEMPTS = "rotation.verify_attempts"
STEP = "rotation.step"
EVENT = "rotation.event"
VERIFY_RESULT = "rotation.verify_result"
SWEEP_LISTED = "rotation.sweep.listed"
SWEEP_MANAGED = "rotation.sweep.managed"
SWEEP_DUE = "rotation.sweep.due"
SWEEP_FAILED_VAULTS = "rotation.sweep.failed_vaults"
EXPIRY_DAYS = "rotation.expiry_days"

#: The attributes every rotation span and log record carries (empty string until known).
RUN_ATTRIBUTES = (ID, VAULT, SECRET, ROTATOR, STRATEGY, TRIGGER, OUTCOME)

#: The step spans, in protocol order.
STEPS = ("stage", "apply", "verify", "commit", "confirm", "retire")

#: Outcome of a run that raised (besides the :class:`~rotation.outcome.Status` values).
FAILED = "failed"
#: Outcome of a run that found the secret locked by another instance.
BUSY = "busy"

METRIC_RUNS = "rotation.runs"
METRIC_VERIFY_ATTEMPTS = "rotation.verify.attempts"
METRIC_NEAREST_EXPIRY = "rotation.expiry.nearest_days"

#: The run whose attributes log records get (see :class:`RunLogAttributes`).
_active: ContextVar[RotationRun | None] = ContextVar("rotation_run", default=None)


class RotationTelemetry:
    """Spans, metrics and the summary records of rotations (the engine's observer).

    ``tracer_provider`` / ``meter_provider`` default to the global ones (the SDK's, once
    configured; no-ops until then).
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self._tracer = trace.get_tracer(SCOPE, tracer_provider=tracer_provider)
        meter = metrics.get_meter(SCOPE, meter_provider=meter_provider)
        self._runs = meter.create_counter(
            METRIC_RUNS, unit="{rotation}", description="Rotation runs by outcome"
        )
        self._verify = meter.create_counter(
            METRIC_VERIFY_ATTEMPTS,
            unit="{attempt}",
            description="Logins tried to verify a candidate, by result",
        )
        self._expiry = meter.create_gauge(
            METRIC_NEAREST_EXPIRY,
            unit="d",
            description="Days to the nearest expiry of a managed secret, per vault",
        )

    # ------------------------------------------------------------------ one run

    @contextmanager
    def run(self, request: RotationRequest) -> Iterator[RotationRun]:
        """The span of one engine request; ends with a summary record and a count."""
        started = time.monotonic()
        with self._tracer.start_as_current_span(
            "rotation", record_exception=False, set_status_on_exception=False
        ) as span:
            run = RotationRun(self, span, request)
            token = _active.set(run)
            try:
                yield run
            except LockBusy:
                run.outcome_label = BUSY
                raise
            except BaseException as error:
                run.fail(error)
                raise
            finally:
                run.finish(time.monotonic() - started)
                _active.reset(token)

    def count_run(self, attributes: Mapping[str, Any]) -> None:
        self._runs.add(
            1, {k: attributes[k] for k in (VAULT, ROTATOR, TRIGGER, OUTCOME) if k in attributes}
        )

    def count_verify(self, attributes: Mapping[str, Any], result: str) -> None:
        labels = {VAULT: attributes.get(VAULT, ""), ROTATOR: attributes.get(ROTATOR, "")}
        self._verify.add(1, {**labels, VERIFY_RESULT: result})

    # ------------------------------------------------------------------ the sweep

    @contextmanager
    def sweep(self) -> Iterator[SweepTrace]:
        """The span of one timer sweep; ends with the ``sweep finished`` record."""
        with self._tracer.start_as_current_span(
            "rotation.sweep", record_exception=False, set_status_on_exception=False
        ) as span:
            sweep = SweepTrace(self, span)
            try:
                yield sweep
            except BaseException as error:
                span.set_status(StatusCode.ERROR, type(error).__name__)
                raise

    def record_expiry(self, vault_url: str, secret: str, days: float) -> None:
        self._expiry.set(round(days, 2), {VAULT: vault_url})
        log.info(
            "sweep: nearest expiry in %s: %s in %.1f days",
            vault_url,
            secret,
            days,
            extra={EVENT: "sweep-vault", VAULT: vault_url, SECRET: secret, EXPIRY_DAYS: days},
        )


class RotationRun:
    """The telemetry of one run: attributes grow as the engine learns them."""

    def __init__(self, telemetry: RotationTelemetry, span: Span, request: RotationRequest) -> None:
        self._telemetry = telemetry
        self._span = span
        self._request = request
        self._outcome: RotationOutcome | None = None
        self.rotator = ""
        self.strategy = ""
        self.outcome_label = ""
        self.error = ""
        self.retryable: bool | None = None
        self.verify_attempts = 0
        span.set_attributes(self.attributes())

    def track(self, outcome: RotationOutcome) -> None:
        """The outcome object the engine fills in (read at each record and at the end)."""
        self._outcome = outcome

    def configured(self, rotator: str, strategy: str) -> None:
        """The secret's rotator kind and strategy, once its tags are parsed."""
        self.rotator, self.strategy = rotator, strategy
        self._span.set_attributes({ROTATOR: rotator, STRATEGY: strategy})

    def attributes(self) -> dict[str, Any]:
        """The run's attributes now: names, versions and kinds only."""
        outcome = self._outcome
        request = self._request
        attributes: dict[str, Any] = {
            ID: (outcome.rotation_id if outcome else None) or "",
            VAULT: outcome.vault_url if outcome else request.vault_url,
            SECRET: outcome.secret_name if outcome else request.secret_name,
            ROTATOR: self.rotator,
            STRATEGY: self.strategy,
            TRIGGER: request.trigger.value,
            OUTCOME: self.outcome_label,
        }
        if outcome is not None:
            for key, value in (
                (STATE, outcome.state),
                (FROM_VERSION, outcome.from_version),
                (TO_VERSION, outcome.to_version),
            ):
                if value:
                    attributes[key] = str(value)
        if self.error:
            attributes[ERROR] = self.error
            attributes[RETRYABLE] = bool(self.retryable)
        if self.verify_attempts:
            attributes[VERIFY_ATTEMPTS] = self.verify_attempts
        return attributes

    @contextmanager
    def step(self, name: str) -> Iterator[Span]:
        """A child span for one protocol step (:data:`STEPS`)."""
        with self._telemetry._tracer.start_as_current_span(
            f"rotation.{name}", record_exception=False, set_status_on_exception=False
        ) as span:
            span.set_attributes({**self.attributes(), STEP: name})
            try:
                yield span
            except BaseException as error:
                span.set_status(StatusCode.ERROR, type(error).__name__)
                span.set_attribute(ERROR, type(error).__name__)
                raise
            finally:
                span.set_attributes({k: v for k, v in self.attributes().items() if k != OUTCOME})

    def verify_attempt(self, result: str) -> None:
        """One login tried with the candidate: ``ok``, ``refused`` or ``unavailable``."""
        self.verify_attempts += 1
        self._telemetry.count_verify(self.attributes(), result)

    def fail(self, error: BaseException) -> None:
        self.outcome_label = FAILED
        self.error = type(error).__name__
        self.retryable = bool(getattr(error, "retryable", False)) or not isinstance(
            error, RotationError
        )
        self._span.set_status(StatusCode.ERROR, self.error)

    def finish(self, seconds: float) -> None:
        if not self.outcome_label:
            status = self._outcome.status.value if self._outcome is not None else ""
            self.outcome_label = str(status)
        attributes = self.attributes()
        self._span.set_attributes(attributes)
        self._span.set_attribute(DURATION_MS, round(seconds * 1000, 1))
        self._telemetry.count_run(attributes)
        level = logging.WARNING if self.outcome_label == FAILED else logging.INFO
        log.log(
            level,
            "rotation finished: %s %s/%s%s",
            self.outcome_label,
            attributes[VAULT],
            attributes[SECRET],
            f" ({self.error})" if self.error else "",
            extra={EVENT: "finished", DURATION_MS: round(seconds * 1000, 1)},
        )


class SweepTrace:
    """The telemetry of one sweep."""

    def __init__(self, telemetry: RotationTelemetry, span: Span) -> None:
        self._telemetry = telemetry
        self._span = span

    def report(self, report: SweepReport, now: datetime) -> None:
        """Record what the sweep saw: counts, and the nearest expiry per vault."""
        counts = {
            SWEEP_LISTED: report.listed,
            SWEEP_MANAGED: report.managed,
            SWEEP_DUE: len(report.due),
            SWEEP_FAILED_VAULTS: len(report.failed_vaults),
        }
        self._span.set_attributes(counts)
        for vault_url, (secret, expires_on) in sorted(report.nearest_expiry.items()):
            days = (expires_on - now).total_seconds() / 86400
            self._telemetry.record_expiry(vault_url, secret, days)
        log.info(
            "sweep finished: %d listed, %d managed, %d due, %d vaults failed",
            report.listed,
            report.managed,
            len(report.due),
            len(report.failed_vaults),
            extra={EVENT: "sweep", **counts},
        )


class _Traced(Protocol):
    telemetry: RotationRun


_P = ParamSpec("_P")
_R = TypeVar("_R")
_S = TypeVar("_S", bound=_Traced)


def step_span(
    name: str,
) -> Callable[[Callable[Concatenate[_S, _P], _R]], Callable[Concatenate[_S, _P], _R]]:
    """Decorates a method of an object with a ``telemetry`` run: the call is step ``name``."""

    def decorate(method: Callable[Concatenate[_S, _P], _R]) -> Callable[Concatenate[_S, _P], _R]:
        def traced(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            with self.telemetry.step(name):
                return method(self, *args, **kwargs)

        functools.update_wrapper(traced, method)
        return traced

    return decorate


class RunLogAttributes(logging.Filter):
    """Adds the active run's attributes to every record a handler sees (never replaces a
    field the record already has). Install it on the OpenTelemetry log handler: the
    attributes become ``customDimensions`` in Application Insights."""

    def filter(self, record: logging.LogRecord) -> bool:
        run = _active.get()
        if run is not None:
            for key, value in run.attributes().items():
                if key not in record.__dict__:
                    record.__dict__[key] = value
        return True


def active_run() -> RotationRun | None:
    """The run of the current context, if any."""
    return _active.get()
