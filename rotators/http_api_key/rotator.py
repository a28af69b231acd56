"""The ``http-api-key`` rotator: API keys minted and revoked through a third-party HTTP API.

Tags of a managed secret::

    rotation-rotator      = http-api-key
    rotation-profile      = datadog            (a built-in or ROTATION_PROFILES_DIR profile)
    rotation-admin-secret = <secret with the management credential>
    rotation-target       = https://api.datadoghq.eu   (optional: overrides the base URL)

Strategy ``multiple``: keys live side by side. The managed secret's value is JSON
``{"password": <key>, "key_id": ..., "key_name": ..., ...}``; ``key_id`` is what lets
:meth:`HttpApiKeyRotator.retire` revoke the old key later.

Steps:

- :meth:`~HttpApiKeyRotator.generate` cannot invent a key: it returns an *intent*, an empty
  password with a fresh unique ``key_name`` (``rotation-<secret>-<8 hex>``) and no ``key_id``.
- :meth:`~HttpApiKeyRotator.apply` mints the key under that name and returns the minted
  credential. If the intent was minted before but the answer was lost (a crash, a timeout),
  the orphan is found by its unique name, revoked, and a key minted again. A candidate that
  already carries a key and a key id is returned unchanged.
- :meth:`~HttpApiKeyRotator.verify` sends the profile's verify request with the key.
- :meth:`~HttpApiKeyRotator.retire` revokes the old key by id; "not found" counts as done.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import ConfigurationError, VerificationFailed
from rotation.rotator import UNPARSED, Rotator, RotatorContext, Strategy
from rotation.targets import check_target_text
from rotation.tls import CA_OPTION, CA_SETTING, trust_anchor
from rotators.http_api_key.client import ApiClient, ApiResponse
from rotators.http_api_key.loader import load_profile
from rotators.http_api_key.profile import PROFILE_TAG, Profile, RequestSpec, check_base_url
from rotators.http_api_key.templates import MissingValue, render, resolve

log = logging.getLogger(__name__)

ADMIN_TAG = T.ADMIN_SECRET
TARGET_TAG = T.TARGET
#: Fields of a credential's extra that describe one key and are not carried to the next.
KEY_FIELDS = ("key_id", "key_name")
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
    if CA_OPTION in context.options or os.environ.get(CA_SETTING, "").strip():
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


class HttpApiKeyRotator(Rotator):
    """Rotates an API key through the HTTP API a profile describes (see the module doc)."""

    kind: ClassVar[str] = "http-api-key"
    strategies: ClassVar[tuple[Strategy, ...]] = (Strategy.MULTIPLE,)
    requires_target: ClassVar[bool] = False
    requires_admin: ClassVar[bool] = True

    settings: ApiKeySettings

    def __init__(self, context: RotatorContext, settings: Any = UNPARSED) -> None:
        super().__init__(context)
        self.settings = self.settings_for(context, settings)
        self.profile, self.base_url = self.settings.profile, self.settings.base_url
        self._verify = self.settings.verify
        self._client: ApiClient | None = None

    @classmethod
    def parse_settings(cls, context: RotatorContext) -> ApiKeySettings:
        """Load and validate the profile and the optional base URL override (no network)."""
        super().parse_settings(context)
        profile = profile_for(context)
        return ApiKeySettings(profile, base_url_for(context, profile), tls_verify_for(context))

    # -- the four steps ---------------------------------------------------------------------

    def generate(self, current: Credential) -> Credential:
        """An intent: empty password, a fresh ``key_name``, no ``key_id``. No network I/O."""
        dropped = {*KEY_FIELDS, *self.profile.create.store}
        extra = {k: v for k, v in current.extra.items() if k not in dropped}
        extra["key_name"] = key_name_for(self.context.secret_name, self.profile.key_name_max_length)
        return Credential(password="", username=current.username, extra=extra)

    def apply(self, current: Credential, candidate: Credential) -> Credential:
        """Mint the key named by ``candidate``; return it (password = key, extra with
        ``key_id``). Keys already minted under that name without a recorded answer are
        revoked first. A candidate that already has a key and a ``key_id`` is returned as is.
        """
        if candidate.password and candidate.extra.get("key_id"):
            return candidate
        key_name = candidate.extra.get("key_name")
        if not isinstance(key_name, str) or not key_name:
            raise ConfigurationError(
                "the candidate carries no 'key_name' (it was not made by generate)",
                secret=self.context.secret_name,
            )
        current_id = str(current.extra.get("key_id") or "")
        for orphan_id in self._find(key_name):
            if orphan_id == current_id:
                continue  # never revoke the key in use, whatever its name
            log.warning(
                "secret %s: revoking key id %s named %s, minted earlier without a recorded answer",
                self.context.secret_name,
                orphan_id,
                key_name,
            )
            self._revoke(orphan_id, key_name)
        key, key_id, stored = self._create(key_name)
        log.info(
            "secret %s: profile %s minted key id %s named %s",
            self.context.secret_name,
            self.profile.name,
            key_id,
            key_name,
        )
        extra: dict[str, Any] = {
            **candidate.extra,
            **stored,
            "key_id": key_id,
            "key_name": key_name,
        }
        return Credential(password=key, username=candidate.username, extra=extra)

    def verify(self, credential: Credential) -> None:
        """Send the profile's verify request with the key; ``VerificationFailed`` if refused
        (401/403, or a 2xx whose JSON does not match ``expect_json``)."""
        if not credential.password:
            raise VerificationFailed(
                f"secret '{self.context.secret_name}': the credential holds no key"
            )
        client = self.client()
        client.add_secret(credential.password)
        spec = self.profile.verify
        values = {
            "key": credential.password,
            **_strings(credential.extra, ("key_id", "key_name")),
        }
        response = client.send("verify", spec.request, values)
        who = f"secret '{self.context.secret_name}': profile '{self.profile.name}' verify"
        if response.status in (401, 403):
            raise VerificationFailed(f"{who}: the key was refused (HTTP {response.status})")
        if not response.ok:
            raise client.refused("verify", spec.request, response)
        for path, expected in spec.expect_json.items():
            try:
                actual = resolve(response.body, path)
            except LookupError:
                raise VerificationFailed(f"{who}: the answer has no '{path}'") from None
            if actual != expected:
                raise VerificationFailed(f"{who}: '{path}' is not {expected!r} in the answer")

    def retire(self, old: Credential, new: Credential) -> None:
        """Revoke ``old``'s key by ``key_id`` (or by its unique ``key_name`` when the id is
        missing and the profile can find keys). Already revoked counts as success. Never
        revokes the key ``new`` holds."""
        new_id = new.extra.get("key_id")
        old_name = old.extra.get("key_name")
        old_id = old.extra.get("key_id")
        if old_id:
            ids = [str(old_id)]
        elif isinstance(old_name, str) and old_name and self.profile.find is not None:
            ids = self._find(old_name)
        else:
            log.warning(
                "secret %s: the old key has no key_id; it cannot be revoked automatically, "
                "revoke it by hand in the %s console",
                self.context.secret_name,
                self.profile.name,
            )
            return
        for key_id in ids:
            if new_id is not None and key_id == str(new_id):
                log.warning(
                    "secret %s: old and new credential share key id %s; not revoked",
                    self.context.secret_name,
                    key_id,
                )
                continue
            self._revoke(key_id, old_name if isinstance(old_name, str) else "")
            log.info("secret %s: revoked key id %s", self.context.secret_name, key_id)

    def close(self) -> None:
        """Close the HTTP session."""
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- management calls -------------------------------------------------------------------

    def client(self) -> ApiClient:
        """The HTTP client, made on first use (secrets to redact: the admin credential's)."""
        if self._client is None:
            admin = self.context.admin
            secrets: list[str | None] = []
            if admin is not None:
                secrets = [admin.password, *_strings(admin.extra, tuple(admin.extra)).values()]
            self._client = ApiClient(
                self.profile,
                self.base_url,
                secret_name=self.context.secret_name,
                secrets=secrets,
                verify=self._verify,
            )
        return self._client

    def _management_headers(self) -> dict[str, str]:
        admin = self.context.admin
        if admin is None:
            raise ConfigurationError(
                "the http-api-key rotator needs an admin secret for management calls",
                secret=self.context.secret_name,
                tag=ADMIN_TAG,
            )
        values = {f"admin.{k}": v for k, v in _strings(admin.extra, tuple(admin.extra)).items()}
        values["admin.password"] = admin.password
        if admin.username is not None:
            values["admin.username"] = admin.username
        headers: dict[str, str] = {}
        for name, template in self.profile.management_headers.items():
            try:
                headers[render(name, values)] = render(template, values)
            except MissingValue as exc:
                raise ConfigurationError(
                    f"the admin secret has no string field '{exc.name.removeprefix('admin.')}' "
                    f"(profile '{self.profile.name}' needs it); store the admin secret as "
                    "JSON with that field",
                    secret=self.context.secret_name,
                    tag=ADMIN_TAG,
                ) from None
        return headers

    def _management(
        self, step: str, spec_request: RequestSpec, values: Mapping[str, str]
    ) -> ApiResponse:
        return self.client().send(
            step, spec_request, values, extra_headers=self._management_headers()
        )

    def _create(self, key_name: str) -> tuple[str, str, dict[str, Any]]:
        spec = self.profile.create
        values = {"key_name": key_name, "secret_name": self.context.secret_name}
        response = self._management("create", spec.request, values)
        if not response.ok:
            raise self.client().refused("create", spec.request, response)
        key = _lookup_string(response.body, spec.key_path)
        key_id = _lookup_string(response.body, spec.id_path)
        if key is not None:
            self.client().add_secret(key)
        if key is None or key_id is None:
            if key_id is not None:  # minted but unusable: do not leave it alive
                self._revoke(key_id, key_name)
            missing = spec.key_path if key is None else spec.id_path
            raise ConfigurationError(
                f"profile '{self.profile.name}' create: the answer has no string at "
                f"'{missing}'; check create.key_path and create.id_path",
                secret=self.context.secret_name,
                tag=PROFILE_TAG,
            )
        stored: dict[str, Any] = {}
        for field_name, path in spec.store.items():
            try:
                stored[field_name] = resolve(response.body, path)
            except LookupError:
                log.info("profile %s: create answer has no '%s'", self.profile.name, path)
        return key, key_id, stored

    def _find(self, key_name: str) -> list[str]:
        """Ids of the keys named exactly ``key_name`` (empty when the profile cannot list)."""
        spec = self.profile.find
        if spec is None:
            return []
        values = {"key_name": key_name, "secret_name": self.context.secret_name}
        response = self._management("find", spec.request, values)
        if not response.ok:
            raise self.client().refused("find", spec.request, response)
        try:
            items = resolve(response.body, spec.items_path)
        except LookupError:
            items = None
        if not isinstance(items, list):
            raise ConfigurationError(
                f"profile '{self.profile.name}' find: the answer has no list at "
                f"'{spec.items_path}'",
                secret=self.context.secret_name,
                tag=PROFILE_TAG,
            )
        found = []
        for item in items:
            if _lookup_string(item, spec.name_path) == key_name:
                key_id = _lookup_string(item, spec.id_path)
                if key_id is not None:
                    found.append(key_id)
        return found

    def _revoke(self, key_id: str, key_name: str) -> None:
        spec = self.profile.revoke
        values = {"key_id": key_id, "key_name": key_name, "secret_name": self.context.secret_name}
        response = self._management("revoke", spec.request, values)
        if response.ok or response.status in spec.gone_statuses:
            return
        raise self.client().refused("revoke", spec.request, response)


def _lookup_string(document: Any, path: str) -> str | None:
    """The value at ``path`` as a string (numbers are converted), or ``None``."""
    try:
        value = resolve(document, path)
    except LookupError:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value)
    return text or None


def _strings(mapping: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    """The entries of ``mapping`` named in ``names`` whose values are non-empty strings."""
    return {n: mapping[n] for n in names if isinstance(mapping.get(n), str) and mapping[n]}
