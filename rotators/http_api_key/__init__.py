"""The declarative ``http-api-key`` rotator: mint, verify and revoke third-party API keys.

What to call is described by a named profile (see ``README.md`` in this folder); the rotator
itself knows no particular API. Built-in profiles live in ``profiles/``.
"""

from rotators.http_api_key.loader import (
    PROFILES_DIR_SETTING,
    available_profile_names,
    builtin_profile_names,
    load_profile,
)
from rotators.http_api_key.profile import PROFILE_TAG, Profile, ProfileError, parse_profile
from rotators.http_api_key.rotator import HttpApiKeyRotator

__all__ = [
    "PROFILES_DIR_SETTING",
    "PROFILE_TAG",
    "HttpApiKeyRotator",
    "Profile",
    "ProfileError",
    "available_profile_names",
    "builtin_profile_names",
    "load_profile",
    "parse_profile",
]
