"""The ``ldap`` rotator's tags, parsed once into :class:`LdapTarget` and a trust anchor
(no network I/O).

Every refusal is a ``ConfigurationError`` naming the tag to fix: the target URL and its base
DN, ``rotation-ldap-dialect``, ``rotation-ldap-rdn``, ``rotation-tls`` (plain LDAP only to a
loopback host, since a simple bind carries the password itself, and never to Active
Directory), ``rotation-tls-ca``, and the admin's bind DN. See :mod:`rotators.ldap`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from rotation import defaults as D
from rotation import tags as T
from rotation.errors import ConfigurationError
from rotation.rotator import RotatorContext, Strategy
from rotation.targets import is_loopback
from rotation.tls import CA_OPTION, CA_SETTING, trust_anchor
from rotators._base import ServerSettings, refuse_ca
from rotators._ldap import (
    Dialect,
    LdapEndpoint,
    TlsMode,
    check_dn,
    check_rdn_attribute,
    parse_ldap_url,
)

DIALECT_OPTION = T.option(T.LDAP_DIALECT)
RDN_OPTION = T.option(T.LDAP_RDN)
TLS_OPTION = T.option(T.TLS)
#: ``rotation-tls`` values for an ``ldap://`` target.
TLS_CHOICES = {"starttls": TlsMode.STARTTLS, "disable": TlsMode.PLAIN}


@dataclass(frozen=True)
class LdapTarget:
    """The ``ldap`` rotator's target and options: where, how protected, which dialect, and
    the accounts' RDN attribute (the trust anchor sits next to it in ServerSettings)."""

    endpoint: LdapEndpoint
    mode: TlsMode
    dialect: Dialect
    rdn: str


def _ca_configured(context: RotatorContext) -> bool:
    """Whether a CA was chosen by the secret's tag or the app setting."""
    return CA_OPTION in context.options or bool(os.environ.get(CA_SETTING, "").strip())


def _tls_mode(context: RotatorContext, endpoint: LdapEndpoint, dialect: Dialect) -> TlsMode:
    """LDAPS for ``ldaps://``; for ``ldap://`` the ``rotation-tls`` tag, else StartTLS unless
    the host is loopback with no CA configured. Plain LDAP only ever to a loopback host (a
    simple bind carries the password), and never to AD."""
    secret, explicit = context.secret_name, context.options.get(TLS_OPTION)
    if endpoint.scheme == "ldaps":
        if explicit is not None:
            raise ConfigurationError("ldaps:// always uses TLS", secret=secret, tag=T.TLS)
        return TlsMode.LDAPS
    if explicit is not None:
        if explicit.strip().lower() not in TLS_CHOICES:
            raise ConfigurationError("must be starttls or disable", secret=secret, tag=T.TLS)
        mode = TLS_CHOICES[explicit.strip().lower()]
    elif is_loopback(endpoint.host) and not _ca_configured(context):
        mode = TlsMode.PLAIN
    else:
        mode = TlsMode.STARTTLS
    if mode is TlsMode.PLAIN:
        refuse_ca(context, "TLS is disabled (drop one of the tags)", tag=T.TLS)
        if not is_loopback(endpoint.host):
            raise ConfigurationError(
                "a simple bind sends the password itself: plain LDAP is allowed only for a "
                "loopback host (use ldaps:// or starttls)",
                secret=secret,
                tag=T.TLS,
            )
        if dialect is Dialect.ACTIVE_DIRECTORY:
            raise ConfigurationError(
                "Active Directory changes unicodePwd only over TLS: use ldaps:// or starttls",
                secret=secret,
                tag=T.TLS,
            )
    return mode


def parse_ldap_settings(context: RotatorContext) -> ServerSettings[LdapTarget]:
    """Target, dialect, RDN attribute, TLS mode and trust anchor; the admin's bind DN
    checked (alternating needs an admin)."""
    secret = context.secret_name
    endpoint = parse_ldap_url(context.target, secret=secret)
    chosen = context.options.get(DIALECT_OPTION, D.LDAP_DIALECT).strip().lower()
    if chosen not in set(Dialect):
        raise ConfigurationError(
            f"must be one of {', '.join(Dialect)}", secret=secret, tag=T.LDAP_DIALECT
        )
    dialect = Dialect(chosen)
    default_rdn = "cn" if dialect is Dialect.ACTIVE_DIRECTORY else "uid"
    rdn = check_rdn_attribute(
        context.options.get(RDN_OPTION, default_rdn), secret=secret, tag=T.LDAP_RDN
    )
    if context.strategy is Strategy.ALTERNATING and context.admin is None:
        raise ConfigurationError(
            "the alternating strategy resets the other account as an admin",
            secret=secret,
            tag=T.ADMIN_SECRET,
        )
    if context.admin is not None:
        check_dn(
            context.admin.username or "",
            what="the admin's username (its bind DN)",
            secret=secret,
            tag=T.ADMIN_SECRET,
        )
    mode = _tls_mode(context, endpoint, dialect)
    anchor = None if mode is TlsMode.PLAIN else trust_anchor(context)
    return ServerSettings(LdapTarget(endpoint, mode, dialect, rdn), anchor)
