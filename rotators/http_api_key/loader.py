"""Find profiles by name: built-ins shipped in ``profiles/`` and the operator's own directory.

Operators add profiles as ``<name>.json`` files in the directory named by the app setting
``ROTATION_PROFILES_DIR``. A file there overrides a built-in profile of the same name. The
``name`` field of a file must equal its file name without ``.json``.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from rotators.http_api_key.profile import PROFILE_NAME, Profile, ProfileError, parse_profile

PROFILES_DIR_SETTING = "ROTATION_PROFILES_DIR"
MAX_PROFILE_BYTES = 256 * 1024


def builtin_profile_names() -> list[str]:
    """Names of the profiles that ship with the package, sorted."""
    folder = resources.files("rotators.http_api_key").joinpath("profiles")
    return sorted(
        entry.name[: -len(".json")] for entry in folder.iterdir() if entry.name.endswith(".json")
    )


def user_profiles_dir(environ: dict[str, str] | None = None) -> Path | None:
    """The directory named by ``ROTATION_PROFILES_DIR``, or ``None`` when it is not set."""
    value = (os.environ if environ is None else environ).get(PROFILES_DIR_SETTING, "").strip()
    return Path(value) if value else None


def available_profile_names(profiles_dir: Path | None = None) -> list[str]:
    """Built-in names plus the names of ``*.json`` files in ``profiles_dir``, sorted."""
    names = set(builtin_profile_names())
    if profiles_dir is not None and profiles_dir.is_dir():
        names.update(p.stem for p in profiles_dir.glob("*.json"))
    return sorted(names)


def _parse_text(text: str, name: str, source: str, secret: str | None) -> Profile:
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise ProfileError(
            f"not valid JSON: {exc.args[0] if exc.args else exc}",
            profile=name,
            source=source,
            secret=secret,
        ) from None
    profile = parse_profile(data, source=source, secret=secret)
    if profile.name != name:
        raise ProfileError(
            f"its 'name' is '{profile.name}' but it is loaded as '{name}'",
            profile=name,
            source=source,
            secret=secret,
        )
    return profile


def load_profile(
    name: str, *, profiles_dir: Path | None = None, secret: str | None = None
) -> Profile:
    """The validated profile called ``name``: from ``profiles_dir`` if a file is there, else
    the built-in one.

    ``profiles_dir`` defaults to the ``ROTATION_PROFILES_DIR`` app setting. Raises
    :class:`ProfileError` (a ``ConfigurationError`` naming the ``rotation-profile`` tag and
    ``secret``) for an unknown name, an unreadable file or an invalid profile.
    """
    if profiles_dir is None:
        profiles_dir = user_profiles_dir()
    if not PROFILE_NAME.match(name):
        raise ProfileError(
            f"'{name}' is not a profile name (letters, digits, '-' and '_')", secret=secret
        )
    if profiles_dir is not None:
        path = profiles_dir / f"{name}.json"
        if path.is_file():
            try:
                if path.stat().st_size > MAX_PROFILE_BYTES:
                    raise ProfileError("file too large", profile=name, source=str(path))
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ProfileError(
                    f"cannot read: {type(exc).__name__}",
                    profile=name,
                    source=str(path),
                    secret=secret,
                ) from None
            return _parse_text(text, name, str(path), secret)
    builtin = resources.files("rotators.http_api_key").joinpath("profiles").joinpath(f"{name}.json")
    if builtin.is_file():
        return _parse_text(builtin.read_text(encoding="utf-8"), name, "builtin", secret)
    known = ", ".join(available_profile_names(profiles_dir)) or "none"
    raise ProfileError(f"unknown profile '{name}' (available: {known})", secret=secret)
