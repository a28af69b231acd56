"""The ``ldap`` rotator: the password of a service account in an LDAP directory (OpenLDAP,
Active Directory), through ``ldap3``. See docs/rotators.md for the operator's view.

Tags
    ``rotation-target``  ``ldaps://host[:port]/<base DN>`` or ``ldap://host[:port]/<base DN>``
    (the base DN percent-encoded where a URL needs it): the entry under which the accounts live
    ``rotation-strategy``  ``single`` (default) or ``alternating``
    ``rotation-admin-secret``  optional for ``single``, required for ``alternating``: JSON
    ``username`` (the admin's bind DN) and ``password``; the admin needs write access to the
    accounts' ``userPassword`` (AD: the "Reset Password" right)
    ``rotation-ldap-dialect``  ``openldap`` (default) or ``active-directory``
    ``rotation-ldap-rdn``  the RDN attribute of the accounts (default ``uid``; AD ``cn``)
    ``rotation-tls``  for ``ldap://``: ``starttls`` or ``disable`` (loopback hosts only: a
    simple bind sends the password itself); default ``starttls`` except for a loopback host
    with no CA configured (``disable``)
    ``rotation-tls-ca``  CA file (absolute path, or ``system``) for LDAPS and StartTLS;
    default the ``ROTATION_TLS_CA_FILE`` app setting, else the system trust store

Accounts
    The managed secret's ``username`` is the account's RDN value: its DN is
    ``<rdn>=<username>,<base DN>`` with the value escaped (RFC 4514), so the alternating
    pair is ``uid=app`` / ``uid=app_clone`` under one base. Both entries must exist: the
    rotator changes passwords, it never creates entries (their object classes and required
    attributes are the directory's business). No search filter is built from any input.

Strategies
    single
        Without an admin: bind as the account with the current password and change it
        (OpenLDAP: RFC 3062 password modify with the old password; AD: delete the old
        ``unicodePwd`` value, add the new one). A retry after the change finds the current
        password refused and the candidate accepted, and succeeds. With an admin: a reset.
    alternating
        Bind as the admin and reset the other account's password (OpenLDAP: password modify
        with ``userIdentity``, hashed by the server; AD: replace ``unicodePwd``). Repeating a
        reset is harmless, so a retry simply resets again.

Verify is a simple bind with the new password on a fresh connection.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager as ContextManager
from typing import ClassVar

import ldap3
from ldap3.core.exceptions import LDAPCommunicationError, LDAPException, LDAPStartTLSError

from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import ConfigurationError, RotationConflict, VerificationFailed
from rotation.policy import PasswordPolicy
from rotation.rotator import RotatorContext, Strategy
from rotation.tls import client_context
from rotators import _errors as E
from rotators._base import ServerSettings, TargetRotator
from rotators._ldap import (
    TRANSIENT_RESULTS,
    LdapEndpoint,
    LdapRefused,
    LoginRefused,
    TlsMode,
    account_dn,
    change_own_password,
    close,
    connect,
    reset_password,
)
from rotators._ldap_settings import LdapTarget, parse_ldap_settings

log = logging.getLogger(__name__)

#: LDAP result code insufficientAccessRights.
INSUFFICIENT_ACCESS = 50


def _result(*codes: int) -> E.Match:
    """Matches the directory's refusal with one of ``codes`` (any refusal when none)."""
    return lambda error: isinstance(error, LdapRefused) and (not codes or error.code in codes)


_REFUSED = "ldap {endpoint} refused the operation: {detail}"
#: Directory refusals and ldap3 errors of the account's own binds and changes.
SELF_RULES: tuple[E.Rule, ...] = (
    E.unavailable(_result(*TRANSIENT_RESULTS), "ldap {endpoint} is unavailable: {detail}"),
    E.misconfigured(_result(), _REFUSED),
    E.TLS_REFUSED,
    E.misconfigured(E.is_(LDAPStartTLSError), "ldap {endpoint} refused StartTLS: {detail}", T.TLS),
    E.unavailable(E.is_(LDAPCommunicationError), "ldap {endpoint} cannot be reached: {detail}"),
    E.misconfigured(E.is_(LDAPException), "ldap {endpoint}: {detail}"),
)
#: The same for the admin's, where missing rights name the admin secret.
ADMIN_RULES: tuple[E.Rule, ...] = (
    SELF_RULES[0],
    E.misconfigured(
        _result(INSUFFICIENT_ACCESS),
        _REFUSED + " (the admin needs write access to the password)",
        T.ADMIN_SECRET,
    ),
    *SELF_RULES[1:],
)


