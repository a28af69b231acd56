"""Routes of the emulated ARM endpoint: method + path pattern -> named operation + handler.

Operation names (``sql_servers_update``, ``web_apps_restart``...) follow the SDK's
``<operation group>_<method>`` naming so that fault rules can target one operation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

from emulators.wire import Request, Response

SUBSCRIPTION = r"/subscriptions/(?P<subscription>[^/]+)"
RESOURCE_GROUP = SUBSCRIPTION + r"/resourceGroups/(?P<resource_group>[^/]+)"


@dataclass(frozen=True)
class Call:
    """One authenticated request routed to a handler.

    ``params`` holds the path parameters (``subscription``, ``resource_group``, ``name``...);
    ``principal_id`` is the caller's object id from the validated token.
    """

    request: Request
    params: dict[str, str]
    principal_id: str
    operation: str
    #: Raise ``ArmError`` 403 unless the caller may perform ``action`` on ``scope``.
    authorize: Callable[[str, str], None] = field(repr=False)

    @property
    def api_version(self) -> str:
        """The request's ``api-version`` query parameter (the emulator checked it exists)."""
        return self.request.query.get("api-version", "")


Handler = Callable[[Call], Response]


@dataclass(frozen=True)
class Route:
    """``method`` + ``pattern`` (a full-match regex on the path, case-insensitive)."""

    method: str
    pattern: str
    operation: str
    handler: Handler
    #: The ARM action checked against the request path before the handler runs; ``None``
    #: when the handler checks authorization itself (operation status URLs).
    action: str | None
    #: api-versions this route accepts (ARM refuses others per resource provider).
    api_versions: frozenset[str] = field(default_factory=frozenset)

    def match(self, request: Request) -> dict[str, str] | None:
        """Path parameters if ``request`` is for this route, else ``None``."""
        if request.method.upper() != self.method:
            return None
        found = _compiled(self.pattern).fullmatch(request.path.rstrip("/"))
        return {k: unquote(v) for k, v in found.groupdict().items()} if found else None


_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    compiled = _CACHE.get(pattern)
    if compiled is None:
        compiled = _CACHE[pattern] = re.compile(pattern, re.IGNORECASE)
    return compiled
