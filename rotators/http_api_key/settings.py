"""The settings of an ``http-api-key`` secret, parsed once from its tags (no network I/O):
the profile (``rotation-profile``), the base URL (``rotation-target`` or the profile's) and
TLS verification (``rotation-tls-ca`` / ``ROTATION_TLS_CA_FILE``); and the unique key names
the rotator mints."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from rotation import tags as T
from rotation.errors import ConfigurationError
from rotation.rotator import RotatorContext
from rotation.targets import check_target_text
from rotation.tls import trust_anchor
from rotators._base import ca_configured
from rotators.http_api_key.loader import load_profile
from rotators.http_api_key.profile import PROFILE_TAG, Profile, check_base_url

TARGET_TAG = T.TARGET
#: Prefix of the key names this rotator mints (a key name, not a tag).
NAME_PREFIX = T.PREFIX


def profile_for(context: RotatorContext) -> Profile:
    """The profile named by the ``rotation-profile`` tag; ``ConfigurationError`` otherwise."""
    name = context.options.get(T.option(T.PROFILE), "").strip()
    if not name:
        raise ConfigurationError(
            "the http-api-key rotator needs a profile name",
            secret=context.secret_name,
            tag=PROFILE_TAG,
        )
    return load_profile(name, secret=context.secret_name)


def base_url_for(context: RotatorContext, profile: Profile) -> str:
    """``rotation-target`` when set (another site of the same API), else the profile's URL."""
    if not context.target:
        return profile.base_url
    target = check_target_text(context.target, secret=context.secret_name)
    problem = check_base_url(target)
    if problem:
        raise ConfigurationError(problem, secret=context.secret_name, tag=TARGET_TAG)
    return target.rstrip("/")


def tls_verify_for(context: RotatorContext) -> str | bool:
    """``requests``' ``verify``: the CA file of ``rotation-tls-ca`` / ``ROTATION_TLS_CA_FILE``
    when one is configured, else ``True`` (the process's trust store, as before)."""
    if ca_configured(context):
        return trust_anchor(context).cafile
    return True


def key_name_for(secret_name: str, max_length: int) -> str:
    """A unique key name ``rotation-<secret>-<8 hex>`` that fits in ``max_length``."""
    suffix = "-" + uuid.uuid4().hex[:8]
    stem = re.sub(r"[^A-Za-z0-9-]", "-", secret_name)
    room = max(0, max_length - len(NAME_PREFIX) - len(suffix))
    return f"{NAME_PREFIX}{stem[:room]}{suffix}"


@dataclass(frozen=True)
class ApiKeySettings:
    """The profile, base URL and TLS verification of one managed secret, parsed once."""

    profile: Profile
    base_url: str
    #: ``requests``' ``verify``: a CA file, or ``True`` for the process's trust store.
    verify: str | bool


def parse_settings(context: RotatorContext) -> ApiKeySettings:
    """Load and validate the profile and the optional base URL override (no network)."""
    profile = profile_for(context)
    return ApiKeySettings(profile, base_url_for(context, profile), tls_verify_for(context))
