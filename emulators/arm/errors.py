"""ARM's error shape: ``{"error": {"code": ..., "message": ...}}``.

Handlers raise :class:`ArmError`; the emulator turns it into the response ARM would send.
Messages name resources, actions and principals only, never a request body.
"""

from __future__ import annotations

from emulators.wire import Response


class ArmError(Exception):
    """An ARM error response: HTTP ``status`` with ``code`` and ``message``."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def response(self) -> Response:
        """The ARM error response for this error."""
        return Response.json(
            self.status, {"error": {"code": self.code, "message": self.message}}, self.headers
        )


def not_found(resource_type: str, name: str, resource_group: str) -> ArmError:
    """ARM's 404 ``ResourceNotFound`` for a resource that does not exist."""
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{resource_type}/{name}' under resource group '{resource_group}' "
        "was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def authorization_failed(principal_id: str, action: str, scope: str) -> ArmError:
    """ARM's 403 ``AuthorizationFailed``, worded as ARM words it."""
    return ArmError(
        403,
        "AuthorizationFailed",
        f"The client '{principal_id}' with object id '{principal_id}' does not have "
        f"authorization to perform action '{action}' over scope '{scope}' or the scope is "
        "invalid. If access was recently granted, please refresh your credentials.",
    )
