"""The Key Vault secrets REST API over the emulated vaults, as ``azure-keyvault-secrets`` uses it.

Every request goes: route (operation and secret name) -> api-version check -> bearer token
(challenge 401 when missing; :meth:`IdentityService.validate` with audience
``https://vault.azure.net``) -> RBAC data action for the caller's ``oid`` -> the operation on
the :class:`~emulators.keyvault.store.VaultStore`. Every failure is Key Vault's JSON error, never
a traceback. Vaults are served at ``https://<name>.vault.azure.net``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from emulators.clock import Clock
from emulators.events import SecretChange, SecretVersionInfo
from emulators.faults import Operation
from emulators.identity import IdentityService, InvalidToken
from emulators.keyvault import errors
from emulators.keyvault import wire_format as fmt
from emulators.keyvault.errors import KeyVaultError
from emulators.keyvault.rbac import OPERATION_ACTIONS, role_allows
from emulators.keyvault.store import NAME_RE, Page, SecretVersion, VaultStore
from emulators.wire import Request, Response

log = logging.getLogger(__name__)

HOST_SUFFIX = ".vault.azure.net"
HOST_PATTERN = "*" + HOST_SUFFIX
AUDIENCE = "https://vault.azure.net"
API_VERSIONS = frozenset(
    {
        "2016-10-01",
        "7.0",
        "7.1",
        "7.2",
        "7.3",
        "7.4",
        "7.5",
        "7.6",
        "2025-07-01",
        "2026-04-01",
    }
)
LATEST_API_VERSION = "2026-04-01"
DEFAULT_PAGE = 25
LIST_OPERATIONS = frozenset({"list_secrets", "list_secret_versions", "list_deleted_secrets"})
BACKUP_MAGIC = b"EMUKV1"

Listener = Callable[[SecretChange], None]


@dataclass(frozen=True)
class KeyVaultCall:
    """One request the emulated Key Vault answered (faults injected by the proxy never get
    here). ``challenge`` marks the unauthenticated first request of the SDK's challenge flow."""

    vault: str
    operation: str | None
    secret: str | None
    status: int
    challenge: bool


