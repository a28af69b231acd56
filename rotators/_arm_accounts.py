"""An Azure account addressed through Resource Manager, for the account-key rotators: the
``rotation-target`` parser (an account's ARM resource id), the small helpers on key values,
and :class:`ArmAccountClient`, which makes the management client with the app's identity
(``DefaultAzureCredential`` with ``AZURE_CLIENT_ID``, as ``azure-sql-admin`` does) and maps
SDK errors to the engine's: 401/403 -> ``ConfigurationError`` naming the role, 404 ->
``ConfigurationError`` naming ``rotation-target``, other 4xx -> ``ConfigurationError``; 429,
5xx, connection errors -> ``TargetUnavailable``. Messages have every key redacted.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from azure.core.exceptions import AzureError, ClientAuthenticationError, ResourceNotFoundError

from rotation import tags as T
from rotation.azure_errors import FailureKind, classify
from rotation.credential import connection_string_fields
from rotation.errors import ConfigurationError, RotationError, TargetUnavailable
from rotation.sanitize import sanitize_error
from rotation.targets import ARM_RESOURCE_GROUP, check_target_text

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

R = TypeVar("R")

_BASE64_KEY = re.compile(r"^[A-Za-z0-9+/]{16,}={0,2}$")


@dataclass(frozen=True)
class AccountTarget:
    """A parsed ``rotation-target``: an account's ARM resource id."""

    subscription: str
    resource_group: str
    name: str
    #: ``Microsoft.Storage/storageAccounts``, ``Microsoft.DocumentDB/databaseAccounts``.
    resource_type: str

    @property
    def resource_id(self) -> str:
        """The ARM resource id."""
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/{self.resource_type}/{self.name}"
        )


def parse_account_target(
    value: str | None, *, resource_type: str, name_pattern: str, names: str, secret: str | None
) -> AccountTarget:
    """Parse ``/subscriptions/<guid>/resourceGroups/<g>/providers/<resource_type>/<name>``.

    ``name_pattern`` is the account name's regex (matched case-sensitively), ``names`` says
    what it allows for the message. ``ConfigurationError`` naming ``rotation-target`` for
    anything else (control characters, over 1 KiB, another type, a child resource); the
    value is never echoed.
    """
    text = check_target_text(value, secret=secret) if value else ""
    pattern = (
        rf"{ARM_RESOURCE_GROUP}/providers/"
        rf"{re.escape(resource_type)}/(?P<name>(?-i:{name_pattern}))$"
    )
    found = re.fullmatch(pattern, text, re.IGNORECASE | re.ASCII)
    if found is None:
        raise ConfigurationError(
            "expected /subscriptions/<subscription id>/resourceGroups/<group>/providers/"
            f"{resource_type}/<account name> ({names})",
            secret=secret,
            tag=T.TARGET,
        )
    return AccountTarget(
        found["subscription"].lower(), found["resource_group"], found["name"], resource_type
    )


def connection_string_key(text: str) -> str | None:
    """The ``AccountKey`` of a connection string, or ``None`` if it has none."""
    keys = (value for name, value in connection_string_fields(text) if name == "accountkey")
    return next((key for key in keys if key), None)


def looks_like_key(text: str) -> bool:
    """Whether ``text`` is base64, as every account key is."""
    return _BASE64_KEY.fullmatch(text) is not None


class ArmAccountClient:
    """The management client of one account's subscription, made on first use.

    ``client`` is ``"module:Class"`` of the SDK client; ``options`` go to its constructor;
    ``role`` and ``secret`` word the errors.
    """

    def __init__(
        self,
        client: str,
        target: AccountTarget,
        options: Mapping[str, Any],
        *,
        credential: TokenCredential | None,
        role: str,
        secret: str,
    ) -> None:
        self._spec, self._target, self._options = client, target, options
        self._credential, self._role, self._secret = credential, role, secret
        self._client: Any = None

    def call(self, what: str, func: Callable[[Any], R], hide: list[str]) -> R:
        """``func(client)``; an SDK error becomes the engine's error for this account."""
        try:
            if self._client is None:
                module, _, name = self._spec.partition(":")
                client_class = getattr(importlib.import_module(module), name)
                self._client = client_class(
                    self._token_credential(), self._target.subscription, **self._options
                )
            return func(self._client)
        except AzureError as error:
            raise self._mapped(error, what, hide) from None

    def close(self) -> None:
        """Close the management client (if one was made); a later call makes a new one."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _token_credential(self) -> TokenCredential:
        if self._credential is None:
            from azure.identity import DefaultAzureCredential

            client_id = os.environ.get("AZURE_CLIENT_ID")
            self._credential = DefaultAzureCredential(managed_identity_client_id=client_id)
        return self._credential

    def _mapped(self, error: AzureError, what: str, hide: list[str]) -> RotationError:
        failure, detail = classify(error), sanitize_error(error, hide)
        message = f"cannot {what} of {self._target.resource_id}: {detail}"
        if isinstance(error, ClientAuthenticationError) and not failure.status:
            return ConfigurationError(
                f"{message}; check the managed identity and AZURE_CLIENT_ID", secret=self._secret
            )
        if isinstance(error, ResourceNotFoundError) or failure.kind is FailureKind.NOT_FOUND:
            return ConfigurationError(message, secret=self._secret, tag=T.TARGET)
        if failure.kind is FailureKind.DENIED:
            return ConfigurationError(
                f"{message}; the function app's identity needs the '{self._role}' role on the "
                "account",
                secret=self._secret,
            )
        if failure.kind in (FailureKind.CONFLICT, FailureKind.REFUSED):
            return ConfigurationError(message, secret=self._secret)
        return TargetUnavailable(message)