class LdapRotator(TargetRotator[LdapTarget]):
    """Rotates an LDAP account's password (see the module docstring for the tags).

    Passwords: at most 256 characters (Active Directory's limit for ``unicodePwd``); no
    character is unsafe beyond the engine's refusals (binds and password modify carry the
    password as its UTF-8 octets, never SASLprep'd; AD's quotes delimit the value, inner quotes
    are kept).
    """

    kind = "ldap"
    strategies: ClassVar[tuple[Strategy, ...]] = (Strategy.SINGLE, Strategy.ALTERNATING)
    default_policy = PasswordPolicy(length=32, symbols=2)
    max_password_length = 256
    requires_admin: ClassVar[bool] = False

    @classmethod
    def parse_server(cls, context: RotatorContext) -> ServerSettings[LdapTarget]:
        """See :func:`rotators._ldap_settings.parse_ldap_settings`."""
        return parse_ldap_settings(context)

    @property
    def endpoint(self) -> LdapEndpoint:
        """The directory's URL (host, port, base DN)."""
        return self.target.endpoint

    def __repr__(self) -> str:
        return f"LdapRotator({self.endpoint}, {self.context.strategy})"

    # -- engine steps -----------------------------------------------------------------------

    def apply(self, current: Credential, candidate: Credential) -> Credential:
        """Set the candidate's password on its account (see the strategies). Idempotent."""
        dn = self._dn(candidate)
        if self.context.strategy is Strategy.SINGLE and self.context.admin is None:
            self._apply_as_self(current, candidate, dn)
        else:
            admin = self._admin_credential("an admin credential with a bind DN is required")
            with self._errors(current, candidate, admin=True):
                conn = self._bind_admin(admin)
                try:
                    reset_password(conn, self.target.dialect, dn, candidate.password)
                finally:
                    close(conn)
        log.info("ldap %s: new password applied to '%s'", self.endpoint, dn)
        return candidate

    def verify(self, credential: Credential) -> None:
        """A simple bind as the account on a fresh connection; refused -> VerificationFailed."""
        dn = self._dn(credential)
        with self._errors(credential):
            try:
                close(self._bind(dn, credential.password))
            except LoginRefused:
                raise VerificationFailed(
                    f"ldap {self.endpoint} refused the bind of '{dn}'"
                ) from None

    # -- helpers ----------------------------------------------------------------------------

    def _apply_as_self(self, current: Credential, candidate: Credential, dn: str) -> None:
        if current.username != candidate.username:
            raise ConfigurationError(
                "single strategy: the candidate must keep the current user name",
                secret=self.context.secret_name,
            )
        with self._errors(current, candidate):
            try:
                conn = self._bind(dn, current.password)
            except LoginRefused:
                if self._binds(dn, candidate.password):
                    log.info("ldap %s: '%s' already uses the candidate", self.endpoint, dn)
                    return
                raise RotationConflict(
                    f"neither the current nor the candidate password of '{dn}' binds to "
                    f"{self.endpoint}"
                ) from None
            try:
                change_own_password(
                    conn, self.target.dialect, dn, current.password, candidate.password
                )
            finally:
                close(conn)

    def _dn(self, credential: Credential) -> str:
        return account_dn(
            credential.username,
            rdn=self.target.rdn,
            base=self.endpoint.base_dn,
            secret=self.context.secret_name,
        )

    def _bind(self, dn: str, password: str) -> ldap3.Connection:
        tls = None
        if self.anchor is not None:
            tls = client_context(self.anchor, secret=self.context.secret_name)
        return connect(
            self.endpoint, tls, dn, password, starttls=self.target.mode is TlsMode.STARTTLS
        )

    def _binds(self, dn: str, password: str) -> bool:
        try:
            close(self._bind(dn, password))
        except LoginRefused:
            return False
        return True

    def _bind_admin(self, admin: Credential) -> ldap3.Connection:
        try:
            return self._bind(admin.username or "", admin.password)
        except LoginRefused:
            raise ConfigurationError(
                f"ldap {self.endpoint} refused the admin bind",
                secret=self.context.secret_name,
                tag=T.ADMIN_SECRET,
            ) from None

    def _errors(self, *credentials: Credential, admin: bool = False) -> ContextManager[None]:
        """Translate directory refusals and ldap3 exceptions into rotation errors (redacted)."""
        rules = ADMIN_RULES if admin else SELF_RULES
        where = f"ldap {self.endpoint}"
        return self._translating(rules, *credentials, where=where, endpoint=self.endpoint)
