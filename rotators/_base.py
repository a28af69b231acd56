"""What every built-in rotator that logs in to a server shares (no I/O here).

:class:`ServerRotator` holds the trust anchor and the admin credential, runs driver calls
under a table of :mod:`rotators._errors` (:meth:`ServerRotator._translating`), and words the
failures every such rotator reports the same way: a certificate that does not verify
(``ConfigurationError`` naming ``rotation-tls-ca``) and a missing admin credential. The
functions parse what several rotators' targets share: URL targets (:func:`split_url_target`),
plain connections allowed only to loopback (:func:`refuse_plain`), a ``verify``/``disable``
TLS tag (:func:`verify_or_disable`). The engine's wrapper (:mod:`rotation.guarded`) still
redacts and types whatever escapes.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, NoReturn, TypeVar
from urllib.parse import SplitResult, urlsplit

from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import ConfigurationError, RotationError
from rotation.rotator import UNPARSED, Rotator, RotatorContext
from rotation.sanitize import sanitize_error
from rotation.targets import check_target_text, is_loopback
from rotation.tls import (
    CA_OPTION,
    CA_SETTING,
    CA_TAG,
    TrustAnchor,
    tls_refused,
    trust_anchor,
    verification_failure,
)
from rotators._errors import LoginRefused, Rule, UnverifiedCertificate, matching, raise_rule

#: The modes of a ``verify``/``disable`` TLS tag (:func:`verify_or_disable`).
VERIFY_OR_DISABLE = ("verify", "disable")

#: A rotator's parsed target.
TargetT = TypeVar("TargetT")


@dataclass(frozen=True)
class ServerSettings(Generic[TargetT]):
    """A rotator's target and trust anchor, parsed once (:meth:`Rotator.parse_settings`)."""

    target: TargetT
    #: The CA the connections trust, ``None`` when they do not use TLS.
    anchor: TrustAnchor | None


class ServerRotator(Rotator):
    """A rotator with a server to log in to: subclasses set :attr:`anchor` in ``__init__``."""

    #: The CA the connections trust, ``None`` when they do not use TLS.
    anchor: TrustAnchor | None = None

    def _secrets(self, *credentials: Credential) -> list[str]:
        """Every password this rotator knows of, to redact from driver messages."""
        values = [c.password for c in credentials]
        if self.context.admin is not None:
            values.append(self.context.admin.password)
        return values

    def _admin_credential(self, message: str, *, username: bool = True) -> Credential:
        """The admin credential (with a user name unless ``username`` is false), else
        ``ConfigurationError`` naming ``rotation-admin-secret``."""
        admin = self.context.admin
        if admin is None or (username and not admin.username):
            raise ConfigurationError(message, secret=self.context.secret_name, tag=T.ADMIN_SECRET)
        return admin

    @contextmanager
    def _translating(
        self,
        rules: Sequence[Rule],
        *credentials: Credential,
        secrets: Iterable[str] = (),
        **fields: Any,
    ) -> Iterator[None]:
        """Run the block; a driver error that a row of ``rules`` matches becomes that row's
        rotation error (:mod:`rotators._errors`), its message sanitized of every password
        known here, of ``credentials`` and of ``secrets``. ``fields`` fill the templates
        (``where`` also names the server in a certificate refusal). Rotation errors and
        :class:`LoginRefused` pass through; an error no row matches escapes unchanged."""
        try:
            yield
        except (RotationError, LoginRefused):
            raise
        except Exception as error:
            live = [r for r in rules if not r.tls_only or self.anchor is not None]
            rule = matching(error, live)
            if rule is None:
                raise
            detail = sanitize_error(error, [*self._secrets(*credentials), *secrets])
            secret = self.context.secret_name
            if rule.raises is UnverifiedCertificate and self.anchor is not None:
                where = str(fields.get("where", self.kind))
                raise tls_refused(where, self.anchor, secret=secret, detail=detail) from None
            fields.update(detail=detail, kind=type(error).__name__)
            raise_rule(rule, secret=secret, fields=fields)

    def _refuse_unverified(self, error: BaseException, where: str, detail: str) -> None:
        """Raise ``ConfigurationError`` naming ``rotation-tls-ca`` if ``error`` is a failed
        certificate verification on a verified connection; else return."""
        if self.anchor is not None and verification_failure(error):
            raise tls_refused(
                where, self.anchor, secret=self.context.secret_name, detail=detail
            ) from None


def refuse_target(reason: str, *, expected: str, secret: str | None) -> NoReturn:
    """Raise ``ConfigurationError`` naming ``rotation-target``: ``reason; expected ...``."""
    raise ConfigurationError(f"{reason}; expected {expected}", secret=secret, tag=T.TARGET)


