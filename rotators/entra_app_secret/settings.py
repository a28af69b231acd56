"""Parsing for ``entra-app-secret``: the target, the option tags and the value's fields.

Everything here is pure (no I/O) and refuses hostile input with a ``ConfigurationError``
that names the tag (or the secret, for the value) and never echoes the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from rotation import defaults, targets
from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import ConfigurationError
from rotation.numbers import whole_number_tag
from rotation.rotator import RotatorContext
from rotation.targets import check_target_text

#: Graph and login host per cloud (``rotation-entra-cloud``).
CLOUDS = {
    "public": ("https://graph.microsoft.com", "login.microsoftonline.com"),
    "usgov": ("https://graph.microsoft.us", "login.microsoftonline.us"),
    "china": ("https://microsoftgraph.chinacloudapi.cn", "login.chinacloudapi.cn"),
}
MAX_SECRET_DAYS = 3650
GUID = re.compile(targets.GUID)
#: A tenant id: a GUID or a verified domain name.
TENANT = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
#: The display names this rotator gives the secrets it adds (``rotation-<secret>-<8 hex>``).
MARKER = re.compile(rf"{T.PREFIX}[A-Za-z0-9-]{{1,120}}")
EXPECTED_TARGET = "an application object id (GUID) or appId=<application (client) id>"


@dataclass(frozen=True)
class EntraSettings:
    """The application, the cloud and the lifetime of new secrets, parsed once."""

    #: Graph path of the application: ``applications/<id>`` or ``applications(appId='..')``.
    app_path: str
    graph_url: str
    login_host: str
    lifetime: timedelta


def parse_app_path(target: str | None, *, secret: str | None) -> str:
    """The Graph path of ``rotation-target``; ``ConfigurationError`` (value not echoed)."""
    text = check_target_text(target, secret=secret) if target else ""
    key, _, value = text.partition("=")
    if value and key.strip().lower() == "appid" and GUID.fullmatch(value.strip()):
        return f"applications(appId='{value.strip().lower()}')"
    if not value and GUID.fullmatch(text.strip()):
        return f"applications/{text.strip().lower()}"
    raise ConfigurationError(f"expected {EXPECTED_TARGET}", secret=secret, tag=T.TARGET)


def parse_settings(context: RotatorContext) -> EntraSettings:
    """Target, ``rotation-entra-cloud`` and ``rotation-entra-secret-days``."""
    secret = context.secret_name
    cloud = context.options.get(T.option(T.ENTRA_CLOUD), defaults.ENTRA_CLOUD).strip().lower()
    if cloud not in CLOUDS:
        raise ConfigurationError(
            f"unknown cloud (known: {', '.join(CLOUDS)})", secret=secret, tag=T.ENTRA_CLOUD
        )
    days_text = context.options.get(T.option(T.ENTRA_SECRET_DAYS), str(defaults.ENTRA_SECRET_DAYS))
    days = whole_number_tag(days_text, 1, MAX_SECRET_DAYS, secret=secret, tag=T.ENTRA_SECRET_DAYS)
    graph_url, login_host = CLOUDS[cloud]
    path = parse_app_path(context.target, secret=secret)
    return EntraSettings(path, graph_url, login_host, timedelta(days=days))


def value_field(credential: Credential, name: str, pattern: re.Pattern[str], secret: str) -> str:
    """The value's string field ``name`` if it matches ``pattern``; else
    ``ConfigurationError`` (the value is not what this rotator stores)."""
    value = credential.extra.get(name)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ConfigurationError(
            f"the value needs a valid '{name}' field (JSON with tenant_id, client_id, "
            "password, key_id)",
            secret=secret,
        )
    return value
