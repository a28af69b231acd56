"""An emulated Datadog API (key management and key validation) for tests and the demo.

``DatadogEmulator.attach(stack)`` serves it at ``https://api.datadoghq.com`` (and the EU
site, ``https://api.datadoghq.eu``) through the local Azure stack's TLS proxy.
"""

from __future__ import annotations

from typing import Any, Protocol

from emulators.clock import Clock
from emulators.datadog.service import DatadogService
from emulators.wire import Service

#: Host names served by default: the US1 and EU1 sites' API hosts.
DATADOG_HOSTS = ("api.datadoghq.com", "api.datadoghq.eu")


class _Stack(Protocol):
    clock: Any

    def register_host(self, host_or_pattern: str, service: Service) -> None: ...


class DatadogEmulator(DatadogService):
    """The Datadog service, with a way to plug it into an ``emulators.stack.AzureStack``."""

    @classmethod
    def attach(cls, stack: _Stack, *, hosts: tuple[str, ...] = DATADOG_HOSTS) -> DatadogEmulator:
        """A new emulator sharing ``stack``'s clock, registered for ``hosts`` on ``stack``."""
        clock = getattr(stack, "clock", None)
        emulator = cls(clock if isinstance(clock, Clock) else None)
        for host in hosts:
            stack.register_host(host, emulator)
        return emulator


__all__ = ["DATADOG_HOSTS", "DatadogEmulator", "DatadogService"]
