"""The confirmer the engine uses: every declared consumer's check, one verdict.

A rotation's consumers moved only when every consumer named in ``rotation-consumers``
reports the new version. A check that fails (``TargetUnavailable``, a configuration problem,
any unexpected error) is recorded in the report's ``errors`` with a sanitized reason and
logged; it is never counted as moved, and the next sweep asks again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from rotation import tags as T
from rotation.config import SecretConfig
from rotation.consumer_checks.base import CheckRequest, ConsumerCheck
from rotation.consumers import (
    MAX_TAG_VALUE,
    ConsumerReport,
    RotationFacts,
    TargetAccess,
    max_consumers_length,
)
from rotation.errors import ConfigurationError, RotationError
from rotation.settings import CONSUMERS

log = logging.getLogger(__name__)


class CompositeConfirmer:
    """:class:`~rotation.consumers.ConsumerConfirmer` over the app's defined consumer checks."""

    def __init__(self, checks: Mapping[str, ConsumerCheck]) -> None:
        self._checks = dict(checks)

    @property
    def consumers(self) -> list[str]:
        """The names of the defined consumers, sorted."""
        return sorted(self._checks)

    def validate(self, config: SecretConfig) -> None:
        """Raise ConfigurationError if ``config`` names an undefined consumer, or too many."""
        for name in config.consumers:
            if name not in self._checks:
                defined = ", ".join(self.consumers) or "none"
                raise ConfigurationError(
                    f"consumer '{name}' is not defined in {CONSUMERS} (defined: {defined})",
                    secret=config.secret_name,
                    tag=T.CONSUMERS,
                )
        if max_consumers_length(config.consumers) > MAX_TAG_VALUE:
            raise ConfigurationError(
                f"names {len(config.consumers)} consumers; their status would not fit in the "
                f"{MAX_TAG_VALUE} characters of tag '{T.CONSUMERS_SEEN}': use fewer or "
                "shorter names",
                secret=config.secret_name,
                tag=T.CONSUMERS,
            )

    def check(
        self,
        config: SecretConfig,
        facts: RotationFacts,
        target: TargetAccess,
    ) -> ConsumerReport:
        """Ask each declared consumer which version it uses (nudging first-time laggards)."""
        self.validate(config)
        seen: dict[str, str | None] = {}
        errors: dict[str, str] = {}
        for name in dict.fromkeys(config.consumers):
            check = self._checks[name]
            request = CheckRequest(config, facts, target if check.needs_target else None)
            try:
                version = check.observe(request)
                if facts.first_check and version != facts.new_version and check.can_nudge():
                    check.nudge(request)
                    version = check.observe(request)
            except RotationError as error:
                errors[name] = str(error)
            except Exception as error:  # noqa: BLE001 - a broken check must not stop the others
                errors[name] = f"unexpected {type(error).__name__} in the check"
                log.error(
                    "consumer '%s' of %s: unexpected %s",
                    name,
                    facts.secret_name,
                    type(error).__name__,
                )
            else:
                seen[name] = version
                continue
            log.warning(
                "consumer '%s' of %s/%s could not be checked: %s",
                name,
                facts.vault_url,
                facts.secret_name,
                errors[name],
                extra={"rotation_consumer": name, "rotation_secret": facts.secret_name},
            )
        moved = not errors and all(v == facts.new_version for v in seen.values())
        return ConsumerReport(moved=moved, seen=seen, errors=errors)

    def close(self) -> None:
        """Close every check's clients."""
        for check in self._checks.values():
            check.close()
