"""The manual HTTP API, as plain values: ``GET`` reads status, ``POST`` rotates now.

Routes (the function sits behind a function key; see function_app.py)::

    GET  /api/rotations/{vault}/{name}                    status
    POST /api/rotations/{vault}/{name}                    rotate now
    POST /api/rotations/{vault}/{name}?dry_run=true       report what would happen
    POST /api/rotations/{vault}/{name}?version=<v>        rotate only if <v> is still current

Answers are JSON and never contain a secret value.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rotation.errors import (
    ConfigurationError,
    LockBusy,
    RotationConflict,
    RotationError,
    TargetUnavailable,
    VerificationFailed,
)
from rotation.service import RotationService, VaultNotAllowed
from rotation.vault import SecretNotFound

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = "30"
TRUE_WORDS = frozenset({"1", "true", "yes"})


@dataclass(frozen=True)
class HttpReply:
    """A status code, a JSON body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


def handle_request(
    service: RotationService,
    method: str,
    vault: str,
    name: str,
    params: Mapping[str, str],
) -> HttpReply:
    """Serve one API call; every failure becomes a JSON error with the matching status."""
    try:
        if method == "GET":
            return HttpReply(200, service.status(vault, name))
        if method == "POST":
            outcome = service.rotate_now(
                vault,
                name,
                dry_run=params.get("dry_run", "").lower() in TRUE_WORDS,
                version=params.get("version") or None,
            )
            return HttpReply(200, outcome.as_dict())
        return HttpReply(405, _error("MethodNotAllowed", "use GET or POST"), {"Allow": "GET, POST"})
    except (VaultNotAllowed, SecretNotFound) as error:
        return HttpReply(404, _error("NotFound", str(error)))
    except LockBusy as error:
        return HttpReply(409, _error("RotationInProgress", str(error)), _retry())
    except RotationConflict as error:
        return HttpReply(409, _error("RotationConflict", str(error)))
    except VerificationFailed as error:
        return HttpReply(502, _error("VerificationFailed", str(error)))
    except TargetUnavailable as error:
        return HttpReply(503, _error("TargetUnavailable", str(error)), _retry())
    except ConfigurationError as error:
        return HttpReply(400, _error("ConfigurationError", str(error)))
    except RotationError as error:
        return HttpReply(500, _error(type(error).__name__, str(error)))
    except Exception:  # an API answers, it does not crash
        incident = uuid.uuid4().hex
        log.exception("rotation API failed (incident %s)", incident)
        return HttpReply(500, _error("InternalError", f"unexpected failure, incident {incident}"))


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _retry() -> dict[str, str]:
    return {"Retry-After": RETRY_AFTER_SECONDS}
