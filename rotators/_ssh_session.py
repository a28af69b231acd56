"""SSH logins and SFTP file edits for the ``ssh`` rotator (paramiko), host key pinned.

:func:`login` opens a transport, refuses any host key that no pin accepts (before a key is
offered: ``ConfigurationError`` naming ``rotation-ssh-host-key``, never a trust-on-first-use
or ``AutoAddPolicy``), and authenticates with one private key. :func:`read_text` and
:func:`replace_text` edit a file over SFTP with no shell involved: the new text goes to a
temporary file beside the old one (mode 600), which is then renamed over it atomically
(``posix-rename@openssh.com``), so a crash leaves either the old file or the new one.

Errors are :mod:`rotation.errors` types; messages carry no key material (the callers pass
their private keys' text to redact whatever a driver message might quote).
"""

from __future__ import annotations

import errno
import secrets
import socket
from collections.abc import Sequence
from typing import Any

import paramiko

from rotation import tags as T
from rotation.errors import ConfigurationError, RotationError, TargetUnavailable
from rotation.sanitize import sanitize_error
from rotation.targets import Endpoint
from rotators._ssh_keys import HostKeyPins, fingerprint

#: Seconds to wait for the TCP connection, the banner, the key exchange and authentication.
TIMEOUT = 10.0
#: Mode of the authorized_keys file this rotator writes (sshd's StrictModes refuses
#: a file that others may write).
FILE_MODE = 0o600


def login(
    endpoint: Endpoint,
    pins: HostKeyPins,
    username: str,
    auth: Any,
    *,
    secret: str,
    redact: Sequence[str],
) -> Any | None:
    """An authenticated ``paramiko.Transport`` as ``username`` with ``auth``, a private key
    (``paramiko.PKey``) or a password (``str``, sent only after the host key matched);
    ``None`` if the server refuses it. ``TargetUnavailable`` if it cannot be reached or the
    SSH handshake fails; ``ConfigurationError`` if its host key matches no pin."""
    try:
        sock = socket.create_connection((endpoint.host, endpoint.port), timeout=TIMEOUT)
    except OSError as error:
        raise TargetUnavailable(
            f"SSH to {endpoint}: cannot connect ({sanitize_error(error, redact)})"
        ) from None
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = TIMEOUT
        transport.auth_timeout = TIMEOUT
        if pins.algorithms:
            transport.get_security_options().key_types = pins.algorithms
        transport.start_client(timeout=TIMEOUT)
        host_key = transport.get_remote_server_key().asbytes()
        if not pins.accepts(host_key):
            raise ConfigurationError(
                f"SSH server {endpoint} presented host key {fingerprint(host_key)}, which "
                "matches no pin; nothing was sent (check the pin, or whether the host changed)",
                secret=secret,
                tag=T.SSH_HOST_KEY,
            )
        try:
            if isinstance(auth, str):
                transport.auth_password(username, auth)
            else:
                transport.auth_publickey(username, auth)
        except paramiko.AuthenticationException:
            transport.close()
            return None
        if not transport.is_authenticated():  # the server asks for a second factor
            transport.close()
            return None
        return transport
    except ConfigurationError:
        transport.close()
        raise
    except paramiko.IncompatiblePeer as error:
        transport.close()
        if pins.algorithms and "host key" in str(error):
            raise ConfigurationError(
                f"SSH server {endpoint} has no host key of the pinned type(s) "
                f"({', '.join(pins.algorithms)}); nothing was sent",
                secret=secret,
                tag=T.SSH_HOST_KEY,
            ) from None
        raise TargetUnavailable(
            f"SSH to {endpoint}: no algorithm in common ({sanitize_error(error, redact)})"
        ) from None
    except (paramiko.SSHException, OSError, EOFError) as error:
        transport.close()
        raise TargetUnavailable(
            f"SSH to {endpoint} failed: {sanitize_error(error, redact)}"
        ) from None


