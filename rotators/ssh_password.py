"""Rotator ``ssh-password``: a local account's password on a legacy host, set with
``chpasswd`` over SSH by an admin login whose key is pinned like the host's.

The managed secret is a JSON login ``{"username": "operator", "password": "..."}``; the admin
secret (``rotation-admin-secret``) holds an admin login's OpenSSH private key in the one-line
form of :mod:`rotators._ssh_keys` as its ``password``. ``apply`` logs in as the admin with
that key and runs the fixed command ``chpasswd`` with ``user:password`` on its standard input:
nothing from a tag, a name or a password is ever part of a command line or reaches a shell.
``verify`` logs in as the user with the password (SSH password authentication, falling back
to keyboard-interactive), only after the host key matched a pin. Strategy ``single``: the old
password stops working at once.

Tags: ``rotation-target`` ``host[:port]`` and ``rotation-ssh-host-key`` as for ``ssh``.
"""

from __future__ import annotations

import logging
from typing import Any

from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import ConfigurationError, VerificationFailed
from rotation.rotator import RotatorContext, Strategy
from rotation.sanitize import sanitize_error
from rotators._base import ServerSettings
from rotators._ssh_base import SshRotator
from rotators._ssh_keys import BadKey, load_private_key
from rotators._ssh_session import run_fixed
from rotators._ssh_target import SshHost, check_username, parse_host

log = logging.getLogger(__name__)

#: The only command this rotator runs; it reads ``user:password`` lines on stdin.
CHPASSWD = "chpasswd"


class SshPasswordRotator(SshRotator[SshHost]):
    """Sets a local password with ``chpasswd`` (see the module docstring)."""

    kind = "ssh-password"
    strategies = (Strategy.SINGLE,)
    #: ``chpasswd`` (PAM) refuses passwords of 512 bytes and more.
    max_password_bytes = 511

    @classmethod
    def parse_server(cls, context: RotatorContext) -> ServerSettings[SshHost]:
        """The target and pins; ``rotation-ssh-authorized-keys`` is refused (not used)."""
        if T.option(T.SSH_AUTHORIZED_KEYS) in context.options:
            raise ConfigurationError(
                "is not used by ssh-password (it sets a password, not keys)",
                secret=context.secret_name,
                tag=T.SSH_AUTHORIZED_KEYS,
            )
        return ServerSettings(parse_host(context), None)

    def apply(self, current: Credential, candidate: Credential) -> Credential:
        """Set the candidate's password with ``chpasswd`` as the admin. Idempotent."""
        user = self._same_user(current, candidate)
        transport = self._admin_login(candidate, current)
        where = f"{self._server} as admin"
        try:
            status, errors = run_fixed(
                transport, CHPASSWD, f"{user}:{candidate.password}\n", where=where
            )
        finally:
            transport.close()
        if status != 0:
            detail = sanitize_error(RuntimeError(errors), self._secrets(candidate, current))
            raise ConfigurationError(
                f"{CHPASSWD} on {self._server} failed for '{user}' (exit {status}): {detail} "
                "(the admin must be root, or have a forced command running chpasswd as root)",
                secret=self.context.secret_name,
                tag=T.ADMIN_SECRET,
            )
        log.info("ssh-password: set the password of '%s' on %s", user, self._server)
        return candidate

    def verify(self, credential: Credential) -> None:
        """Log in as the user with the password; ``VerificationFailed`` if refused."""
        user = check_username(credential.username, secret=self.context.secret_name)
        transport = self._connect(user, credential.password, credential)
        if transport is None:
            raise VerificationFailed(f"SSH server {self._server} refused the password of '{user}'")
        transport.close()

    # -- helpers ----------------------------------------------------------------------------

    def _admin_login(self, *credentials: Credential) -> Any:
        admin = self._admin_credential(
            "ssh-password needs an admin login with a key (rotation-admin-secret)"
        )
        user = check_username(admin.username, secret=self.context.secret_name)
        try:
            key = load_private_key(admin.password)
        except BadKey as error:
            raise ConfigurationError(
                f"the admin secret's password: {error}",
                secret=self.context.secret_name,
                tag=T.ADMIN_SECRET,
            ) from None
        transport = self._connect(user, key, *credentials)
        if transport is None:
            raise ConfigurationError(
                f"SSH server {self._server} refused the admin key of '{user}'",
                secret=self.context.secret_name,
                tag=T.ADMIN_SECRET,
            )
        return transport
