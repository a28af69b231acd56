"""The engine's view of consumer confirmation: did every reader of the secret move on?

Concrete checks (App Service Key Vault references, HTTP probes, target-side sessions) live in
:mod:`rotation.consumer_checks` behind :class:`ConsumerConfirmer`; the engine only needs its
verdict, and records what each consumer was seen using, and when, in the tag
``rotation-consumers-seen`` of the committed version (codec: :func:`encode_sightings`,
:func:`decode_sightings`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from rotation.config import SecretConfig
from rotation.credential import Credential
from rotation.numbers import whole_number

#: Key Vault's limit on one tag value.
MAX_TAG_VALUE = 256
#: What a sighting records instead of a full version id (32 hex characters).
SEEN_NEW = "new"
SEEN_OLD = "old"
SEEN_UNKNOWN = "?"
#: Other versions are recorded by their first characters.
SHORT_VERSION = 8
#: Longest possible encoding of one entry besides the consumer name:
#: ``=`` + seen (8) + ``@`` + seconds (8) + ``!`` + seconds (8) + ``,``.
ENTRY_OVERHEAD = 1 + SHORT_VERSION + 1 + 8 + 1 + 8 + 1
#: Consumer names: letters, digits, ``-``, ``_`` and ``.`` (they go into a tag value).
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
#: What a sighting may record for another version: letters and digits only, so that a
#: consumer's answer can never add an entry or a field to the tag.
_VERSION_TEXT = re.compile(r"[0-9A-Za-z]{1,64}")
#: The largest offset in seconds an entry holds (8 digits, as ENTRY_OVERHEAD counts).
MAX_OFFSET_SECONDS = 99_999_999


@dataclass(frozen=True)
class ConsumerReport:
    """What the consumers of one secret were seen using.

    ``seen`` maps each consumer whose check answered to the version it reports (or ``None``
    when it could not tell); ``errors`` maps consumers whose check failed to a sanitized
    reason. A consumer that errored is never counted as moved.
    """

    moved: bool
    seen: Mapping[str, str | None] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RotationFacts:
    """What a consumer check may know about the rotation it confirms: identifiers, no values.

    ``first_check`` is true on the first look after commit (the time to nudge consumers).
    """

    vault_url: str
    secret_name: str
    new_version: str
    previous_version: str | None
    rotated_at: datetime | None
    first_check: bool = False


class TargetAccess(Protocol):
    """Target-side facts, read lazily (and once) by the engine for the checks that need them.

    Only checks that look at the target itself (for example PostgreSQL sessions) are handed
    this; the others never see a credential.
    """

    def usernames(self) -> tuple[str | None, str | None]:
        """The login names of the previous and of the new credential (either may be None)."""
        ...

    def admin(self) -> Credential | None:
        """The admin credential the rotator uses (``rotation-admin-secret``), if any."""
        ...


class ConsumerConfirmer(Protocol):
    """Checks whether every consumer of a secret uses ``facts.new_version``.

    Never raises for a failing check (it is reported in ``errors``); raises
    :class:`~rotation.errors.ConfigurationError` when the secret names a consumer that is not
    defined.
    """

    def validate(self, config: SecretConfig) -> None:
        """Raise ConfigurationError if ``config`` names consumers this confirmer cannot check.

        No I/O: cheap enough to call before a rotation starts.
        """
        ...

    def check(
        self,
        config: SecretConfig,
        facts: RotationFacts,
        target: TargetAccess,
    ) -> ConsumerReport: ...


# ---------------------------------------------------------------------- the "seen" tag


@dataclass(frozen=True)
class Sighting:
    """What one consumer was last seen using, and when.

    ``seen`` is ``"new"``, ``"old"`` (the previous version), ``"?"`` (the consumer could not
    tell, or was never seen) or the first 8 characters of another version. ``seen_at`` is
    when the last check that answered ran; ``failed_at`` when the latest check failed, if it
    did (``seen``/``seen_at`` then still describe the last answer).
    """

    seen: str
    seen_at: datetime | None = None
    failed_at: datetime | None = None

    @property
    def moved(self) -> bool:
        """Whether the consumer was last seen on the new version and its last check worked."""
        return self.seen == SEEN_NEW and self.failed_at is None


def seen_code(version: str | None, new_version: str, previous_version: str | None) -> str:
    """The tag code of a version a consumer reported: ``"?"`` for anything that is not a
    version id (consumers' answers are untrusted: they must not shape the tag)."""
    if not version:
        return SEEN_UNKNOWN
    if version == new_version:
        return SEEN_NEW
    if previous_version and version == previous_version:
        return SEEN_OLD
    return _short_version(version)


def update_sightings(
    previous: Mapping[str, Sighting],
    report: ConsumerReport,
    facts: RotationFacts,
    checked_at: datetime,
) -> dict[str, Sighting]:
    """The sightings after one round of checks: answers replace, failures keep the last answer."""
    result = dict(previous)
    for name, version in report.seen.items():
        result[name] = Sighting(
            seen_code(version, facts.new_version, facts.previous_version), checked_at
        )
    for name in report.errors:
        last = previous.get(name, Sighting(SEEN_UNKNOWN))
        result[name] = Sighting(last.seen, last.seen_at, checked_at)
    return result


def encode_sightings(sightings: Mapping[str, Sighting], rotated_at: datetime | None) -> str:
    """``name=seen@S[!F],...`` with S/F in whole seconds after ``rotated_at``; sorted by name.

    Without ``rotated_at`` (never the case on a committed version) the times are left out.

    Truncated to :data:`MAX_TAG_VALUE` at an entry boundary (the definitions loader refuses
    consumer lists that could not fit, so this only guards against a misuse).
    """
    parts: list[str] = []
    for name in sorted(sightings):
        s = sightings[name]
        entry = f"{name}={s.seen}"
        if s.seen_at is not None and rotated_at is not None:
            entry += f"@{_offset(s.seen_at, rotated_at)}"
        if s.failed_at is not None and rotated_at is not None:
            entry += f"!{_offset(s.failed_at, rotated_at)}"
        parts.append(entry)
    text = ""
    for entry in parts:
        candidate = f"{text},{entry}" if text else entry
        if len(candidate) > MAX_TAG_VALUE:
            break
        text = candidate
    return text


def decode_sightings(raw: str, rotated_at: datetime | None) -> dict[str, Sighting]:
    """Parse :func:`encode_sightings` output. Never raises: the tag is editable by anyone who
    may edit the secret's tags, so entries with a malformed name are skipped, and a malformed
    seen code or time reads as unknown.

    Also reads the engine's earlier ``name=version`` format (``?`` for unknown).
    """
    result: dict[str, Sighting] = {}
    for part in filter(None, raw.split(",")):
        name, sep, rest = part.partition("=")
        if not sep or not NAME_PATTERN.fullmatch(name):
            continue
        rest, _, failed = rest.partition("!")
        seen, _, seen_s = rest.partition("@")
        if seen not in (SEEN_NEW, SEEN_OLD):
            seen = _short_version(seen)
        result[name] = Sighting(seen, _at(seen_s, rotated_at), _at(failed, rotated_at))
    return result


def max_consumers_length(names: tuple[str, ...]) -> int:
    """The longest ``rotation-consumers-seen`` value these consumer names could need."""
    return sum(len(n) + ENTRY_OVERHEAD for n in names) - 1 if names else 0


def _short_version(text: str) -> str:
    """The first characters of a version id (a full one in the earlier format); ``"?"`` for
    anything else."""
    return text[:SHORT_VERSION] if _VERSION_TEXT.fullmatch(text) else SEEN_UNKNOWN


def _offset(when: datetime, rotated_at: datetime) -> int:
    return min(MAX_OFFSET_SECONDS, max(0, int((when - rotated_at).total_seconds())))


def _at(text: str, rotated_at: datetime | None) -> datetime | None:
    seconds = whole_number(text, 0, MAX_OFFSET_SECONDS)
    if seconds is None or rotated_at is None:
        return None
    try:
        return rotated_at + timedelta(seconds=seconds)
    except OverflowError:  # a rotated-at tag near the end of time
        return None
