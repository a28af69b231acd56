"""The ``ssh`` rotator's settings: its target, host key pins and file, parsed from the tags,
and the login names it accepts. No I/O here; every refusal is a ``ConfigurationError``
naming the tag, and no message repeats a tag's value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rotation import defaults
from rotation import tags as T
from rotation.errors import ConfigurationError
from rotation.rotator import RotatorContext
from rotation.targets import Endpoint, check_target_text, parse_endpoint
from rotators._base import refuse_ca, refuse_target
from rotators._ssh_keys import BadKey, HostKeyPins, parse_pins

#: A POSIX-portable user name (useradd's default rule): nothing a shell or sshd would read.
_USERNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]{0,31}$")
#: The last path component of a file this rotator may rewrite.
_AUTHORIZED_KEYS_NAME = re.compile(r"^authorized_keys2?$")


@dataclass(frozen=True)
class SshHost:
    """Where sshd listens and the host keys it may present."""

    endpoint: Endpoint
    pins: HostKeyPins


@dataclass(frozen=True)
class SshTarget(SshHost):
    """An :class:`SshHost` and the authorized_keys file to edit there."""

    authorized_keys: str


def check_username(username: str | None, *, secret: str | None = None) -> str:
    """``username`` if it is a portable login name, else ``ConfigurationError``."""
    if not username or not _USERNAME.match(username):
        raise ConfigurationError(
            "the secret must name its SSH login in 'username': letters, digits, '.', '_' "
            "and '-', at most 32, not starting with a digit, '.' or '-'",
            secret=secret,
        )
    return username


def parse_host(context: RotatorContext) -> SshHost:
    """The target and the pins from the tags; ``ConfigurationError`` naming the tag for
    anything else (``rotation-tls-ca`` included: SSH has no TLS). No I/O."""
    refuse_ca(context, "SSH does not use TLS (pin the host key instead)", tag=T.TLS_CA)
    secret = context.secret_name
    endpoint = parse_endpoint(
        context.target, default_port=defaults.SSH_PORT, database_required=False, secret=secret
    )
    if endpoint.database:
        refuse_target("an SSH target has no path", expected="host[:port]", secret=secret)
    pin_text = context.options.get(T.option(T.SSH_HOST_KEY), "")
    try:
        pins = parse_pins(check_target_text(pin_text, secret=secret, tag=T.SSH_HOST_KEY))
    except BadKey as error:
        raise ConfigurationError(
            f"{error} (pin the server's host key: ssh-keyscan, or ssh-keygen -lf on its .pub)",
            secret=secret,
            tag=T.SSH_HOST_KEY,
        ) from None
    return SshHost(endpoint, pins)


def parse_target(context: RotatorContext) -> SshTarget:
    """:func:`parse_host` and the authorized_keys file (``rotation-ssh-authorized-keys``)."""
    host, secret = parse_host(context), context.secret_name
    raw_path = context.options.get(T.option(T.SSH_AUTHORIZED_KEYS), defaults.SSH_AUTHORIZED_KEYS)
    path = check_target_text(raw_path, secret=secret, tag=T.SSH_AUTHORIZED_KEYS)
    if not _AUTHORIZED_KEYS_NAME.match(path.rsplit("/", 1)[-1]) or "/../" in f"/{path}/":
        raise ConfigurationError(
            "must name an 'authorized_keys' (or 'authorized_keys2') file, without '..'",
            secret=secret,
            tag=T.SSH_AUTHORIZED_KEYS,
        )
    return SshTarget(host.endpoint, host.pins, path)
