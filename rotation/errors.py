"""Exceptions that drive the engine's control flow.

Every exception raised by a rotator or the engine is one of these. Messages never contain a
secret value: rotators build them from identifiers (user names, hosts) and sanitized driver
errors only (see :func:`rotation.sanitize.sanitize_error`).
"""

from __future__ import annotations


class RotationError(Exception):
    """Base class of every error the engine understands."""

    #: Whether a later attempt (event redelivery, queue retry, next sweep) can succeed.
    retryable: bool = False


class ConfigurationError(RotationError):
    """The secret's tags, an app setting or an admin credential is wrong. Retrying cannot help.

    ``secret`` and ``tag`` name what to fix, when known.
    """

    def __init__(self, message: str, *, secret: str | None = None, tag: str | None = None):
        self.secret = secret
        self.tag = tag
        where = []
        if secret:
            where.append(f"secret '{secret}'")
        if tag:
            where.append(f"tag '{tag}'")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(f"{prefix}{message}")


class TargetUnavailable(RotationError):
    """The target (database, broker, API) or Azure could not be reached. Retry later."""

    retryable = True


class VerificationFailed(RotationError):
    """A credential was applied but logging in with it failed: discard the candidate."""


class LockBusy(RotationError):
    """Another instance holds the secret's rotation lock right now. Retry later."""

    retryable = True


class LockLost(RotationError):
    """The secret's lock lapsed during the rotation (its lease could not be renewed).

    The run stops before its next change to the target or the vault; a later attempt
    resumes from the staged candidate.
    """

    retryable = True


class VerificationPending(RotationError):
    """The target took the new credential but does not accept it yet (propagation delay).

    The staged candidate is kept; a later attempt verifies it again and commits it.
    """

    retryable = True


class RotationConflict(RotationError):
    """The vault or target is in a state the engine will not touch without an operator.

    Raised for example when neither the current nor the staged credential logs in.
    """


class RotatorFailed(RotationError):
    """A rotator raised something outside this tree (a bug, or input it cannot handle).

    The engine's wrapper (:mod:`rotation.guarded`) turns it into this, with secrets redacted.
    Not retried automatically; a staged candidate stays staged, so nothing is lost.
    """
