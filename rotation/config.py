"""The typed configuration of one managed secret, parsed once from its Key Vault tags."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from rotation import defaults as D
from rotation import tags as T
from rotation.errors import ConfigurationError
from rotation.numbers import whole_number_tag
from rotation.policy import PasswordPolicy
from rotation.rotator import Rotator, Strategy
from rotation.targets import check_target_text
from rotation.vault import STAGING_SUFFIX
from rotation.windows import Window, parse_windows

#: Longest validity a ``rotation-validity-days`` tag may ask for (ten years).
MAX_VALIDITY_DAYS = 3650


@dataclass(frozen=True)
class SecretConfig:
    """How one secret is rotated. Built only by :func:`parse_config`, so always valid."""

    secret_name: str
    rotator_kind: str
    target: str | None
    strategy: Strategy
    validity_days: int
    admin_secret: str | None
    policy: PasswordPolicy
    consumers: tuple[str, ...] = ()
    options: Mapping[str, str] = field(default_factory=dict)
    #: ``rotation-window``: when sweeps and events may start a rotation (empty: any time).
    windows: tuple[Window, ...] = ()
    #: ``rotation-max-per-target``: rotations in flight on the target host; None: the setting.
    max_per_target: int | None = None


def is_managed(tags: Mapping[str, str] | None) -> bool:
    """Whether a secret opted in to rotation (its current version has ``rotation-rotator``)."""
    return bool(tags) and bool((tags or {}).get(T.ROTATOR, "").strip())


def parse_config(
    secret_name: str, tags: Mapping[str, str], rotator_class: type[Rotator]
) -> SecretConfig:
    """Validate the tags of ``secret_name`` for ``rotator_class``.

    Raises :class:`ConfigurationError` naming the secret and the offending tag. Unknown
    ``rotation-*`` tags that are neither configuration nor state become rotator ``options``
    (``rotation-profile`` -> ``options["profile"]``).
    """
    kind = tags.get(T.ROTATOR, "").strip()
    if not kind:
        raise ConfigurationError("secret is not managed", secret=secret_name, tag=T.ROTATOR)
    if secret_name.lower().endswith(STAGING_SUFFIX) or T.STAGED_FOR in tags:
        raise ConfigurationError(
            f"names ending in '{STAGING_SUFFIX}' (and secrets tagged '{T.STAGED_FOR}') are "
            "staging companions of other secrets and cannot be managed; rename the secret",
            secret=secret_name,
            tag=T.ROTATOR,
        )

    target = _parse_target(secret_name, tags.get(T.TARGET, ""))
    if rotator_class.requires_target and target is None:
        raise ConfigurationError(
            f"rotator '{kind}' needs a target", secret=secret_name, tag=T.TARGET
        )

    strategy = _parse_strategy(secret_name, tags, rotator_class)
    validity = _parse_validity(secret_name, tags)

    admin_secret = tags.get(T.ADMIN_SECRET, "").strip() or None
    if admin_secret is not None and admin_secret.lower() == secret_name.lower():
        # Key Vault names are case-insensitive: "DB" is the secret "db" itself.
        raise ConfigurationError(
            "a secret cannot be its own admin secret", secret=secret_name, tag=T.ADMIN_SECRET
        )
    if rotator_class.requires_admin and admin_secret is None:
        raise ConfigurationError(
            f"rotator '{kind}' needs an admin credential", secret=secret_name, tag=T.ADMIN_SECRET
        )

    policy = rotator_class.default_policy
    if T.PASSWORD_POLICY in tags:
        policy = policy.overridden_by(tags[T.PASSWORD_POLICY], secret=secret_name)
    _check_policy_fits(secret_name, policy, rotator_class)

    consumers = tuple(c.strip() for c in tags.get(T.CONSUMERS, "").split(",") if c.strip())
    windows = parse_windows(secret_name, tags.get(T.WINDOW))
    max_per_target = parse_max_per_target(secret_name, tags.get(T.MAX_PER_TARGET))
    known = T.CONFIG_TAGS | T.STATE_TAGS
    options = {
        name[len(T.PREFIX) :]: value
        for name, value in tags.items()
        if name.startswith(T.PREFIX) and name not in known
    }
    return SecretConfig(
        secret_name=secret_name,
        rotator_kind=kind,
        target=target,
        strategy=strategy,
        validity_days=validity,
        admin_secret=admin_secret,
        policy=policy,
        consumers=consumers,
        options=options,
        windows=windows,
        max_per_target=max_per_target,
    )


MAX_PER_TARGET_LIMIT = 100


def parse_max_per_target(secret_name: str, raw: str | None) -> int | None:
    """The ``rotation-max-per-target`` tag: a whole number from 1 to 100 (None if absent)."""
    text = (raw or "").strip()
    if not text:
        return None
    return whole_number_tag(text, 1, MAX_PER_TARGET_LIMIT, secret=secret_name, tag=T.MAX_PER_TARGET)


def _parse_target(secret_name: str, raw: str) -> str | None:
    """The ``rotation-target`` tag, stripped, or None; refused (without echoing it) when it
    embeds credentials, holds control characters or is absurdly long, for every rotator
    (:func:`rotation.targets.check_target_text`). Rotators parse the rest."""
    return check_target_text(raw, secret=secret_name) or None


def _check_policy_fits(
    secret_name: str, policy: PasswordPolicy, rotator_class: type[Rotator]
) -> None:
    """The policy may only draw characters and lengths the rotator's target can store."""
    unsafe = sorted(
        {c for chars, _ in policy.alphabets() for c in chars}
        & set(rotator_class.unsafe_password_characters)
    )
    if unsafe:
        raise ConfigurationError(
            f"allows {', '.join(repr(c) for c in unsafe)}, which the {rotator_class.kind} "
            "target cannot store; remove them with 'exclude=' or another 'symbol-set='",
            secret=secret_name,
            tag=T.PASSWORD_POLICY,
        )
    if policy.length > rotator_class.max_password_length:
        raise ConfigurationError(
            f"length {policy.length} exceeds the {rotator_class.kind} target's maximum of "
            f"{rotator_class.max_password_length}",
            secret=secret_name,
            tag=T.PASSWORD_POLICY,
        )
    max_bytes = rotator_class.max_password_bytes
    widest = max(
        (len(c.encode("utf-8")) for chars, _ in policy.alphabets() for c in chars), default=1
    )
    if max_bytes is not None and policy.length * widest > max_bytes:
        raise ConfigurationError(
            f"length {policy.length} of characters up to {widest} bytes long could exceed "
            f"the {rotator_class.kind} target's maximum of {max_bytes} bytes (UTF-8): use a "
            "shorter length or ASCII symbols",
            secret=secret_name,
            tag=T.PASSWORD_POLICY,
        )


