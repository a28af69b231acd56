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
from typing import Any, ClassVar

from rotation.credential import Credential
from rotation.errors import ConfigurationError, VerificationFailed
from rotation.rotator import UNPARSED, Rotator, RotatorContext, Strategy
from rotators.http_api_key import settings as S
from rotators.http_api_key.client import ApiClient
from rotators.http_api_key.keys import KeyApi
from rotators.http_api_key.settings import ApiKeySettings

log = logging.getLogger(__name__)

#: Fields of a credential's extra that describe one key and are not carried to the next.
KEY_FIELDS = ("key_id", "key_name")


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
        self.api = KeyApi(context, self.settings)

    @classmethod
    def parse_settings(cls, context: RotatorContext) -> ApiKeySettings:
        """Load and validate the profile and the optional base URL override (no network)."""
        super().parse_settings(context)
        return S.parse_settings(context)

    # -- the four steps ---------------------------------------------------------------------

    def generate(self, current: Credential) -> Credential:
        """An intent: empty password, a fresh ``key_name``, no ``key_id``. No network I/O."""
        dropped = {*KEY_FIELDS, *self.profile.create.store}
        extra = {k: v for k, v in current.extra.items() if k not in dropped}
        extra["key_name"] = S.key_name_for(
            self.context.secret_name, self.profile.key_name_max_length
        )
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
        for orphan_id in self.api.find(key_name):
            if orphan_id == current_id:
                continue  # never revoke the key in use, whatever its name
            log.warning(
                "secret %s: revoking key id %s named %s, minted earlier without a recorded answer",
                self.context.secret_name,
                orphan_id,
                key_name,
            )
            self.api.revoke(orphan_id, key_name)
        key, key_id, stored = self.api.create(key_name)
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
        self.api.verify(credential)

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
            ids = self.api.find(old_name)
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
            self.api.revoke(key_id, old_name if isinstance(old_name, str) else "")
            log.info("secret %s: revoked key id %s", self.context.secret_name, key_id)

    def close(self) -> None:
        """Close the HTTP session."""
        self.api.close()

    def client(self) -> ApiClient:
        """The HTTP client of the management calls, made on first use."""
        return self.api.client()

    # -- management calls -------------------------------------------------------------------