def split_url_target(
    target: str | None,
    *,
    what: str,
    schemes: tuple[str, ...],
    expected: str,
    secret: str | None,
    default_scheme: str | None = None,
) -> tuple[SplitResult, int | None, str]:
    """The ``rotation-target`` URL split, with its port and host (never empty).

    Refuses (:func:`refuse_target`, never echoing the value) an empty target, text no target
    may hold (:func:`rotation.targets.check_target_text`), credentials anywhere (``@``), a
    URL ``urlsplit`` cannot read, a scheme not in ``schemes``, and a URL without a host. A
    target without ``://`` gets ``default_scheme`` when one is given.
    """
    if not target or not target.strip():
        refuse_target(f"a {what} target is required", expected=expected, secret=secret)
    text = check_target_text(target, secret=secret)
    if default_scheme is not None and "://" not in text:
        text = f"{default_scheme}://{text}"
    if "@" in text:
        refuse_target(
            "the target must not contain credentials (use the admin secret)",
            expected=expected,
            secret=secret,
        )
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        refuse_target("the target is not a valid URL", expected=expected, secret=secret)
    if parts.scheme not in schemes:
        refuse_target(f"unsupported scheme '{parts.scheme}'", expected=expected, secret=secret)
    if not parts.hostname:
        refuse_target("the target has no host", expected=expected, secret=secret)
    return parts, port, parts.hostname


def ca_configured(context: RotatorContext) -> bool:
    """Whether a CA is named, by ``rotation-tls-ca`` or the ``ROTATION_TLS_CA_FILE`` app
    setting (then every connection verifies TLS against it)."""
    return CA_OPTION in context.options or bool(os.environ.get(CA_SETTING, "").strip())


def verify_or_disable(context: RotatorContext, host: str, *, tag: str) -> TrustAnchor | None:
    """The trust anchor of verified TLS, or ``None`` for TLS off, from the ``tag`` option
    (``verify`` or ``disable``; ``ConfigurationError`` naming ``tag`` for anything else).

    Default ``verify``, except ``disable`` for a loopback ``host`` with no CA configured
    (:func:`ca_configured`). ``disable`` together with ``rotation-tls-ca`` is refused as a
    contradiction.
    """
    explicit = context.options.get(T.option(tag))
    mode = explicit.strip().lower() if explicit is not None else None
    if mode is not None and mode not in VERIFY_OR_DISABLE:
        raise ConfigurationError(
            f"must be one of {', '.join(VERIFY_OR_DISABLE)}", secret=context.secret_name, tag=tag
        )
    if mode is None:
        mode = "verify" if ca_configured(context) or not is_loopback(host) else "disable"
    if mode == "disable":
        refuse_ca(context, "TLS is disabled (drop one of the tags)", tag=tag)
        return None
    return trust_anchor(context)


def require_username(credential: Credential, message: str, *, secret: str) -> str:
    """The credential's user name, else ``ConfigurationError`` with ``message``."""
    if not credential.username:
        raise ConfigurationError(message, secret=secret)
    return credential.username


def refuse_plain(context: RotatorContext, host: str, what: str, why: str) -> None:
    """``ConfigurationError`` naming ``rotation-target`` if ``host`` is not loopback: a plain
    connection (``what``) would carry the password itself over the network (``why``)."""
    if not is_loopback(host):
        raise ConfigurationError(
            f"{what} is allowed only for a loopback host: {why}",
            secret=context.secret_name,
            tag=T.TARGET,
        )


def refuse_ca(context: RotatorContext, reason: str, *, tag: str) -> None:
    """``ConfigurationError`` naming ``tag`` if ``rotation-tls-ca`` is set where the
    connections do not use TLS (``reason`` says why not)."""
    if CA_OPTION in context.options:
        raise ConfigurationError(
            f"{reason}, so the CA in '{CA_TAG}' would be ignored",
            secret=context.secret_name,
            tag=tag,
        )


class TargetRotator(ServerRotator, Generic[TargetT]):
    """A rotator that manages users on a server through an admin login (Redis, RabbitMQ).

    Its settings are the parsed target and trust anchor (:class:`ServerSettings`), made
    once by :meth:`parse_server` and kept as :attr:`settings`.
    """

    requires_admin: ClassVar[bool] = True

    settings: ServerSettings[TargetT]

    def __init__(self, context: RotatorContext, settings: Any = UNPARSED) -> None:
        super().__init__(context)
        self.settings = self.settings_for(context, settings)
        self.anchor = self.settings.anchor

    @property
    def target(self) -> TargetT:
        """The parsed ``rotation-target``."""
        return self.settings.target

    @classmethod
    def parse_settings(cls, context: RotatorContext) -> ServerSettings[TargetT]:
        """The strategy checked (see the base class), then :meth:`parse_server`."""
        super().parse_settings(context)
        return cls.parse_server(context)

    @classmethod
    @abstractmethod
    def parse_server(cls, context: RotatorContext) -> ServerSettings[TargetT]:
        """Parse the target and choose the trust anchor; ``ConfigurationError`` naming the
        tag for what cannot work. No network I/O."""