def run_fixed(transport: Any, command: str, data: str, *, where: str) -> tuple[int, str]:
    """Run the fixed ``command`` (never built from input) with ``data`` on its stdin; return
    its exit status and the end of its stderr. ``TargetUnavailable`` if the channel fails."""
    try:
        channel = transport.open_session(timeout=TIMEOUT)
        channel.settimeout(TIMEOUT)
        channel.exec_command(command)
        channel.sendall(data.encode("utf-8"))
        channel.shutdown_write()
        errors: bytes = channel.makefile_stderr("rb").read()
        status: int = channel.recv_exit_status()
    except (paramiko.SSHException, OSError, EOFError) as error:
        raise TargetUnavailable(f"running {command} on {where}: {type(error).__name__}") from None
    return status, errors.decode("utf-8", "replace").strip()[-300:]


def open_sftp(transport: Any, *, where: str, secret: str) -> Any:
    """An ``SFTPClient`` on the logged-in ``transport``; ``ConfigurationError`` if the
    server has no SFTP subsystem, ``TargetUnavailable`` if the connection drops."""
    try:
        return transport.open_sftp_client()
    except (OSError, EOFError) as error:
        raise TargetUnavailable(f"SFTP to {where} failed: {type(error).__name__}") from None
    except paramiko.SSHException:
        raise ConfigurationError(
            f"{where} refuses the SFTP subsystem (sshd_config: 'Subsystem sftp ...')",
            secret=secret,
        ) from None


def read_text(sftp: Any, path: str, *, where: str, secret: str) -> tuple[str, Any]:
    """The text of ``path`` and its attributes (``SFTPAttributes``, to detect a concurrent
    change); ``ConfigurationError`` if it is missing, unreadable or not UTF-8."""
    try:
        before = sftp.stat(path)
        with sftp.open(path, "r") as handle:
            data: bytes = handle.read()
    except OSError as error:
        raise _file_error(error, f"cannot read {path} on {where}", secret) from None
    except (paramiko.SSHException, EOFError) as error:
        raise TargetUnavailable(f"reading {path} on {where}: {type(error).__name__}") from None
    try:
        return data.decode("utf-8"), before
    except UnicodeDecodeError:
        raise ConfigurationError(f"{path} on {where} is not UTF-8 text", secret=secret) from None


def replace_text(sftp: Any, path: str, text: str, before: Any, *, where: str, secret: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file, mode 600, then rename).

    ``TargetUnavailable`` (retry) if the file's size or modification time (SFTP has whole
    seconds) changed since ``before`` was read: a concurrent edit is not overwritten then
    (best effort: SFTP has no lock, an edit within the same second and size goes unseen).
    """
    temporary = f"{path}.rotation-{secrets.token_hex(4)}"
    try:
        with sftp.open(temporary, "wx") as handle:
            handle.chmod(FILE_MODE)
            handle.write(text.encode("utf-8"))
        now = sftp.stat(path)
        if (now.st_mtime, now.st_size) != (before.st_mtime, before.st_size):
            raise TargetUnavailable(f"{path} on {where} changed while it was edited; retry")
        sftp.posix_rename(temporary, path)
    except OSError as error:
        _remove_quietly(sftp, temporary)
        raise _file_error(error, f"cannot write {path} on {where}", secret) from None
    except (paramiko.SSHException, EOFError) as error:
        _remove_quietly(sftp, temporary)
        raise TargetUnavailable(f"writing {path} on {where}: {type(error).__name__}") from None
    except BaseException:
        _remove_quietly(sftp, temporary)
        raise


def _remove_quietly(sftp: Any, path: str) -> None:
    try:
        sftp.remove(path)
    except (OSError, paramiko.SSHException):
        pass


def _file_error(error: OSError, what: str, secret: str) -> RotationError:
    """``ConfigurationError`` for a missing file or a refused access, else retryable."""
    reason = error.strerror or type(error).__name__
    if error.errno not in (errno.ENOENT, errno.EACCES, errno.EPERM):
        return TargetUnavailable(f"{what}: {reason}")
    hint = f"the login must own the file; set '{T.SSH_AUTHORIZED_KEYS}' if it is elsewhere"
    return ConfigurationError(
        f"{what}: {reason} ({hint})", secret=secret, tag=T.SSH_AUTHORIZED_KEYS
    )
