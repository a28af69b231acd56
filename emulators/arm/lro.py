"""Long-running operations as ARM resource providers run them.

A write that takes time answers 201/202 with two status URLs: ``Azure-AsyncOperation``
(``{"status": "InProgress" | "Succeeded" | "Failed"}``) and ``Location`` (202 while running,
then 200). The emulated work runs when the operation completes: after ``polls`` reads of
either status URL answered ``InProgress``, the next read runs the completion callback and
reports its outcome. ``polls=0`` completes on the first read.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from emulators.arm.errors import ArmError


class OperationStatus(StrEnum):
    """The ``status`` values of an Azure-AsyncOperation body."""

    IN_PROGRESS = "InProgress"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass
class Operation:
    """One long-running operation on ``resource_id``.

    ``complete`` does the work; it may raise :class:`ArmError`, which fails the operation
    with that error's code and message.
    """

    id: str
    resource_id: str
    principal_id: str
    started: datetime
    complete: Callable[[], None] = field(repr=False)
    polls_left: int = 0
    status: OperationStatus = OperationStatus.IN_PROGRESS
    error: ArmError | None = None


class Operations:
    """The operations of one emulated resource provider. Thread-safe."""

    def __init__(self, polls: int = 1) -> None:
        #: How many status reads answer ``InProgress`` before an operation completes.
        self.polls = polls
        self._ops: dict[str, Operation] = {}
        self._failures: list[ArmError] = []
        self._lock = threading.RLock()

    def fail_next(self, error: ArmError) -> None:
        """Make the next operation to complete fail with ``error`` (its work is not done)."""
        with self._lock:
            self._failures.append(error)

    def start(
        self, resource_id: str, principal_id: str, started: datetime, complete: Callable[[], None]
    ) -> Operation:
        """Register a new in-progress operation; its work runs when it completes."""
        op = Operation(
            id=str(uuid.uuid4()),
            resource_id=resource_id,
            principal_id=principal_id,
            started=started,
            complete=complete,
            polls_left=self.polls,
        )
        with self._lock:
            self._ops[op.id] = op
        return op

    def get(self, operation_id: str) -> Operation | None:
        """The operation with this id, or ``None``."""
        with self._lock:
            return self._ops.get(operation_id.lower())

    def poll(self, operation_id: str) -> Operation | None:
        """Count one status read of the operation and complete it when its polls are used up."""
        with self._lock:
            op = self._ops.get(operation_id.lower())
            if op is None or op.status is not OperationStatus.IN_PROGRESS:
                return op
            if op.polls_left > 0:
                op.polls_left -= 1
                return op
            self._finish(op)
            return op

    def complete_all(self) -> int:
        """Complete every in-progress operation now (test helper); returns how many."""
        with self._lock:
            pending = [o for o in self._ops.values() if o.status is OperationStatus.IN_PROGRESS]
            for op in pending:
                self._finish(op)
            return len(pending)

    def _finish(self, op: Operation) -> None:
        try:
            if self._failures:
                raise self._failures.pop(0)
            op.complete()
        except ArmError as error:
            op.status = OperationStatus.FAILED
            op.error = error
            return
        op.status = OperationStatus.SUCCEEDED
