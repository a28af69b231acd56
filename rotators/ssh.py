"""Rotator ``ssh``: an SSH login's authorized key pair on a legacy host (OpenSSH ``sshd``).

The managed secret is a JSON login ``{"username": "deploy", "password": "<private key>"}``
whose ``password`` is the OpenSSH private key in the one-line form of
:mod:`rotators._ssh_keys`. Each rotation (strategy ``multiple``: the user keeps several
live keys, as ``authorized_keys`` allows):

- ``generate`` makes a fresh Ed25519 key pair locally (pure);
- ``apply`` logs in with the current key and adds the new public key to the login's
  ``authorized_keys``, marked ``rotation:<secret name>`` (both keys now log in);
- ``verify`` logs in with the new private key;
- ``retire`` logs in with the new key, removes the old public key, and checks that the old
  key no longer logs in (it fails with ``RotationConflict`` if another file authorizes it).

Tags: ``rotation-target`` is ``host[:port]`` (port 22 by default); ``rotation-ssh-host-key``
(required) pins the host keys the server may present, as ``type base64`` public keys or
``SHA256:`` fingerprints, comma-separated; ``rotation-ssh-authorized-keys`` names the file
(default ``.ssh/authorized_keys``, relative to the home directory). No admin secret: the
login edits its own file over SFTP, with no shell and nothing spliced into a command.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import ConfigurationError, RotationConflict, VerificationFailed
from rotation.rotator import RotatorContext, Strategy
from rotators._authorized_keys import has_key, with_key, without_key
from rotators._base import ServerSettings
from rotators._ssh_base import SshRotator
from rotators._ssh_keys import (
    BadKey,
    fingerprint,
    generate_private_key,
    load_private_key,
    public_key,
    public_line,
)
from rotators._ssh_session import open_sftp, read_text, replace_text
from rotators._ssh_target import SshTarget, check_username, parse_target

log = logging.getLogger(__name__)
#: Characters kept out of the comment that marks the app's keys (Key Vault names have none).
_MARK_UNSAFE = re.compile(r"[^A-Za-z0-9-]")


class SshKeyRotator(SshRotator[SshTarget]):
    """Rotates an SSH login's key pair (see the module docstring for the steps and tags)."""

    kind = "ssh"
    strategies = (Strategy.MULTIPLE,)
    requires_admin = False

    @classmethod
    def parse_server(cls, context: RotatorContext) -> ServerSettings[SshTarget]:
        """The target, pins and file (no TLS: ``rotation-tls-ca`` is refused)."""
        return ServerSettings(parse_target(context), None)

    def generate(self, current: Credential) -> Credential:
        """A fresh Ed25519 private key for the same login (the policy tag does not apply)."""
        return Credential(
            password=generate_private_key(), username=current.username, extra=current.extra
        )

    def apply(self, current: Credential, candidate: Credential) -> Credential:
        """Add the candidate's public key, logged in with the current key. Idempotent: a key
        already present is not added twice, and a candidate that logs in already is done."""
        user = self._same_user(current, candidate)
        new = self._public(candidate, "the new private key")
        old = self._public(current, "the current private key")
        line = public_line(new, f"rotation:{_MARK_UNSAFE.sub('-', self.context.secret_name)}")
        if self._edit(user, current, old[1], lambda text: with_key(text, new[1], line)):
            log.info("ssh: %s authorized for '%s' on %s", fingerprint(new[1]), user, self._server)
            return candidate
        if self._logs_in(user, candidate):
            return candidate
        raise ConfigurationError(
            f"SSH server {self._server} refuses the current key of '{user}' (and the new one "
            "is not authorized): the secret's value no longer logs in",
            secret=self.context.secret_name,
        )

    def verify(self, credential: Credential) -> None:
        """Log in with the credential's key; ``VerificationFailed`` if it is refused (or the
        value is no private key), ``TargetUnavailable`` if the server cannot be reached."""
        user = check_username(credential.username, secret=self.context.secret_name)
        if not self._logs_in(user, credential):
            raise VerificationFailed(f"SSH server {self._server} refused the key of '{user}'")

    def retire(self, old: Credential, new: Credential) -> None:
        """Remove the old public key, logged in with the new key, then check that the old key
        is refused. Idempotent. ``RotationConflict`` (nothing removed) if the new key does not
        log in or is not in the file, and if the old key still logs in afterwards."""
        user = self._same_user(old, new)
        retiring = self._public(old, "the old private key")[1]
        keeping = self._public(new, "the new private key")[1]
        if retiring == keeping:
            return
        if not self._edit(user, new, keeping, lambda text: without_key(text, retiring)):
            raise RotationConflict(
                f"SSH server {self._server} refuses the new key of '{user}'; "
                "refusing to remove the old one"
            )
        if self._logs_in(user, old):
            raise RotationConflict(
                f"the old key of '{user}' still logs in to {self._server}: another file than "
                f"{self.target.authorized_keys} authorizes it"
            )
        log.info("ssh: %s retired for '%s' on %s", fingerprint(retiring), user, self._server)

    # -- helpers ----------------------------------------------------------------------------

    def _edit(
        self, user: str, credential: Credential, own: bytes, change: Callable[[str], str]
    ) -> bool:
        """Log in with ``credential`` (whose public key blob is ``own``) and rewrite the file
        with ``change`` if that changes it; ``False`` if the key is refused. The file must
        authorize ``own``: else it is not the file sshd reads, and nothing is written."""
        transport = self._login(user, credential)
        if transport is None:
            return False
        where, secret = f"{user}@{self._server}", self.context.secret_name
        path = self.target.authorized_keys
        try:
            sftp = open_sftp(transport, where=where, secret=secret)
            text, before = read_text(sftp, path, where=where, secret=secret)
            if not has_key(text, own):
                raise RotationConflict(
                    f"{path} on {where} does not hold the key that logged in: sshd reads "
                    f"another file (set '{T.SSH_AUTHORIZED_KEYS}')"
                )
            changed = change(text)
            if changed != text:
                replace_text(sftp, path, changed, before, where=where, secret=secret)
        finally:
            transport.close()
        return True

    def _logs_in(self, user: str, credential: Credential) -> bool:
        try:
            transport = self._login(user, credential)
        except BadKey:
            return False
        if transport is None:
            return False
        transport.close()
        return True

    def _login(self, user: str, credential: Credential) -> Any | None:
        return self._connect(user, load_private_key(credential.password), credential)

    def _public(self, credential: Credential, what: str) -> tuple[str, bytes]:
        try:
            return public_key(credential.password)
        except BadKey as error:
            raise ConfigurationError(f"{what}: {error}", secret=self.context.secret_name) from None
