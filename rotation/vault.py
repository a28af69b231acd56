"""Everything the engine reads from and writes to Key Vault, behind one small interface.

Rotators never touch Key Vault; the engine talks to it only through :class:`SecretStore`,
whose production implementation :class:`KeyVaultStore` wraps the Azure SDK's ``SecretClient``
and turns SDK exceptions into :mod:`rotation.errors` (never echoing a secret value).
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, Required, TypedDict, TypeVar, Unpack

from azure.keyvault.secrets import SecretClient, SecretProperties

from rotation.azure_errors import FailureKind, classify, rotation_error
from rotation.errors import (
    RotationError,
    SecretDisabled,
    SecretNotFound,
)

T = TypeVar("T")

MAX_NAME_LENGTH = 127
STAGING_SUFFIX = "-rotation-staged"


@dataclass(frozen=True)
class SecretSnapshot:
    """One version of a secret, value included (``repr`` hides it)."""

    name: str
    version: str
    value: str = field(repr=False)
    tags: Mapping[str, str]
    content_type: str | None
    expires_on: datetime | None
    enabled: bool = True


@dataclass(frozen=True)
class SecretListing:
    """What a list call returns for a secret's current version: never its value."""

    name: str
    version: str | None
    tags: Mapping[str, str]
    enabled: bool
    expires_on: datetime | None
    content_type: str | None


class VersionAttributes(TypedDict, total=False):
    """What :meth:`SecretStore.write` stores with a new version besides its value."""

    tags: Required[Mapping[str, str]]
    content_type: Required[str | None]
    expires_on: datetime | None


class SecretStore(Protocol):
    """The vault operations the engine needs. Implementations raise only RotationError."""

    vault_url: str

    def read(self, name: str, version: str | None = None) -> SecretSnapshot:
        """The current (or given) version with its value; ``SecretNotFound`` if absent."""
        ...

    def read_if_enabled(self, name: str) -> SecretSnapshot | None:
        """The current version, or None if the secret does not exist or it is disabled.

        Implementations that subclass this protocol inherit this :meth:`read` wrapper."""
        try:
            return self.read(name)
        except (SecretNotFound, SecretDisabled):
            return None

    def write(self, name: str, value: str, **attributes: Unpack[VersionAttributes]) -> str:
        """Create a new version with ``attributes``; return its version id."""
        ...

    def update(
        self, name: str, version: str, *, tags: Mapping[str, str], enabled: bool | None = None
    ) -> None:
        """Replace the tags (and optionally the enabled flag) of one version."""
        ...

    def list(self) -> Iterator[SecretListing]:
        """Every secret's current properties, page by page (no values are fetched)."""
        ...

    def properties(self, name: str) -> SecretListing | None:
        """The current version's properties (no value), even when it is disabled; None if
        the secret does not exist."""
        ...

    def deleted(self, name: str) -> SecretListing | None:
        """The properties of the soft-deleted secret ``name`` (no value), or None."""
        ...

    def list_deleted(self) -> Iterator[SecretListing]:
        """Every soft-deleted secret's properties, page by page (no values)."""
        ...


def staging_name(name: str) -> str:
    """The name of the secret that holds ``name``'s candidate between staging and commit.

    Kept within Key Vault's 127-character limit by shortening long names with a hash of the
    lower-cased name, so that every spelling of a (case-insensitive) Key Vault name maps to
    the same companion.
    """
    candidate = name + STAGING_SUFFIX
    if len(candidate) <= MAX_NAME_LENGTH:
        return candidate
    # surrogatepass: a name read from an editable tag must not make this raise.
    digest = hashlib.sha256(name.lower().encode("utf-8", "surrogatepass")).hexdigest()[:16]
    keep = MAX_NAME_LENGTH - len(STAGING_SUFFIX) - len(digest) - 1
    return f"{name[:keep]}-{digest}{STAGING_SUFFIX}"


def translate_error(error: Exception, *, vault_url: str, operation: str) -> RotationError:
    """Map an Azure SDK exception to the engine's error tree. Messages carry no values."""
    where = f"Key Vault {vault_url} ({operation})"
    failure = classify(error)
    if failure.kind is FailureKind.NOT_FOUND:
        return SecretNotFound(f"{where}: not found")
    disabled = "disabled" in f"{failure.code} {failure.message}".lower()
    if failure.kind is FailureKind.DENIED and disabled:
        return SecretDisabled(f"{where}: the version is disabled")
    return rotation_error(failure, where, _KEY_VAULT_ADVICE)


