"""Scripted faults applied by the proxy to requests for any emulated service.

A test adds :class:`FaultRule` objects to a :class:`FaultInjector`; before each request reaches
its service, the proxy asks :meth:`FaultInjector.take` for the first rule that matches and has
firings left, then applies it (sleep, answer with a status, or drop the connection).

Services that can name the operation of a request (``"set_secret"``, ``"get_secret"``, ...)
and the secret it concerns implement :class:`DescribesOperations`; the proxy passes that to the
matcher. Thread-safe: rules are matched and counted under one lock.
"""

from __future__ import annotations

import fnmatch
import itertools
import threading
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from emulators.wire import Request, Response


@dataclass(frozen=True)
class Operation:
    """What a request does, as a service names it: ``name`` like ``"get_secret"``."""

    name: str
    secret: str | None = None


@runtime_checkable
class DescribesOperations(Protocol):
    """A service that can tell the fault matcher which operation a request is."""

    def describe(self, request: Request) -> Operation | None: ...


@dataclass
class FaultRule:
    """One scripted fault.

    Match fields left as ``None`` match anything; ``host`` accepts ``fnmatch`` patterns
    (``"*.vault.azure.net"``). Actions, applied in this order: ``latency`` seconds of delay,
    then ``drop`` (close the connection without answering) or ``status`` (answer with it,
    adding ``Retry-After`` when ``retry_after`` is set). A rule with only ``latency`` delays the
    request and lets it through. ``times`` is how often it fires (``None``: forever).
    """

    host: str | None = None
    method: str | None = None
    operation: str | None = None
    secret: str | None = None
    status: int | None = None
    retry_after: int | None = None
    latency: float = 0.0
    drop: bool = False
    times: int | None = 1
    body: dict[str, object] | None = None
    id: int = field(default=0, compare=False)

    def matches(self, host: str, method: str, operation: Operation | None) -> bool:
        """Whether this rule applies to a request (ignores how many firings are left)."""
        if self.host is not None and not fnmatch.fnmatch(host.lower(), self.host.lower()):
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.operation is not None and (operation is None or operation.name != self.operation):
            return False
        return self.secret is None or (operation is not None and operation.secret == self.secret)

    def response(self) -> Response | None:
        """The response this rule answers with, or ``None`` if it only delays or drops."""
        if self.status is None:
            return None
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        payload = self.body or {
            "error": {"code": _CODES.get(self.status, "InjectedFault"), "message": "injected fault"}
        }
        return Response.json(self.status, payload, headers)


_CODES = {429: "Throttled", 500: "InternalServerError", 503: "ServiceUnavailable"}


class FaultInjector:
    """The set of active fault rules, with a count of how often each fired."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._remaining: dict[int, int | None] = {}
        self._fired: dict[int, int] = {}
        self._ids = itertools.count(1)

    def add(self, rule: FaultRule) -> FaultRule:
        """Activate ``rule`` (rules match in the order added). Returns it with its ``id`` set."""
        with self._lock:
            rule.id = next(self._ids)
            self._rules.append(rule)
            self._remaining[rule.id] = rule.times
            self._fired[rule.id] = 0
        return rule

    def clear(self) -> None:
        """Remove every rule (fire counts of removed rules stay readable)."""
        with self._lock:
            self._rules.clear()

    def fired(self, rule: FaultRule) -> int:
        """How many times ``rule`` has fired so far."""
        with self._lock:
            return self._fired.get(rule.id, 0)

    def take(self, host: str, method: str, operation: Operation | None) -> FaultRule | None:
        """The first matching rule with firings left, counted as fired; ``None`` if none."""
        with self._lock:
            for rule in self._rules:
                remaining = self._remaining[rule.id]
                if remaining == 0 or not rule.matches(host, method, operation):
                    continue
                if remaining is not None:
                    self._remaining[rule.id] = remaining - 1
                self._fired[rule.id] += 1
                return rule
        return None
