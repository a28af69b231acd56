"""Revoke now: replace a leaked credential and make the old one stop working at once.

``POST /api/rotations/{vault}/{name}?revoke=true`` (and ``python -m rotation rotate --revoke``)
rotates without waiting for consumers: a consumer still on the old version breaks, which is
the point when that version leaked. What "the old credential stops working" takes depends on
the strategy:

- **single**: the target has one login; applying the new password already killed the old
  one, so a revoke is one rotation that does not wait for consumers.
- **alternating**: the old login stays alive by design (its password is reset only by the
  next rotation). A revoke therefore rotates *twice* under one lock: the first rotation
  resets the inactive login and commits it, the second resets the login that held the leaked
  password. Both logins end with fresh passwords that Key Vault holds (the current version and
  the one before it); no leaked password works afterwards.
- **multiple**: the new password is added, committed, and the old one removed at once with
  the rotator's ``retire`` (a rotator that keeps no per-password state cannot retire, see
  below).

An unfinished rotation is not an obstacle: a staged candidate is committed first, and the
previous credential of a rotation still waiting for its consumers is retired at once too.

Refused (:class:`~rotation.errors.RevokeRefused`, HTTP 409, nothing touched) where no target
can be told to forget the old value: a rotator without a target (``random``: the value is
only shared by its consumers) and the multiple strategy of a rotator that does not implement
``retire``.

Every revoke publishes ``KeyVault.Rotation.Revoked`` (an alert: consumers may break).
"""

from __future__ import annotations

from rotation.config import SecretConfig
from rotation.rotator import Rotator, Strategy


def refusal(config: SecretConfig, rotator_class: type[Rotator]) -> str | None:
    """Why ``config`` cannot be revoked, or None when it can (see the module docs)."""
    retires = rotator_class.retire is not Rotator.retire
    if config.target is None and not retires:
        return (
            f"rotator '{rotator_class.kind}' has no target that could be told to forget the "
            "old value; rotate it (POST without revoke) and update its consumers"
        )
    if config.strategy is Strategy.MULTIPLE and not retires:
        return (
            f"rotator '{rotator_class.kind}' cannot retire a password under the multiple "
            "strategy, so the old one would stay valid"
        )
    return None


def rounds(config: SecretConfig) -> int:
    """How many rotations a revoke needs so that no old password works (alternating: two)."""
    return 2 if config.strategy is Strategy.ALTERNATING else 1
