"""The contract between the composite confirmer and one consumer check kind.

A check class is built once per consumer definition when the app starts (its constructor
validates the options, without network I/O) and then asked, for each rotation, which version
of the secret its consumer uses:

==================  ==========================================================================
method              contract
==================  ==========================================================================
``observe``         the version the consumer uses now (``None``: cannot tell, counts as not
                    moved); raises ``TargetUnavailable`` (retried at the next sweep) or
                    ``ConfigurationError``; never reads, returns or logs a secret value
``nudge``           optional: ask the consumer to pick the new version up (for example a
                    restart); called at most once per rotation, on the first look after
                    commit, and only for a consumer that has not moved yet
==================  ==========================================================================
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from azure.core.credentials import TokenCredential

from rotation import tags as T
from rotation.config import SecretConfig
from rotation.consumer_checks.definitions import ConsumerDefinition
from rotation.consumers import RotationFacts, TargetAccess
from rotation.errors import ConfigurationError
from rotation.names import shown


@dataclass(frozen=True)
class CheckEnvironment:
    """What checks may use besides their definition: the app's identity and SDK settings.

    ``credential`` is the app's managed identity (tests inject another ``TokenCredential``);
    ``sdk_options`` are passed to Azure SDK clients (retries, timeouts).
    """

    credential: TokenCredential | None = None
    sdk_options: Mapping[str, Any] = field(
        default_factory=lambda: {"retry_total": 2, "retry_backoff_factor": 0.5}
    )


@dataclass(frozen=True)
class CheckRequest:
    """One question to a check: which version does your consumer use for this rotation?

    ``target`` is set only for checks whose class sets ``needs_target``.
    """

    config: SecretConfig
    facts: RotationFacts
    target: TargetAccess | None = None


def refuse_another_secret(
    request: CheckRequest, where: str, vault: str | None, secret: str | None, expected_vault: str
) -> None:
    """ConfigurationError (tag ``rotation-consumers``) unless the consumer uses the secret this
    rotation is about: ``secret`` exactly, ``vault`` compared without case with
    ``expected_vault``. ``where`` starts the message; what the consumer said is shown escaped
    and bounded (it is untrusted)."""
    if (vault or "").lower() != expected_vault or (secret or "") != request.facts.secret_name:
        raise ConfigurationError(
            f"{where} refers to secret '{shown(secret)}' in vault '{shown(vault)}', not to "
            f"'{request.facts.secret_name}' in '{expected_vault}'",
            secret=request.facts.secret_name,
            tag=T.CONSUMERS,
        )


class ConsumerCheck(ABC):
    """Base class of every consumer check kind."""

    #: The ``kind`` of consumer definitions this class checks.
    kind: ClassVar[str]
    #: Whether the check needs target-side facts (user names, the admin credential).
    needs_target: ClassVar[bool] = False

    def __init__(self, definition: ConsumerDefinition, environment: CheckEnvironment) -> None:
        self.definition = definition
        self.environment = environment

    @property
    def name(self) -> str:
        """The consumer's name."""
        return self.definition.name

    @abstractmethod
    def observe(self, request: CheckRequest) -> str | None:
        """The version id of the secret the consumer uses now, or None if it cannot tell."""

    def can_nudge(self) -> bool:
        """Whether :meth:`nudge` does anything for this consumer (as configured)."""
        return False

    def nudge(self, request: CheckRequest) -> None:
        """Ask the consumer to pick up the new version. Raises like :meth:`observe`."""

    def close(self) -> None:
        """Release clients. Called when the app shuts the confirmer down."""
