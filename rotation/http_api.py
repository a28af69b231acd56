"""The manual HTTP API, as plain values: ``GET`` reads status, ``POST`` rotates now.

Routes (the function sits behind a function key; see function_app.py)::

    GET  /api/rotations/{vault}/{name}                    status
    POST /api/rotations/{vault}/{name}                    rotate now
    POST /api/rotations/{vault}/{name}?dry_run=true       report what would happen
    POST /api/rotations/{vault}/{name}?version=<v>        rotate only if <v> is still current
    POST /api/rotations/{vault}/{name}?revoke=true        rotate, retire the old one now
    GET  /api/rotations/{vault}                           every managed secret (one page)
    GET  /api/rotations/{vault}?check=true                ... with the doctor's checks
    GET  /api/rotations/{vault}?format=html               ... as a page (rotation/status_page)

The vault-wide status takes ``page_size`` (1-25) and ``continuation`` (the token of the
previous answer). Answers are JSON (or that page) and never contain a secret value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rotation import fleet, status_page
from rotation.errors import (
    ConfigurationError,
    InvalidName,
    LockBusy,
    LockLost,
    RevokeRefused,
    RotationConflict,
    RotationError,
    SecretNotFound,
    TargetBusy,
    TargetUnavailable,
    VaultNotAllowed,
    VerificationFailed,
)
from rotation.names import shown
from rotation.service import RotationService, log_incident

RETRY_AFTER_SECONDS = "30"
#: The parameters a POST takes; any other is refused (400), see :func:`_refuse_unknown`.
POST_PARAMETERS = ("dry_run", "version", "revoke")
#: Where a caller may pass the function key (the host reads it in any case); the Functions
#: host checks it, not this module.
FUNCTION_KEY_PARAMETER = "code"
TRUE_WORDS = frozenset({"1", "true", "yes"})
FALSE_WORDS = frozenset({"0", "false", "no"})


@dataclass(frozen=True)
class HttpReply:
    """A status code, a JSON body and extra headers; ``html``: answer that page instead."""

    status: int
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)
    html: str | None = None


def handle_request(
    service: RotationService,
    method: str,
    vault: str,
    name: str,
    params: Mapping[str, str],
) -> HttpReply:
    """Serve one API call; every failure becomes a JSON error with the matching status.

    Statuses: 400 for malformed input (a vault, secret name, ``version`` or ``dry_run`` that
    could never be valid, a POST parameter of another name) and bad configuration; 404 for a
    vault that is not configured or a secret that does not exist; 405 for another method; 409
    while another instance rotates the secret or when its lock lapsed (both with
    ``Retry-After``), and for states an operator must resolve (including a candidate the target
    refused); 503 with ``Retry-After`` for an unavailable dependency and any other retryable
    error; 500 only for a bug (logged with an incident id that the answer names).
    ``revoke=true`` refused for the secret's strategy: 409 ``RevokeRefused``; the target's
    blast-radius limit reached: 429 with ``Retry-After``.
    """

    def serve() -> HttpReply:
        if method == "GET":
            return HttpReply(200, service.status(vault, name))
        if method == "POST":
            _refuse_unknown(params, POST_PARAMETERS)
            outcome = service.rotate_now(
                vault,
                name,
                dry_run=_flag(params, "dry_run"),
                version=_optional(params, "version"),
                revoke=_flag(params, "revoke"),
            )
            return HttpReply(200, outcome.as_dict())
        return HttpReply(405, _error("MethodNotAllowed", "use GET or POST"), {"Allow": "GET, POST"})

    return answer(serve)


FORMATS = ("json", "html")


def handle_vault_request(
    service: RotationService, method: str, vault: str, params: Mapping[str, str]
) -> HttpReply:
    """``GET /api/rotations/{vault}``: one page of the vault-wide status (:mod:`rotation.fleet`)
    as JSON, or as the status page with ``format=html``. Same statuses as
    :func:`handle_request`; a bad ``page_size``, ``continuation``, ``check`` or ``format``
    is a 400."""

    def serve() -> HttpReply:
        if method != "GET":
            return HttpReply(405, _error("MethodNotAllowed", "use GET"), {"Allow": "GET"})
        form = (_optional(params, "format") or "json").strip().lower()
        if form not in FORMATS:
            raise InvalidName(f"query parameter 'format' must be json or html, got '{shown(form)}'")
        page = service.vault_status(
            vault,
            size=fleet.page_size(_optional(params, "page_size")),
            continuation=_optional(params, "continuation"),
            check=_flag(params, "check"),
        )
        if form == "html":
            return HttpReply(200, {}, status_page.HEADERS, html=status_page.render(page))
        return HttpReply(200, page)

    return answer(serve)


#: How each error is answered, first match wins: (error class, HTTP status, error code,
#: whether the client should retry after ``Retry-After``).
_ANSWERS: tuple[tuple[type[RotationError], int, str, bool], ...] = (
    (VaultNotAllowed, 404, "NotFound", False),
    (SecretNotFound, 404, "NotFound", False),
    (InvalidName, 400, "InvalidInput", False),
    (LockBusy, 409, "RotationInProgress", True),
    (LockLost, 409, "RotationInterrupted", True),
    (RevokeRefused, 409, "RevokeRefused", False),
    (TargetBusy, 429, "TargetBusy", True),
    (RotationConflict, 409, "RotationConflict", False),
    # The target refused the candidate and the current credential stays: a state of the
    # target to look at, not an unavailable dependency.
    (VerificationFailed, 409, "VerificationFailed", False),
    (TargetUnavailable, 503, "TargetUnavailable", True),
    (ConfigurationError, 400, "ConfigurationError", False),
)


def answer(serve: Callable[[], HttpReply]) -> HttpReply:
    """``serve()``, with every failure turned into a JSON error (see :func:`handle_request`)."""
    try:
        return serve()
    except RotationError as error:
        return _error_reply(error)
    except Exception as error:  # noqa: BLE001 - an API answers, it does not crash
        incident = log_incident("rotation API failed", error)
        return HttpReply(500, _error("InternalError", f"unexpected failure, incident {incident}"))


def _error_reply(error: RotationError) -> HttpReply:
    """The answer to ``error`` from :data:`_ANSWERS`; another RotationError is a 503 to
    retry when it is retryable, else a 409, under its class name."""
    for kind, status, code, retry in _ANSWERS:
        if isinstance(error, kind):
            return _json_error(status, code, error, retry=retry)
    retry = error.retryable
    return _json_error(503 if retry else 409, type(error).__name__, error, retry=retry)


def _json_error(status: int, code: str, error: RotationError, *, retry: bool) -> HttpReply:
    return HttpReply(status, _error(code, str(error)), _retry() if retry else {})


def _refuse_unknown(params: Mapping[str, str], known: tuple[str, ...]) -> None:
    """:class:`InvalidName` for a parameter outside ``known`` (and the host's ``code``): a
    misspelt ``dry_run`` (``dry-run``, ``DRY_RUN``) must not be ignored into a rotation."""
    for name in sorted(params):
        if name not in known and name.lower() != FUNCTION_KEY_PARAMETER:
            raise InvalidName(
                f"unknown query parameter '{shown(name)}' (known: {', '.join(known)})"
            )


def _flag(params: Mapping[str, str], name: str) -> bool:
    """A boolean query parameter: absent/empty/false/no/0 or true/yes/1 (any case); anything
    else is an :class:`InvalidName`, so that a typo never turns a dry run into a rotation."""
    raw = _optional(params, name)
    if raw is None:
        return False
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise InvalidName(f"query parameter '{name}' must be true or false, got '{shown(raw)}'")


def _optional(params: Mapping[str, str], name: str) -> str | None:
    """A query parameter as a string, None when absent or empty."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise InvalidName(f"query parameter '{name}' must be text")
    return raw


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _retry() -> dict[str, str]:
    return {"Retry-After": RETRY_AFTER_SECONDS}
