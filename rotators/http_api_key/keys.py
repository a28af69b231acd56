"""The management protocol of the ``http-api-key`` rotator: what its profile says to send
to create, find, revoke and verify a key, and how to read the answers.

:class:`KeyApi` speaks for one managed secret; the rotator decides which keys to mint and
revoke. Every failure is a rotation error (the client's :meth:`ApiClient.refused`, or a
``ConfigurationError`` naming the profile or the admin secret).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import ConfigurationError, VerificationFailed
from rotation.rotator import RotatorContext
from rotators.http_api_key.client import ApiClient, ApiResponse
from rotators.http_api_key.profile import PROFILE_TAG, RequestSpec
from rotators.http_api_key.settings import ApiKeySettings
from rotators.http_api_key.templates import MissingValue, render, resolve

log = logging.getLogger(__name__)

ADMIN_TAG = T.ADMIN_SECRET


class KeyApi:
    """The profile's API for the keys of one managed secret (a session made on first use)."""

    def __init__(self, context: RotatorContext, settings: ApiKeySettings) -> None:
        self.context = context
        self.profile, self.base_url = settings.profile, settings.base_url
        self._verify = settings.verify
        self._client: ApiClient | None = None

    def close(self) -> None:
        """Close the HTTP session."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def verify(self, credential: Credential) -> None:
        """Send the profile's verify request with the key; ``VerificationFailed`` if refused
        (401/403, or a 2xx whose JSON does not match ``expect_json``)."""
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

    def create(self, key_name: str) -> tuple[str, str, dict[str, Any]]:
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
                self.revoke(key_id, key_name)
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

    def find(self, key_name: str) -> list[str]:
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

    def revoke(self, key_id: str, key_name: str) -> None:
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