def encode_skiptoken(marker: str) -> str:
    """The ``$skiptoken`` of a ``nextLink``: base64url of Key Vault's marker JSON, unpadded."""
    raw = json.dumps({"NextMarker": marker, "TargetLocation": 0}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_skiptoken(token: str) -> str:
    """The marker inside a ``$skiptoken`` (400 BadParameter for anything else)."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise errors.bad_parameter("Invalid $skiptoken.") from exc
    marker = decoded.get("NextMarker") if isinstance(decoded, dict) else None
    if not isinstance(marker, str) or not marker:
        raise errors.bad_parameter("Invalid $skiptoken.")
    return marker


def _name_marker(marker: str | None) -> str | None:
    if marker is not None and not NAME_RE.match(marker):
        raise errors.bad_parameter("Invalid $skiptoken.")
    return None if marker is None else marker.lower()


def _index_marker(marker: str | None) -> str | None:
    if marker is not None and not (marker.isascii() and marker.isdigit() and len(marker) <= 9):
        raise errors.bad_parameter("Invalid $skiptoken.")
    return marker


def _info(version: SecretVersion) -> SecretVersionInfo:
    return SecretVersionInfo(
        vault=version.vault,
        name=version.name,
        version=version.version,
        enabled=version.enabled,
        not_before=version.not_before,
        expires=version.expires,
    )


class KeyVaultService:
    """Emulated Key Vault data plane for every vault in one :class:`VaultStore`. Thread-safe."""

    def __init__(self, clock: Clock, identity: IdentityService) -> None:
        self.clock = clock
        self.identity = identity
        self.store = VaultStore(clock)
        self._listeners: list[Listener] = []
        self._listeners_lock = threading.Lock()
        self._backup_key = AESGCM(AESGCM.generate_key(bit_length=256))
        self._recorders: list[list[KeyVaultCall]] = []

    # -- administration and test helpers (no HTTP) ------------------------------------------

    def create_vault(self, name: str) -> str:
        """Create a vault; returns its URL ``https://<name>.vault.azure.net``."""
        self.store.create_vault(name)
        return fmt.vault_url(name.lower())

    def assign_role(self, vault: str, principal_id: str, role: str) -> None:
        """Grant a built-in role (see :data:`emulators.keyvault.rbac.ROLES`) on a vault."""
        self.store.assign_role(vault, principal_id, role)

    def remove_role(self, vault: str, principal_id: str, role: str) -> None:
        """Revoke a role on a vault."""
        self.store.remove_role(vault, principal_id, role)

    def versions(self, vault: str, name: str) -> list[SecretVersion]:
        """Every version of a secret, oldest first (what tests assert on)."""
        return self.store.list_versions(vault, name)

    def get_value(self, vault: str, name: str, version: str | None = None) -> str:
        """A secret's value (current version by default), disabled or not."""
        return self.store.peek(vault, name, version).value

    def add_listener(self, fn: Listener) -> None:
        """Call ``fn(change)`` for every new version (set and restore), outside any lock."""
        with self._listeners_lock:
            self._listeners.append(fn)

    @contextmanager
    def recording(self) -> Iterator[list[KeyVaultCall]]:
        """Record every request answered while the ``with`` block runs, in order (what tests
        and the benchmark count Key Vault calls with)."""
        calls: list[KeyVaultCall] = []
        with self._listeners_lock:
            self._recorders.append(calls)
        try:
            yield calls
        finally:
            with self._listeners_lock:
                self._recorders.remove(calls)

    def current_versions(self) -> list[SecretVersionInfo]:
        """The latest version of every non-deleted secret in every vault."""
        return [_info(v) for v in self.store.current_versions()]

    # -- routing ----------------------------------------------------------------------------

    def describe(self, request: Request) -> Operation | None:
        """The operation a request is (for fault matching and RBAC), or ``None`` if unknown."""
        parts = request.path.strip("/").split("/") if request.path.strip("/") else []
        trailing = request.path.endswith("/")
        method = request.method
        if not parts:
            return None
        collection, rest = parts[0].lower(), parts[1:]
        if collection == "secrets":
            if not rest:
                return Operation("list_secrets") if method == "GET" else None
            if rest == ["restore"] and method == "POST":
                return Operation("restore_secret")
            name = rest[0]
            if len(rest) == 1:
                if method == "PUT":
                    return Operation("set_secret", name)
                if method == "DELETE":
                    return Operation("delete_secret", name)
                if method == "GET":
                    return Operation("get_secret", name)
                if method == "PATCH" and trailing:
                    return Operation("update_secret", name)
                return None
            if len(rest) == 2:
                if rest[1] == "versions" and method == "GET":
                    return Operation("list_secret_versions", name)
                if rest[1] == "backup" and method == "POST":
                    return Operation("backup_secret", name)
                if method == "GET":
                    return Operation("get_secret", name)
                if method == "PATCH":
                    return Operation("update_secret", name)
            return None
        if collection == "deletedsecrets":
            if not rest:
                return Operation("list_deleted_secrets") if method == "GET" else None
            name = rest[0]
            if len(rest) == 1 and method == "GET":
                return Operation("get_deleted_secret", name)
            if len(rest) == 1 and method == "DELETE":
                return Operation("purge_deleted_secret", name)
            if rest[1:] == ["recover"] and method == "POST":
                return Operation("recover_deleted_secret", name)
        return None

    def handle(self, request: Request) -> Response:
        """Answer one Key Vault request (see the module docstring for the order of checks)."""
        try:
            response = self._handle(request)
        except KeyVaultError as exc:
            response = exc.response()
        if self._recorders:
            self._record(request, response.status)
        return response

    def _record(self, request: Request, status: int) -> None:
        operation = self.describe(request)
        call = KeyVaultCall(
            vault=request.host.lower().removesuffix(HOST_SUFFIX),
            operation=operation.name if operation else None,
            secret=operation.secret if operation else None,
            status=status,
            challenge=status == 401 and "authorization" not in request.headers,
        )
        with self._listeners_lock:
            for calls in self._recorders:
                calls.append(call)

    def _handle(self, request: Request) -> Response:
        vault = request.host.lower().removesuffix(HOST_SUFFIX)
        operation = self.describe(request)
        if operation is None:
            raise KeyVaultError(
                400, "BadParameter", f"Unsupported method or path: {request.method}."
            )
        api_version = request.query.get("api-version")
        if api_version not in API_VERSIONS:
            raise errors.bad_parameter(
                f"The specified version ({api_version or ''}) is not recognized. Consider using "
                f"the latest supported version ({LATEST_API_VERSION})."
            )
        claims = self._authenticate(request)
        if not self.store.has_vault(vault):
            raise KeyVaultError(404, "VaultNotFound", f"Vault {vault} does not exist.")
        self._authorize(vault, claims, operation)
        handler = getattr(self, f"_op_{operation.name}")
        response: Response = handler(request, vault, operation.secret)
        return response

    # -- authentication and authorisation ---------------------------------------------------

    def _challenge_headers(self) -> dict[str, str]:
        return {
            "WWW-Authenticate": (
                f'Bearer authorization="https://login.microsoftonline.com/{self.identity.tenant_id}",'
                f' resource="{AUDIENCE}"'
            )
        }

    def _authenticate(self, request: Request) -> dict[str, Any]:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise KeyVaultError(
                401,
                "Unauthorized",
                "AKV10000: Request is missing a Bearer or PoP token.",
                headers=self._challenge_headers(),
            )
        if scheme.lower() != "bearer" or not token.strip():
            raise KeyVaultError(
                401,
                "Unauthorized",
                "AKV10001: Unsupported authorization scheme.",
                headers=self._challenge_headers(),
            )
        try:
            return self.identity.validate(token.strip(), AUDIENCE)
        except InvalidToken as exc:
            raise KeyVaultError(
                401,
                "Unauthorized",
                f"AKV10032: Invalid token: {exc.reason}.",
                headers=self._challenge_headers(),
            ) from exc

    def _authorize(self, vault: str, claims: dict[str, Any], operation: Operation) -> None:
        action = OPERATION_ACTIONS[operation.name]
        principal = str(claims.get("oid", ""))
        roles = self.store.roles_of(vault, principal)
        if any(role_allows(role, action) for role in roles):
            return
        resource = f"/vaults/{vault}/secrets/{operation.secret or ''}".rstrip("/")
        raise KeyVaultError(
            403,
            "Forbidden",
            "Caller is not authorized to perform action on resource.\r\n"
            "If role assignments, deny assignments or role definitions were changed recently, "
            "please observe propagation time.\r\n"
            f"Caller: appid={claims.get('appid', '')};oid={principal}\r\n"
            f"Action: '{action}'\r\n"
            f"Resource: '{resource}'\r\n"
            "Assignment: (not found)\r\n"
            "DecisionReason: 'DeniedWithNoValidRBAC' \r\n"
            f"Vault: {vault};location=local\r\n",
            "ForbiddenByRbac",
        )

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        try:
            payload = request.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.bad_parameter("The request body is not valid JSON.") from exc
        if not isinstance(payload, dict):
            raise errors.bad_parameter("The request body must be a JSON object.")
        return payload

    @staticmethod
    def _attribute_changes(payload: dict[str, Any]) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        attrs = payload.get("attributes")
        if attrs is not None:
            if not isinstance(attrs, dict):
                raise errors.bad_parameter("attributes must be a JSON object.")
            if "enabled" in attrs:
                if not isinstance(attrs["enabled"], bool):
                    raise errors.bad_parameter("attributes.enabled must be a boolean.")
                changes["enabled"] = attrs["enabled"]
            if "nbf" in attrs:
                changes["not_before"] = fmt.from_epoch(attrs["nbf"], "nbf")
            if "exp" in attrs:
                changes["expires"] = fmt.from_epoch(attrs["exp"], "exp")
        if "contentType" in payload:
            content_type = payload["contentType"]
            if content_type is not None and not isinstance(content_type, str):
                raise errors.bad_parameter("contentType must be a string.")
            changes["content_type"] = content_type
        if "tags" in payload:
            changes["tags"] = payload["tags"]
        return changes

    def _notify(self, version: SecretVersion) -> None:
        change = SecretChange("SecretNewVersionCreated", _info(version))
        with self._listeners_lock:
            listeners = list(self._listeners)
        for fn in listeners:
            try:
                fn(change)
            except Exception:
                log.exception("secret change listener failed")

    def _page(
        self,
        request: Request,
        fetch: Callable[[str | None, int], Page[Any]],
        render: Callable[[Any], dict[str, Any]],
    ) -> Response:
        """One page of a listing: ``fetch(marker, size)`` reads only that page from the store.

        Continuation is Key Vault's: ``nextLink`` carries ``$skiptoken``, an opaque base64 of
        ``{"NextMarker": ..., "TargetLocation": 0}`` naming where the next page starts, and
        the SDK follows ``nextLink`` as given.
        """
        query = request.query
        raw_max = query.get("maxresults")
        size = DEFAULT_PAGE
        if raw_max is not None:
            if not raw_max.isdigit() or not 1 <= int(raw_max) <= DEFAULT_PAGE:
                raise errors.bad_parameter(
                    f"Invalid maxresults: must be between 1 and {DEFAULT_PAGE}."
                )
            size = int(raw_max)
        token = query.get("$skiptoken")
        page = fetch(None if token is None else decode_skiptoken(token), size)
        next_link = None
        if page.next_marker is not None:
            next_link = (
                f"https://{request.host}{request.path}?api-version="
                f"{quote(query.get('api-version', LATEST_API_VERSION))}"
                f"&$skiptoken={encode_skiptoken(page.next_marker)}&maxresults={size}"
            )
        return Response.json(200, {"value": [render(i) for i in page.items], "nextLink": next_link})

    # -- operations -------------------------------------------------------------------------

    def _op_set_secret(self, request: Request, vault: str, name: str | None) -> Response:
        assert name is not None
        payload = self._body(request)
        value = payload.get("value")
        if not isinstance(value, str):
            raise errors.bad_parameter("The secret value is missing or is not a string.")
        changes = self._attribute_changes(payload)
        version = self.store.set(
            vault,
            name,
            value,
            content_type=changes.get("content_type"),
            enabled=changes.get("enabled", True),
            not_before=changes.get("not_before"),
            expires=changes.get("expires"),
            tags=changes.get("tags"),
        )
        self._notify(version)
        return Response.json(200, fmt.bundle(version))

    def _version_of(self, request: Request) -> str | None:
        parts = request.path.strip("/").split("/")
        return parts[2] if len(parts) > 2 and parts[2] else None

    def _op_get_secret(self, request: Request, vault: str, name: str | None) -> Response:
        assert name is not None
        version = self.store.get(vault, name, self._version_of(request))
        return Response.json(200, fmt.bundle(version))

    def _op_update_secret(self, request: Request, vault: str, name: str | None) -> Response:
        assert name is not None
        changes = self._attribute_changes(self._body(request))
        version = self.store.update(vault, name, self._version_of(request), changes)
        return Response.json(200, fmt.bundle(version, with_value=False))

    def _op_list_secrets(self, request: Request, vault: str, name: str | None) -> Response:
        return self._page(
            request,
            lambda marker, size: self.store.secrets_page(vault, _name_marker(marker), size),
            lambda v: fmt.item(v, versioned=False),
        )

    def _op_list_secret_versions(self, request: Request, vault: str, name: str | None) -> Response:
        assert name is not None
        return self._page(
            request,
            lambda marker, size: self.store.versions_page(vault, name, _index_marker(marker), size),
            lambda v: fmt.item(v, versioned=True),
        )

    def _op_delete_secret(self, request: Request, vault: str, name: str | None) -> Response:
        assert name is not None
        return Response.json(200, fmt.deleted(self.store.delete(vault, name)))

    def _op_get_deleted_secret(self, request: Request, vault: str, name: str | None) -> Response:
        assert name is not None
        return Response.json(200, fmt.deleted(self.store.get_deleted(vault, name)))

    def _op_list_deleted_secrets(self, request: Request, vault: str, name: str | None) -> Response:
        return self._page(
            request,
            lambda marker, size: self.store.deleted_page(vault, _name_marker(marker), size),
            lambda d: fmt.deleted(d, as_item=True),
        )

    def _op_recover_deleted_secret(
        self, request: Request, vault: str, name: str | None
    ) -> Response:
        assert name is not None
        return Response.json(200, fmt.bundle(self.store.recover(vault, name), with_value=False))

    def _op_purge_deleted_secret(self, request: Request, vault: str, name: str | None) -> Response:
        assert name is not None
        self.store.purge(vault, name)
        return Response(204)

    def _op_backup_secret(self, request: Request, vault: str, name: str | None) -> Response:
        assert name is not None
        versions = self.store.list_versions(vault, name)
        plain = json.dumps([fmt.version_to_json(v) for v in versions]).encode("utf-8")
        nonce = os.urandom(12)
        blob = BACKUP_MAGIC + nonce + self._backup_key.encrypt(nonce, plain, BACKUP_MAGIC)
        encoded = base64.urlsafe_b64encode(blob).decode().rstrip("=")
        return Response.json(200, {"value": encoded})

    def _op_restore_secret(self, request: Request, vault: str, name: str | None) -> Response:
        payload = self._body(request)
        encoded = payload.get("value")
        if not isinstance(encoded, str):
            raise errors.bad_parameter("The backup blob is missing.")
        try:
            blob = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            if not blob.startswith(BACKUP_MAGIC):
                raise ValueError("not a backup blob")
            nonce = blob[len(BACKUP_MAGIC) : len(BACKUP_MAGIC) + 12]
            plain = self._backup_key.decrypt(nonce, blob[len(BACKUP_MAGIC) + 12 :], BACKUP_MAGIC)
            versions = [fmt.version_from_json(vault, d) for d in json.loads(plain)]
        except (ValueError, binascii.Error, InvalidTag, KeyError, TypeError) as exc:
            raise errors.bad_parameter("The backup blob is corrupt or invalid.") from exc
        restored = self.store.restore(vault, versions)
        self._notify(restored)
        return Response.json(200, fmt.bundle(restored, with_value=False))