#: What the operator should do, per failure of a Key Vault call.
_KEY_VAULT_ADVICE = {
    FailureKind.DENIED: (
        "the app's identity needs the 'Key Vault Secrets Officer' role on this vault"
    ),
    FailureKind.CONFLICT: "a soft-deleted secret of that name must be recovered or purged first",
}


class KeyVaultStore(SecretStore):
    """:class:`SecretStore` over ``azure.keyvault.secrets.SecretClient``."""

    def __init__(self, client: SecretClient) -> None:
        self._client = client
        self.vault_url = client.vault_url.rstrip("/")

    def _call(self, operation: str, call: Callable[[], T]) -> T:
        """``call()``, one SDK call; any SDK error becomes :func:`translate_error`'s."""
        try:
            return call()
        except Exception as error:  # noqa: BLE001 - every SDK error is translated
            raise translate_error(error, vault_url=self.vault_url, operation=operation) from None

    def _call_or_none(self, operation: str, call: Callable[[], T]) -> T | None:
        """As :meth:`_call`, with None when the object does not exist."""
        try:
            return self._call(operation, call)
        except SecretNotFound:
            return None

    def read(self, name: str, version: str | None = None) -> SecretSnapshot:
        secret = self._call(f"get {name}", lambda: self._client.get_secret(name, version))
        props = secret.properties
        return SecretSnapshot(
            name=props.name or name,
            version=props.version or "",
            value=secret.value or "",
            tags=dict(props.tags or {}),
            content_type=props.content_type,
            expires_on=props.expires_on,
            enabled=bool(props.enabled),
        )

    def write(self, name: str, value: str, **attributes: Unpack[VersionAttributes]) -> str:
        secret = self._call(
            f"set {name}",
            lambda: self._client.set_secret(
                name,
                value,
                tags=dict(attributes["tags"]),
                content_type=attributes["content_type"],
                expires_on=attributes.get("expires_on"),
            ),
        )
        return secret.properties.version or ""

    def update(
        self, name: str, version: str, *, tags: Mapping[str, str], enabled: bool | None = None
    ) -> None:
        self._call(
            f"update {name}",
            lambda: self._client.update_secret_properties(
                name, version, tags=dict(tags), enabled=enabled
            ),
        )

    def list(self) -> Iterator[SecretListing]:
        try:
            for props in self._client.list_properties_of_secrets():
                yield _listing(props)
        except Exception as error:  # noqa: BLE001
            raise translate_error(error, vault_url=self.vault_url, operation="list") from None

    def list_page(
        self, max_page_size: int, continuation: str | None = None
    ) -> tuple[builtins.list[SecretListing], str | None]:
        """One page of the listing (one list call): the secrets and the next page's link
        (Key Vault's ``nextLink``), None after the last page. The caller validates a link it
        got from outside before passing it back (:mod:`rotation.fleet` does)."""
        try:
            pages = self._client.list_properties_of_secrets(max_page_size=max_page_size).by_page(
                continuation_token=continuation
            )
            page = next(pages, None)
            items = [] if page is None else [_listing(props) for props in page]
            return items, pages.continuation_token  # type: ignore[attr-defined]
        except Exception as error:  # noqa: BLE001
            raise translate_error(error, vault_url=self.vault_url, operation="list") from None

    def properties(self, name: str) -> SecretListing | None:
        newest = self._call_or_none(
            f"list versions of {name}",
            lambda: _newest(self._client.list_properties_of_secret_versions(name)),
        )
        return None if newest is None else _listing(newest, name)

    def deleted(self, name: str) -> SecretListing | None:
        deleted = self._call_or_none(
            f"get deleted {name}", lambda: self._client.get_deleted_secret(name)
        )
        return None if deleted is None else _listing(deleted.properties, name)

    def list_deleted(self) -> Iterator[SecretListing]:
        try:
            for deleted in self._client.list_deleted_secrets():
                yield _listing(deleted.properties, deleted.name or "")
        except Exception as error:  # noqa: BLE001
            raise translate_error(
                error, vault_url=self.vault_url, operation="list deleted"
            ) from None


def _created(props: SecretProperties) -> datetime:
    return props.created_on or datetime.min.replace(tzinfo=UTC)


def _newest(versions: Iterable[SecretProperties]) -> SecretProperties | None:
    """The most recently created of ``versions`` (the last of equals), None if empty."""
    newest = None
    for props in versions:
        if newest is None or _created(props) >= _created(newest):
            newest = props
    return newest


def _listing(props: SecretProperties, name: str = "") -> SecretListing:
    return SecretListing(
        name=props.name or name,
        version=props.version,
        tags=dict(props.tags or {}),
        enabled=bool(props.enabled),
        expires_on=props.expires_on,
        content_type=props.content_type,
    )
