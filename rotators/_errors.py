"""Driver errors to rotation errors, written as tables of :class:`Rule` rows (no I/O).

A rotator lists, per kind of call (login, statement, admin command), which driver errors
become which :mod:`rotation.errors` exception and how the message reads; the first row that
matches wins, an error no row matches escapes unchanged (the engine's wrapper,
:mod:`rotation.guarded`, still types and redacts it). :meth:`rotators._base.ServerRotator.
_translating` runs a block under a table, with the driver's message sanitized first.

Messages are ``str.format`` templates over the caller's fields plus ``detail`` (the
sanitized driver message) and ``kind`` (the driver error's class name, for errors whose
message could quote a value, such as ``UnicodeEncodeError``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

from rotation.errors import ConfigurationError, RotationConflict, TargetUnavailable
from rotation.tls import verification_failure

#: Whether a driver error is of the kind a :class:`Rule` covers.
Match = Callable[[BaseException], bool]


class LoginRefused(Exception):
    """The server answered and refused the login (internal: mapped per caller)."""


class UnverifiedCertificate(Exception):
    """Marks the row for a certificate that did not verify on a verified connection: the
    caller raises :func:`rotation.tls.tls_refused` (``rotation-tls-ca``) for it."""


def is_(*types: type[BaseException]) -> Match:
    """Matches an instance of any of ``types``."""
    return lambda error: isinstance(error, types)


def says(*fragments: str) -> Match:
    """Matches an error whose text contains any of ``fragments``."""
    return lambda error: any(fragment in str(error) for fragment in fragments)


def code(*codes: int) -> Match:
    """Matches a driver error whose first argument (its numeric code) is one of ``codes``."""
    return lambda error: (
        bool(error.args) and isinstance(error.args[0], int) and (error.args[0] in codes)
    )


def all_of(*matches: Match) -> Match:
    """Matches what every one of ``matches`` matches."""
    return lambda error: all(match(error) for match in matches)


def any_of(*matches: Match) -> Match:
    """Matches what any of ``matches`` matches."""
    return lambda error: any(match(error) for match in matches)


def not_(match: Match) -> Match:
    """Matches what ``match`` does not."""
    return lambda error: not match(error)


@dataclass(frozen=True)
class Rule:
    """One row: an error that ``match``es becomes ``raises(message)``.

    A :class:`~rotation.errors.ConfigurationError` (or subclass) gets the secret's name and
    ``tag``; other rotation errors take the message only. A ``tls_only`` row applies only
    to a rotator whose connections verify TLS (one with a trust anchor).
    """

    match: Match
    raises: type[Exception]
    message: str
    tag: str | None = None
    tls_only: bool = False


#: The row for a certificate that did not verify (see :class:`UnverifiedCertificate`).
TLS_REFUSED = Rule(verification_failure, UnverifiedCertificate, "", tls_only=True)
#: Matches a value the driver cannot encode or send (NUL, a lone surrogate, ...).
UNENCODABLE = is_(ValueError, UnicodeError)
#: How a failed statement reads: ``could not <what> on <endpoint>: <detail>``.
COULD_NOT = "could not {what} on {endpoint}: {detail}"


#: A login with a value the driver cannot send.
CANNOT_LOG_IN = Rule(UNENCODABLE, ConfigurationError, "{where}: cannot log in as '{user}': {kind}")
#: A statement with a value the driver cannot send.
CANNOT_SEND = Rule(UNENCODABLE, ConfigurationError, "could not {what} on {endpoint}: {kind}")


def unavailable(match: Match, message: str = "{where} unreachable: {detail}") -> Rule:
    """A row for ``TargetUnavailable`` (retried later)."""
    return Rule(match, TargetUnavailable, message)


def misconfigured(match: Match, message: str, tag: str | None = None) -> Rule:
    """A row for ``ConfigurationError`` naming ``tag`` (not retried)."""
    return Rule(match, ConfigurationError, message, tag)


def conflict(match: Match, message: str = COULD_NOT) -> Rule:
    """A row for ``RotationConflict``: the server refused what the target's state forbids."""
    return Rule(match, RotationConflict, message)


def refused(match: Match) -> Rule:
    """A row for :class:`LoginRefused` (the caller says what a refusal means)."""
    return Rule(match, LoginRefused, "{detail}")


def matching(error: BaseException, rules: Iterable[Rule]) -> Rule | None:
    """The first row of ``rules`` that matches ``error``, else ``None``."""
    return next((rule for rule in rules if rule.match(error)), None)


def raise_rule(rule: Rule, *, secret: str, fields: dict[str, Any]) -> NoReturn:
    """Raise what ``rule`` says, its message formatted with ``fields``, without a chain."""
    message = rule.message.format(**fields)
    if issubclass(rule.raises, ConfigurationError):
        raise rule.raises(message, secret=secret, tag=rule.tag) from None
    raise rule.raises(message) from None
