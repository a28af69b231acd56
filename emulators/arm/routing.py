"""Routes of the emulated ARM endpoint: method + path pattern -> named operation + handler.

Operation names (``sql_servers_update``, ``web_apps_restart``...) follow the SDK's
``<operation group>_<method>`` naming so that fault rules can target one operation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from urllib.parse import unquote

from emulators.arm.errors import not_found
from emulators.wire import Request, Response

SUBSCRIPTION = r"/subscriptions/(?P<subscription>[^/]+)"
RESOURCE_GROUP = SUBSCRIPTION + r"/resourceGroups/(?P<resource_group>[^/]+)"


def resource_id(resource_type: str, subscription: str, resource_group: str, name: str) -> str:
    """The ARM id of resource ``name`` of ``resource_type`` (``Microsoft.Web/sites``...)."""
    return (
        f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
        f"/providers/{resource_type}/{name}"
    )


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


class Resource(Protocol):
    """A resource a provider keeps: its ARM JSON representation."""

    def to_json(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=Resource)


def named_resource(
    call: Call,
    find: Callable[[str], R | None],
    id_of: Callable[[str, str, str], str],
    resource_type: str,
) -> R:
    """The resource the call's path names (``subscription``, ``resource_group``, ``name``),
    looked up by its id; raises 404 ``ResourceNotFound`` when there is none."""
    p = call.params
    found = find(id_of(p["subscription"], p["resource_group"], p["name"]))
    if found is None:
        raise not_found(resource_type, p["name"], p["resource_group"])
    return found


def get_handler(existing: Callable[[Call], Resource]) -> Handler:
    """The ``GET`` of a resource: 200 with the JSON of ``existing(call)``."""

    def get(call: Call) -> Response:
        return Response.json(200, existing(call).to_json())

    return get


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
