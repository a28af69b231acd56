"""Routes of the emulated ARM endpoint: method + path pattern -> named operation + handler.

Operation names (``sql_servers_update``, ``web_apps_restart``...) follow the SDK's
``<operation group>_<method>`` naming so that fault rules can target one operation.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar
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


class Placed(Protocol):
    """A resource with an ARM id, in a subscription and resource group, and its JSON."""

    @property
    def id(self) -> str: ...

    @property
    def subscription(self) -> str: ...

    @property
    def resource_group(self) -> str: ...

    def to_json(self) -> dict[str, Any]: ...


P = TypeVar("P", bound=Placed)


class ResourceIndex(Generic[P]):
    """A provider's resources of ``resource_type`` by ARM id, matched as ARM matches ids
    (case-insensitive, a trailing slash ignored). ``id_of(subscription, resource_group,
    name)`` makes an id from a request path. Guarded by the provider's (re-entrant) ``lock``."""

    def __init__(
        self,
        lock: threading.RLock,
        resource_type: str,
        id_of: Callable[[str, str, str], str],
    ) -> None:
        self._lock = lock
        self._resource_type = resource_type
        self._id_of = id_of
        self._by_id: dict[str, P] = {}

    @staticmethod
    def _key(resource_id: str) -> str:
        return resource_id.rstrip("/").lower()

    def put(self, resource: P) -> P:
        """Add ``resource``, replacing any with the same id; return it."""
        with self._lock:
            self._by_id[self._key(resource.id)] = resource
        return resource

    def get(self, resource_id: str) -> P | None:
        """The resource with this id, or ``None``."""
        with self._lock:
            return self._by_id.get(self._key(resource_id))

    def values(self) -> list[P]:
        """Every resource, in no particular order."""
        with self._lock:
            return list(self._by_id.values())

    def resource_groups(self) -> set[tuple[str, str]]:
        """(subscription, resource group) pairs that hold a resource, lower-cased."""
        with self._lock:
            return {
                (r.subscription.lower(), r.resource_group.lower()) for r in self._by_id.values()
            }

    def named(self, call: Call) -> P:
        """The resource the call's path names (``subscription``, ``resource_group``,
        ``name``); raises 404 ``ResourceNotFound`` when there is none."""
        p = call.params
        found = self.get(self._id_of(p["subscription"], p["resource_group"], p["name"]))
        if found is None:
            raise not_found(self._resource_type, p["name"], p["resource_group"])
        return found

    def get_response(self, call: Call) -> Response:
        """The ``GET`` of the named resource: 200 with its JSON."""
        return Response.json(200, self.named(call).to_json())


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
