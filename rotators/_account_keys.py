"""What the account-key rotators share (``storage-account-key``, ``cosmos-db-key``).

An Azure account has two keys of equal power (``key1``/``key2``; ``primary``/``secondary``)
that Resource Manager lists (``listKeys``) and regenerates one at a time. The secret holds
one of them; the Credential's ``username`` names which (``key1``), its ``password`` is the
key, or, with ``rotation-key-format=connection-string``, a connection string with it.

Alternating, mapped onto the engine's contract:

- :meth:`AccountKeyRotator.generate` cannot invent a key (Azure mints it): it returns an
  *intent*, an empty password naming the other key of the pair. No I/O.
- :meth:`AccountKeyRotator.apply` lists the keys, finds by value which key the current
  credential holds, regenerates the **other** one, and returns it as the minted credential
  (the engine stages it at once). The key consumers hold is never regenerated. A candidate
  that already carries a key that is live under its name is returned unchanged (a retry).
  A crash after the regeneration and before the engine staged the answer makes the retry
  regenerate the other key once more: harmless, nobody holds it.
- :meth:`AccountKeyRotator.verify` calls the account's data plane with the key.
- :meth:`AccountKeyRotator.retire` does nothing: the old key stays valid as the standby
  until the next rotation regenerates it (consumers that have not moved keep working).
- :meth:`AccountKeyRotator.discard` regenerates a refused candidate's key, never the key
  the current credential holds.

ARM calls and their error mapping are :mod:`rotators._arm_accounts` (the app's identity,
as ``azure-sql-admin`` uses it); messages never carry a key.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from rotation import defaults as D
from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import ConfigurationError, RotationError, VerificationFailed
from rotation.rotator import UNPARSED, Rotator, RotatorContext, Strategy
from rotators._arm_accounts import (
    AccountTarget,
    ArmAccountClient,
    connection_string_key,
    looks_like_key,
    parse_account_target,
)

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

logger = logging.getLogger(__name__)

R = TypeVar("R")

FORMAT_OPTION = T.option(T.KEY_FORMAT)
FORMATS = ("key", "connection-string")
#: Management client defaults: a few quick retries (Functions have time limits).
CLIENT_DEFAULTS: dict[str, Any] = {
    "polling_interval": 5,
    "retry_total": 3,
    "retry_backoff_factor": 0.8,
}
#: Seconds a long-running key regeneration may take before ``apply`` gives up (retryable).
LRO_TIMEOUT_S = 240.0


@dataclass(frozen=True)
class AccountKeySettings:
    """The account, the key pair and the value format of one managed secret, parsed once."""

    target: AccountTarget
    #: The two key names that alternate (``("key1", "key2")``).
    pair: tuple[str, str]
    #: Whether the secret holds a connection string rather than the bare key.
    connection_string: bool


@dataclass(frozen=True)
class AccountKind:
    """What differs between the account types, as data."""

    #: ARM resource type (``Microsoft.Storage/storageAccounts``).
    resource_type: str
    #: The account name's regex and the same rule in words, for messages.
    name_pattern: str
    name_rule: str
    #: The two keys that alternate by default.
    key_names: tuple[str, str]
    #: The least-privileged built-in role with the actions used, for error messages.
    role: str
    #: ``"module:Class"`` of the management client (imported on first use).
    client: str
    #: The connection string, with ``{name}`` and ``{key}``.
    connection: str


class AccountKeyRotator(Rotator):
    """Alternates between an account's two keys through ARM (see the module docstring).

    Subclasses set :attr:`account` and two target hooks, ``_keys`` (ARM) and ``_check_key``
    (the data plane). ``client_options`` (for the management client), ``credential`` and
    ``lro_timeout`` can be injected; the engine passes only ``context``.
    """

    strategies: ClassVar[tuple[Strategy, ...]] = (Strategy.ALTERNATING,)
    requires_target: ClassVar[bool] = True
    requires_admin: ClassVar[bool] = False
    account: ClassVar[AccountKind]

    def __init__(
        self,
        context: RotatorContext,
        settings: object = UNPARSED,
        *,
        client_options: Mapping[str, Any] | None = None,
        lro_timeout: float = LRO_TIMEOUT_S,
        credential: TokenCredential | None = None,
    ) -> None:
        super().__init__(context)
        parsed: AccountKeySettings = self.settings_for(context, settings)
        self.settings = parsed
        self.target, self.pair = parsed.target, parsed.pair
        self.lro_timeout = lro_timeout
        self._arm = ArmAccountClient(
            self.account.client,
            self.target,
            dict(CLIENT_DEFAULTS, **(client_options or {})),
            credential=credential,
            role=self.account.role,
            secret=context.secret_name,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(target={self.target.resource_id!r})"

    # -- configuration --------------------------------------------------------------------

    @classmethod
    def parse_settings(cls, context: RotatorContext) -> AccountKeySettings:
        """Target is the account's resource id; strategy alternating; a known key format."""
        super().parse_settings(context)
        secret, kind = context.secret_name, cls.account
        target = parse_account_target(
            context.target,
            resource_type=kind.resource_type,
            name_pattern=kind.name_pattern,
            names=kind.name_rule,
            secret=secret,
        )
        value_format = context.options.get(FORMAT_OPTION, D.KEY_FORMAT)
        if value_format not in FORMATS:
            raise ConfigurationError(
                f"unknown key format (known: {', '.join(FORMATS)})", secret=secret, tag=T.KEY_FORMAT
            )
        return AccountKeySettings(target, cls.key_pair(context), value_format != "key")

    @classmethod
    def key_pair(cls, context: RotatorContext) -> tuple[str, str]:
        """The two key names that alternate for this secret (default ``account.key_names``)."""
        return cls.account.key_names

    def connection_string(self, key: str) -> str:
        """The account's connection string with ``key``."""
        return self.account.connection.format(name=self.target.name, key=key)

    # -- target hooks -----------------------------------------------------------------------

    @abstractmethod
    def _keys(self, client: Any, regenerate: str | None = None) -> dict[str, str]:
        """Every key of the account by name, after regenerating key ``regenerate`` (and
        waiting until that is done) when one is given. ARM calls."""

    @abstractmethod
    def _check_key(self, key: str) -> None:
        """Call the data plane with ``key``: ``VerificationFailed`` if refused."""

    # -- the contract -----------------------------------------------------------------------

    def generate(self, current: Credential) -> Credential:
        """An intent: no key yet, the other key of the pair (``None`` if unknown). No I/O."""
        name = current.username
        other = self._other(name) if name is not None and name in self.pair else None
        return Credential(password="", username=other, extra=current.extra)

    def apply(self, current: Credential, candidate: Credential) -> Credential:
        """Regenerate the key ``current`` does not hold; return it (see the module doc)."""
        hide = [current.password, candidate.password]
        for named in (current, candidate):
            if named.username is not None and named.username not in self.pair:
                raise ConfigurationError(
                    f"the secret's username must name a key of {self.target.resource_id} "
                    f"({' or '.join(self.pair)})",
                    secret=self.context.secret_name,
                )
        held_key = self._stored_key(current.password, refuse=ConfigurationError)
        keys = self._arm_call("list the keys", self._keys, hide)
        if candidate.password and candidate.username is not None:
            minted = self._stored_key(candidate.password, refuse=ConfigurationError)
            if keys.get(candidate.username) == minted and minted != held_key:
                return candidate  # applied before: the engine staged what apply returned
        held = next((n for n in self.pair if keys.get(n) == held_key), None)
        if held is not None:
            name = self._other(held)
        else:  # the current key works nowhere: regenerating either pair key loses nothing
            name = candidate.username or self._other(current.username or self.pair[1])
        key = self._regenerated(name, hide)
        value = self.connection_string(key) if self.settings.connection_string else key
        return Credential(password=value, username=name, extra=candidate.extra)

    def verify(self, credential: Credential) -> None:
        """Call the account's data plane with the key; ``VerificationFailed`` if refused."""
        if credential.username is not None and credential.username not in self.pair:
            raise VerificationFailed(
                f"'{credential.username}' is not a key of {self.target.resource_id}"
            )
        self._check_key(self._stored_key(credential.password, refuse=VerificationFailed))

    def discard(self, candidate: Credential, current: Credential) -> None:
        """Regenerate the refused candidate's key unless ``current`` holds it. Idempotent."""
        name = candidate.username
        if name not in self.pair or name is None:
            return
        hide = [current.password, candidate.password]
        held_key = self._stored_key(current.password, refuse=ConfigurationError)
        if self._arm_call("list the keys", self._keys, hide).get(name) != held_key:
            self._regenerated(name, hide)

    def close(self) -> None:
        """Close the management client."""
        self._arm.close()

    # -- helpers ----------------------------------------------------------------------------

    def _regenerated(self, name: str, hide: list[str]) -> str:
        """Regenerate key ``name``; return its new value."""
        keys = self._arm_call("regenerate a key", lambda c: self._keys(c, regenerate=name), hide)
        logger.info("regenerated key %s of %s", name, self.target.resource_id)
        return str(keys[name])

    def _other(self, name: str) -> str:
        return self.pair[1] if name == self.pair[0] else self.pair[0]

    def _stored_key(self, value: str, *, refuse: type[RotationError]) -> str:
        """The key in a stored value (bare, or a connection string's ``AccountKey``)."""
        if self.settings.connection_string:
            key = connection_string_key(value)
            problem = None if key else "holds no AccountKey= (is it a bare key?)"
        else:
            key = value.strip()  # a pasted newline: the SDKs accept the key all the same
            problem = "looks like a connection string" if "accountkey=" in value.lower() else None
        if problem is not None or key is None:
            message = f"the secret's value {problem} although {T.KEY_FORMAT} says otherwise"
            if refuse is ConfigurationError:
                raise ConfigurationError(message, secret=self.context.secret_name, tag=T.KEY_FORMAT)
            raise refuse(message)
        return key

    def _arm_call(self, what: str, func: Callable[[Any], R], hide: list[str]) -> R:
        """Run one ARM call with the management client (errors mapped for this account)."""
        return self._arm.call(what, func, hide)

    #: Whether a text is base64, as every account key is (no call needed to refuse others).
    looks_like_key = staticmethod(looks_like_key)
