"""The states a rotation passes through, as written into tags (the values are the contract).

On the committed version of a managed secret (tag ``rotation-state``)::

    committed -> awaiting-consumers -> completed
                         \\-> overdue --/      (consumers moved after the deadline)

On the staging companion (tag ``rotation-stage``)::

    pending -> applied -> committed | discarded
"""

from __future__ import annotations

from enum import StrEnum


class RotationState(StrEnum):
    """``rotation-state`` of a committed version."""

    #: Written with the new version; consumers not checked yet.
    COMMITTED = "committed"
    #: Some consumer still uses the previous version; the old credential stays.
    AWAITING_CONSUMERS = "awaiting-consumers"
    #: Every consumer moved and the old credential was retired.
    COMPLETED = "completed"
    #: Consumers did not move by the deadline; alerted, still watched.
    OVERDUE = "overdue"


#: States after which the sweep still has work to do.
UNFINISHED_STATES = frozenset(
    {RotationState.COMMITTED, RotationState.AWAITING_CONSUMERS, RotationState.OVERDUE}
)


class Stage(StrEnum):
    """``rotation-stage`` of a staged candidate."""

    #: Written before the target saw it (it may have been applied since).
    PENDING = "pending"
    #: The target minted or confirmed it.
    APPLIED = "applied"
    #: It became the current version.
    COMMITTED = "committed"
    #: Refused by the target and removed from it, or stale.
    DISCARDED = "discarded"


#: Stages of a candidate that a run must resume.
OPEN_STAGES = frozenset({Stage.PENDING, Stage.APPLIED})
