"""One reading of Azure SDK exceptions, shared by everything that calls Azure.

:func:`classify` turns any exception an Azure SDK raises into an :class:`AzureFailure`:
what kind of failure it is (the decision every caller makes the same way), the HTTP status
and the service's error code. Callers then word the :mod:`rotation.errors` exception for
their own resource (Key Vault, App Service, Azure SQL), most through :func:`rotation_error`;
no message ever carries a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from rotation.errors import ConfigurationError, RotationError, TargetUnavailable


class FailureKind(Enum):
    """What went wrong, as far as retrying and the operator are concerned."""

    #: No token for the app's identity (managed identity endpoint, or a 401 challenge).
    NO_TOKEN = "no-token"  # noqa: S105 (a failure kind, not a token)
    #: The service could not be reached or the connection broke: retry.
    UNREACHABLE = "unreachable"
    #: 401/403: the identity lacks a role.
    DENIED = "denied"
    #: 404.
    NOT_FOUND = "not-found"
    #: 409.
    CONFLICT = "conflict"
    #: 429 or 5xx: retry.
    BUSY = "busy"
    #: Any other 4xx: the request can never succeed as it is.
    REFUSED = "refused"
    #: Anything else an SDK raised: treated as transient.
    OTHER = "other"

    @property
    def retryable(self) -> bool:
        """Whether the same call may succeed later."""
        return self in (FailureKind.UNREACHABLE, FailureKind.BUSY, FailureKind.OTHER)


@dataclass(frozen=True)
class AzureFailure:
    """An Azure SDK exception, classified."""

    kind: FailureKind
    status: int
    code: str
    message: str

    def short(self) -> str:
        """``status code`` as far as known, for messages (``403 Forbidden``)."""
        return " ".join(p for p in (str(self.status) if self.status else "", self.code) if p)


def error_code(error: HttpResponseError) -> str:
    """The service's error code (``SecretDisabled``, ``Forbidden``...), or ``""``."""
    inner: Any = getattr(error, "error", None)
    return str(getattr(inner, "code", None) or "")


def classify(error: BaseException) -> AzureFailure:
    """Classify ``error`` (any exception; non-Azure ones are ``OTHER``)."""
    if isinstance(error, ClientAuthenticationError) and not error.status_code:
        return AzureFailure(FailureKind.NO_TOKEN, 0, "", type(error).__name__)
    if isinstance(error, ServiceRequestError | ServiceResponseError):
        return AzureFailure(FailureKind.UNREACHABLE, 0, "", type(error).__name__)
    if isinstance(error, HttpResponseError):
        status = error.status_code or 0
        code = error_code(error)
        message = error.message or ""
        if isinstance(error, ResourceNotFoundError) or status == 404:
            kind = FailureKind.NOT_FOUND
        elif status in (401, 403):
            kind = FailureKind.DENIED
        elif status == 409:
            kind = FailureKind.CONFLICT
        elif status == 429 or status >= 500:
            kind = FailureKind.BUSY
        elif 400 <= status < 500:
            kind = FailureKind.REFUSED
        else:
            kind = FailureKind.OTHER
        return AzureFailure(kind, status, code, message)
    return AzureFailure(FailureKind.OTHER, 0, "", type(error).__name__)


#: What happened, per kind, as :func:`rotation_error` words it (``{short}``: status and code).
_WORDING = {
    FailureKind.NO_TOKEN: "no token for the app identity",
    FailureKind.UNREACHABLE: "unreachable ({message})",
    FailureKind.DENIED: "access denied ({short})",
    FailureKind.NOT_FOUND: "not found ({code})",
    FailureKind.CONFLICT: "conflict ({short})",
    FailureKind.BUSY: "the service answered {short}",
    FailureKind.REFUSED: "request refused ({short})",
    FailureKind.OTHER: "unreachable ({message})",
}

#: Kinds that no retry cures: someone must change a role, a name or the request.
_NEEDS_OPERATOR = (
    FailureKind.DENIED,
    FailureKind.NOT_FOUND,
    FailureKind.CONFLICT,
    FailureKind.REFUSED,
)


def rotation_error(
    failure: AzureFailure, where: str, advice: Mapping[FailureKind, str] | None = None
) -> RotationError:
    """``failure`` as the engine's error, worded ``{where}: {what happened}[; {advice}]``.

    A ``ConfigurationError`` for denied, not found, conflict and refused requests (no retry
    helps), a ``TargetUnavailable`` for the rest (no token yet, unreachable, busy, other).
    ``advice`` adds, per kind, what the operator should do. The message holds the status,
    the error code and the SDK's message only, never a value sent or received.
    """
    what = _WORDING[failure.kind].format(
        short=failure.short(),
        code=failure.code,
        message=failure.message or failure.kind.value,
    )
    hint = (advice or {}).get(failure.kind)
    text = f"{where}: {what}" + (f"; {hint}" if hint else "")
    if failure.kind in _NEEDS_OPERATOR:
        return ConfigurationError(text)
    return TargetUnavailable(text)
