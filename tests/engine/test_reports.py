"""What the engine reports on the way: no end status before the end, honest retire steps."""

from __future__ import annotations

import pytest

from rotation.outcome import RotationOutcome, Status, Trigger
from tests.engine.fakes import FakeTarget
from tests.engine.test_protocol import make_engine, make_store, request, target  # noqa: F401


@pytest.mark.parametrize("trigger", list(Trigger))
def test_reports_before_the_end_say_in_progress_for_every_trigger(
    target: FakeTarget,  # noqa: F811
    trigger: Trigger,
) -> None:
    store = make_store()
    seen: list[tuple[str, str]] = []

    def on_outcome(event: str, outcome: RotationOutcome) -> None:
        seen.append((event, outcome.status.value))

    due = trigger is Trigger.EVENT
    outcome = make_engine(store, on_outcome=on_outcome).run(
        request(store, trigger=trigger, event_due=due, force=trigger is Trigger.MANUAL)
    )
    assert outcome.status is Status.ROTATED
    assert ("started", "in-progress") in seen
    assert ("committed", "in-progress") in seen
    assert not [s for _, s in seen if s == Status.NOT_DUE.value]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("single", "stopped working when the new one was set"),
        ("alternating", "as the standby: it works until the next rotation resets its password"),
        ("multiple", "retired the credential of version"),
    ],
)
def test_the_retire_step_says_what_happened_to_the_old_credential(
    target: FakeTarget,  # noqa: F811
    strategy: str,
    expected: str,
) -> None:
    store = make_store(strategy)
    outcome = make_engine(store).run(request(store))
    assert any(expected in step for step in outcome.steps), outcome.steps