def _parse_strategy(
    secret_name: str, tags: Mapping[str, str], rotator_class: type[Rotator]
) -> Strategy:
    raw = tags.get(T.STRATEGY, "").strip().lower()
    if not raw:
        return rotator_class.strategies[0]
    try:
        strategy = Strategy(raw)
    except ValueError:
        raise ConfigurationError(
            f"unknown strategy '{raw}' (known: {', '.join(s.value for s in Strategy)})",
            secret=secret_name,
            tag=T.STRATEGY,
        ) from None
    if strategy not in rotator_class.strategies:
        supported = ", ".join(s.value for s in rotator_class.strategies)
        raise ConfigurationError(
            f"rotator '{rotator_class.kind}' does not support strategy '{raw}' "
            f"(supported: {supported})",
            secret=secret_name,
            tag=T.STRATEGY,
        )
    return strategy


def _parse_validity(secret_name: str, tags: Mapping[str, str]) -> int:
    raw = tags.get(T.VALIDITY_DAYS, "").strip()
    if not raw:
        return D.VALIDITY_DAYS
    days = whole_number_tag(raw, 0, MAX_VALIDITY_DAYS, secret=secret_name, tag=T.VALIDITY_DAYS)
    # A validity within Key Vault's SecretNearExpiry warning would make a freshly rotated
    # version "near expiry" at once, and rotate it again and again.
    if days <= D.NEAR_EXPIRY_DAYS:
        raise ConfigurationError(
            f"{days} days would make every new version near expiry at once "
            f"(Key Vault warns {D.NEAR_EXPIRY_DAYS} days ahead): "
            f"use more than {D.NEAR_EXPIRY_DAYS}",
            secret=secret_name,
            tag=T.VALIDITY_DAYS,
        )
    return days
