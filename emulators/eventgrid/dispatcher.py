"""At-least-once delivery: a queue of pending deliveries, retries with backoff, dead letters.

Nothing is delivered when an event is published: the event is queued per matching
subscription, and :meth:`Dispatcher.deliver_pending` (the tests' deterministic way, in the
calling thread) or the optional background thread (:meth:`Dispatcher.start`) delivers it.
So a Key Vault request that raises an event never waits for, or runs, a subscriber.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from emulators.clock import Clock
from emulators.eventgrid.delivery import (
    EVENT_GRID_RETRY_SCHEDULE_S,
    AttemptResult,
    DeadLetter,
    DeliveryRecord,
    Subscription,
)
from emulators.eventgrid.webhook import post_events

DEFAULT_RETRY_SCALE = 0.0001
"""Event Grid's 10 s, 30 s, 1 min, ... schedule times this: 1 ms, 3 ms, 6 ms, ... in tests."""


@dataclass(order=True)
class _Pending:
    due: float
    seq: int
    subscription: Subscription = field(compare=False)
    events: list[dict[str, Any]] = field(compare=False)
    attempt: int = field(compare=False, default=1)
    duplicate: bool = field(compare=False, default=False)


class Dispatcher:
    """Delivers queued events to subscriptions, retrying failures, dead-lettering the rest.

    Thread-safe. ``retry_schedule`` (seconds, Event Grid's by default) is multiplied by
    ``retry_scale``; after the last step the last delay repeats, as Event Grid retries hourly.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        retry_schedule: Sequence[float] = EVENT_GRID_RETRY_SCHEDULE_S,
        retry_scale: float = DEFAULT_RETRY_SCALE,
    ) -> None:
        if not retry_schedule or retry_scale < 0:
            raise ValueError("retry_schedule must not be empty and retry_scale must be >= 0")
        self._clock = clock
        self._delays = [d * retry_scale for d in retry_schedule]
        self._queue: list[_Pending] = []
        self._seq = itertools.count()
        self._queue_lock = threading.Condition()
        self._deliver_lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- queueing -------------------------------------------------------------------------

    def enqueue(
        self, subscription: Subscription, event: dict[str, Any], *, duplicate: bool = False
    ) -> None:
        """Queue one rendered event for ``subscription``, due now."""
        self._push(_Pending(time.monotonic(), 0, subscription, [event], 1, duplicate))

    def _push(self, item: _Pending) -> None:
        with self._queue_lock:
            item.seq = next(self._seq)
            heapq.heappush(self._queue, item)
            self._queue_lock.notify_all()

    def pending_count(self) -> int:
        """Deliveries waiting (first attempts and scheduled retries)."""
        with self._queue_lock:
            return len(self._queue)

    # -- delivering -----------------------------------------------------------------------

    def deliver_pending(self, *, wait_for_retries: bool = True) -> int:
        """Deliver everything queued, in the calling thread; return the number of attempts.

        With ``wait_for_retries`` (the default) it also sleeps through the scaled retry
        delays until every delivery has succeeded or been dead-lettered, so that a test can
        assert on the outcome right after. Without it, only what is due now is attempted.
        """
        attempts = 0
        with self._deliver_lock:
            while True:
                item = self._next_due(wait_for_retries)
                if item is None:
                    return attempts
                self._attempt(item)
                attempts += 1

    def _next_due(self, wait: bool) -> _Pending | None:
        with self._queue_lock:
            while self._queue:
                delay = self._queue[0].due - time.monotonic()
                if delay <= 0:
                    item = heapq.heappop(self._queue)
                    self._merge_batch(item)
                    return item
                if not wait:
                    return None
                self._queue_lock.wait(timeout=delay)
            return None

    def _merge_batch(self, item: _Pending) -> None:
        """Join due first attempts for the same subscription into ``item`` (caller locks)."""
        limit = item.subscription.max_events_per_batch
        if limit == 1 or item.attempt != 1 or item.duplicate:
            return
        now = time.monotonic()
        rest: list[_Pending] = []
        for other in sorted(self._queue):
            fits = len(item.events) + len(other.events) <= limit
            if (
                fits
                and other.subscription is item.subscription
                and other.attempt == 1
                and not other.duplicate
                and other.due <= now
            ):
                item.events.extend(other.events)
            else:
                rest.append(other)
        self._queue = rest
        heapq.heapify(self._queue)

    def _attempt(self, item: _Pending) -> None:
        sub = item.subscription
        result = self._call(item)
        record = DeliveryRecord(
            event_ids=tuple(e["id"] for e in item.events),
            attempt=item.attempt,
            at=self._clock.now(),
            result=result,
            duplicate=item.duplicate,
        )
        if sub.record_attempt(record, item.events):
            for event in item.events:
                self.enqueue(sub, event, duplicate=True)
            return
        if result.ok:
            return
        if result.retriable and item.attempt < sub.max_attempts:
            delay = self._delays[min(item.attempt - 1, len(self._delays) - 1)]
            retry = _Pending(time.monotonic() + delay, 0, sub, item.events, item.attempt + 1)
            retry.duplicate = item.duplicate
            self._push(retry)
            return
        reason = (
            "MaxDeliveryAttemptsExceeded"
            if result.retriable
            else f"UndeliverableDueToHttp{result.outcome}"
        )
        for event in item.events:
            sub.add_dead_letter(
                DeadLetter(
                    subscription=sub.name,
                    event=event,
                    dead_letter_reason=reason,
                    delivery_attempts=item.attempt,
                    last_delivery_outcome=result.outcome,
                    last_http_status_code=result.status,
                    last_error=result.error,
                    at=self._clock.now(),
                )
            )

    @staticmethod
    def _call(item: _Pending) -> AttemptResult:
        sub = item.subscription
        if sub.handler is not None:
            # A copy, so that a handler changing its event cannot change the delivery records.
            events = copy.deepcopy(item.events)
            payload: Any = events[0] if sub.max_events_per_batch == 1 else events
            try:
                sub.handler(payload)
            except Exception as error:  # noqa: BLE001 - any handler failure is a failed delivery
                return AttemptResult(False, "HandlerError", None, type(error).__name__)
            return AttemptResult(True, "Delivered")
        assert sub.endpoint_url is not None
        return post_events(
            sub.endpoint_url,
            item.events,
            schema=sub.schema,
            subscription_name=sub.name,
            delivery_count=item.attempt - 1,
            timeout_s=sub.timeout_s,
        )

    # -- background mode --------------------------------------------------------------------

    def start(self, *, interval_s: float = 0.05, tick: Callable[[], object] | None = None) -> None:
        """Deliver in a daemon thread every ``interval_s`` (calling ``tick`` first, if given).

        For running the stack in the foreground (``python -m emulators``); tests should prefer
        :meth:`deliver_pending`. Idempotent.
        """
        if self._thread is not None:
            return
        self._stopping.clear()

        def run() -> None:
            while not self._stopping.is_set():
                if tick is not None:
                    tick()
                self.deliver_pending(wait_for_retries=False)
                self._stopping.wait(interval_s)

        self._thread = threading.Thread(target=run, name="eventgrid-delivery", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread (if running) and wait for it."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            thread.join(timeout=10)
