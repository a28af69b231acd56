"""Every exception of the app, in one place; the tree drives the engine's control flow.

Messages never contain a secret value: they are built from identifiers (user names, hosts)
and sanitized driver errors only (:func:`rotation.sanitize.sanitize_error`), and the engine's
wrapper (:mod:`rotation.guarded`) redacts what a rotator lets through. ``R`` marks the
retryable ones (``retryable = True``: Event Grid redelivers, the queue retries, the sweep
comes back; HTTP answers 503, or 409 for the lock, with ``Retry-After``)::

    RotationError
    ├── ConfigurationError            tags, settings or input are wrong: fix, don't retry (400)
    │   ├── SecretNotFound            the secret or version does not exist (404)
    │   ├── SecretDisabled            the version is disabled
    │   ├── VaultNotAllowed           the vault is not in ROTATION_VAULTS (404)
    │   ├── InvalidName               a name, version or vault URL Key Vault never issues
    │   ├── MalformedEvent            an Event Grid event this app cannot act on
    │   └── CompanionCollision        the staging companion's name belongs to someone else
    ├── TargetUnavailable         R   the target, Azure or lock storage cannot be reached
    ├── LockBusy                  R   another instance rotates the secret right now (409)
    ├── LockLost                  R   this run can no longer prove it holds the lock (409)
    ├── TargetBusy                R   the target host has its limit of rotations in flight
    ├── VerificationPending       R   the target took the candidate but refuses it so far
    ├── VerificationFailed            the candidate was refused and discarded (409)
    ├── RotationConflict              state the engine will not touch alone (409)
    │   ├── CompanionDeleted          the companion holding an open candidate is soft-deleted
    │   └── RevokeRefused             revoke asked of a rotator/strategy that cannot retire
    └── RotatorFailed                 a rotator raised outside this tree (a bug)

Programming errors at start-up (not RotationError): ``DuplicateRotatorError`` and
``DuplicateCheckError``, two plugins claiming one kind.
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


class TargetBusy(RotationError):
    """The target host already has its limit of rotations in flight (blast-radius limit).

    Nothing was changed; the queue worker defers the message, other triggers retry later.
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


class VaultNotAllowed(ConfigurationError):
    """The vault is not listed in ROTATION_VAULTS: the app never touches it."""


class CompanionCollision(ConfigurationError):
    """The companion's name is taken by a secret that is not this secret's companion."""


class CompanionDeleted(RotationConflict):
    """The companion is soft-deleted while it holds an open candidate of the current version.

    The target may already use that candidate: recover the companion
    (``az keyvault secret recover``) and the next run commits or discards it.
    """


class RevokeRefused(RotationConflict):
    """Revoke asked of a rotator or strategy that cannot make an old credential stop working
    (see :mod:`rotation.revoke`). Nothing was touched."""


class InvalidName(ConfigurationError):
    """A vault name or URL, secret name or version id that Key Vault would never issue."""


class MalformedEvent(ConfigurationError):
    """The event is not a Key Vault secret event this app can act on. Never retried."""


class SecretNotFound(ConfigurationError):
    """The secret (or the version asked for) does not exist or is deleted."""


class SecretDisabled(ConfigurationError):
    """The version asked for is disabled, so Key Vault will not return its value."""


class DuplicateRotatorError(ValueError):
    """Two rotator classes claim the same kind."""


class DuplicateCheckError(ValueError):
    """Two check classes claim the same kind."""
