"""A private Azure stack per test module (pytest plugin, loaded by tests/conftest.py).

``stack`` is a module-scoped :class:`AzureStack` of its own, with its environment applied
(``HTTPS_PROXY``, the CA bundle, the identity endpoint), for modules that change the stack's
state (faults, LRO polls, subscriptions) and so should not share the session's
``azure_stack``; ``arm`` is its ARM emulator. A module that defines its own ``stack`` or
``arm`` fixture uses that one instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from emulators.arm import ArmEmulator
from emulators.stack import AzureStack

#: Quick SDK retries and LRO polling (``**FAST_SDK`` to a management client or poller), so
#: fault tests stay fast.
FAST_SDK: dict[str, Any] = {"retry_backoff_factor": 0.01, "polling_interval": 0.01}


@pytest.fixture(scope="module")
def stack() -> Iterator[AzureStack]:
    with AzureStack() as started, started.applied_env():
        yield started


@pytest.fixture(scope="module")
def arm(stack: AzureStack) -> ArmEmulator:
    return stack.arm
