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
from emulators.arm.routing import Handler, Route


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


class StatusRoutes:
    """The two status URLs of one provider's operations, ARM style, for reuse by providers.

    Served under ``/subscriptions/{s}/providers/{namespace}/locations/{location}/``:
    ``{status_segment}/{id}`` answers the Azure-AsyncOperation body, ``{result_segment}/{id}``
    202 while running, then the provider's final answer (or the operation's error). Only
    the principal that started an operation may read its status (``404`` for anyone else,
    as for an unknown id). ``retry_after_ms`` is the delay the answers ask clients to wait.
    """

    def __init__(
        self,
        operations: Operations,
        namespace: str,
        segments: tuple[str, str],
        retry_after_ms: int = 20,
    ) -> None:
        self.operations = operations
        self.namespace = namespace
        self.status_segment, self.result_segment = segments
        self.retry_after_ms = retry_after_ms

    def routes(
        self,
        location_path: str,
        versions: frozenset[str],
        handlers: tuple[Handler, Handler],
        operations: tuple[str, str],
    ) -> list[Route]:
        """The two status routes under ``location_path`` (a regex ending in the location),
        named ``operations`` and answered by ``handlers`` (status, then result). They check
        no action: the handlers authorize (``action=None``)."""
        paths = (self.status_segment, self.result_segment)
        return [
            Route("GET", f"{location_path}/{segment}/(?P<operation_id>[^/]+)", name, handler,
                  None, versions)
            for segment, name, handler in zip(paths, operations, handlers, strict=True)
        ]  # fmt: skip

    def base_url(self, host: str, subscription: str, location: str) -> str:
        """``https://{host}/subscriptions/{s}/providers/{namespace}/locations/{location}``."""
        return f"https://{host}/subscriptions/{subscription}/providers/{self.namespace}/locations/{location}"

    def started_headers(
        self, host: str, subscription: str, location: str, api_version: str, op: Operation
    ) -> dict[str, str]:
        """The headers of a 202 that started ``op``: both status URLs and a retry delay."""
        base, query = self.base_url(host, subscription, location), f"?api-version={api_version}"
        return {
            "Azure-AsyncOperation": f"{base}/{self.status_segment}/{op.id}{query}",
            "Location": f"{base}/{self.result_segment}/{op.id}{query}",
            **self.retry_header(),
        }

    def retry_header(self) -> dict[str, str]:
        """``Retry-After`` in whole seconds, else ``x-ms-retry-after-ms`` (azure-core reads
        both; ``Retry-After: 0`` would make it wait its 30 s default)."""
        if self.retry_after_ms % 1000 == 0 and self.retry_after_ms > 0:
            return {"Retry-After": str(self.retry_after_ms // 1000)}
        return {"x-ms-retry-after-ms": str(max(self.retry_after_ms, 1))}

    def poll(self, subscription: str, operation_id: str, principal_id: str) -> Operation:
        """Count one status read of the caller's operation; ``ArmError`` 404 if not theirs."""
        op = self.operations.get(operation_id)
        if (
            op is None
            or op.principal_id != principal_id
            or op.resource_id.split("/")[2].lower() != subscription.lower()
        ):
            raise ArmError(
                404, "ResourceNotFound", f"The requested operation '{operation_id}' was not found."
            )
        polled = self.operations.poll(op.id)
        assert polled is not None
        return polled

    def status_body(self, op: Operation) -> tuple[dict[str, object], dict[str, str]]:
        """The Azure-AsyncOperation body and headers for ``op``."""
        body: dict[str, object] = {
            "name": op.id,
            "status": str(op.status),
            "startTime": op.started.isoformat().replace("+00:00", "Z"),
        }
        if op.error is not None:
            body["error"] = {"code": op.error.code, "message": op.error.message}
        headers = self.retry_header() if op.status is OperationStatus.IN_PROGRESS else {}
        return body, headers
