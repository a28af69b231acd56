"""The ``ssh`` rotator's pure parts: the stored key form, host key pins, authorized_keys
edits (no server needed; keys made by ``ssh-keygen`` where the format matters), and RSA
and ECDSA keys, as a user would install first, rotated on the real sshd."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from rotation.credential import Credential
from rotators._authorized_keys import has_key, key_blob, with_key, without_key
from rotators._ssh_keys import (
    BadKey,
    decode_public,
    generate_private_key,
    load_private_key,
    parse_pins,
    private_key_pem,
    public_key,
)
from rotators.ssh import SshKeyRotator
from tests.support.sshd import Sshd, new_key_pair, ssh_context

ED = "AAAAC3NzaC1lZDI1NTE5AAAAIGq1wdWzmMOtPxu3rXyc6nZQ0UjVwhHxHKu0I4xWbqr4"


def keygen(tmp_path: Path, key_type: str, *, passphrase: str = "") -> tuple[str, str]:
    """(stored one-line private key as ``tr '\\n' ' '`` makes it, public line) from
    ``ssh-keygen``."""
    path = tmp_path / f"id_{key_type}"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", key_type, "-N", passphrase, "-C", "", "-f", str(path)],
        check=True,
    )
    return path.read_text().replace("\n", " ").strip(), path.with_suffix(".pub").read_text()


# ---------------------------------------------------------------------- stored keys


def test_a_generated_key_is_one_line_and_ssh_keygen_reads_it(tmp_path: Path) -> None:
    stored = generate_private_key()
    assert "\n" not in stored and stored.count(" ") == 8  # the armour's words only
    path = tmp_path / "id"
    path.write_text(private_key_pem(stored))
    path.chmod(0o600)
    derived = subprocess.check_output(["ssh-keygen", "-y", "-f", str(path)], text=True).split()
    key_type, blob = public_key(stored)
    assert derived[0] == key_type == "ssh-ed25519"
    assert decode_public(key_type, derived[1]) == blob
    assert generate_private_key() != stored


@pytest.mark.parametrize("key_type", ["rsa", "ecdsa", "ed25519"])
def test_keys_from_ssh_keygen_in_the_tr_form_load(tmp_path: Path, key_type: str) -> None:
    stored, public = keygen(tmp_path, key_type)
    words = public.split()
    assert public_key(stored) == (words[0], decode_public(words[0], words[1]))


def test_a_passphrase_protected_key_is_refused(tmp_path: Path) -> None:
    stored, _ = keygen(tmp_path, "ed25519", passphrase="secret words")
    with pytest.raises(BadKey, match="passphrase"):
        load_private_key(stored)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "hunter2",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        "-----BEGIN OPENSSH PRIVATE KEY----- ??? -----END OPENSSH PRIVATE KEY-----",
        "-----BEGIN OPENSSH PRIVATE KEY----- AAAA -----END OPENSSH PRIVATE KEY-----",
        "-----BEGIN RSA PRIVATE KEY----- AAAA -----END RSA PRIVATE KEY-----",
    ],
)
def test_values_that_are_no_key_are_refused_without_echo(value: str) -> None:
    with pytest.raises(BadKey) as raised:
        load_private_key(value)
    assert not {"hunter2", "???", "AAAA", "RSA"} & set(str(raised.value).split())


def test_a_stored_key_with_trailing_text_is_refused() -> None:
    with pytest.raises(BadKey):
        private_key_pem(generate_private_key() + "x")


# ---------------------------------------------------------------------- pins


def test_full_key_pins_restrict_the_host_key_algorithms() -> None:
    pins = parse_pins(f"ssh-ed25519 {ED} host-a, ssh-ed25519 {ED}")
    assert pins.algorithms == ("ssh-ed25519",)
    assert pins.accepts(decode_public("ssh-ed25519", ED))
    assert not pins.accepts(b"other")


def test_a_fingerprint_pin_lets_every_algorithm_be_negotiated() -> None:
    pins = parse_pins(f"ssh-ed25519 {ED},SHA256:{'a' * 43}")
    assert pins.algorithms == ()


# ---------------------------------------------------------------------- authorized_keys


BLOB = decode_public("ssh-ed25519", ED)


@pytest.mark.parametrize(
    "line",
    [
        f"ssh-ed25519 {ED}",
        f"ssh-ed25519 {ED} a comment with spaces",
        f'from="10.0.0.1,10.0.0.2",command="echo \\"a b\\"" ssh-ed25519 {ED} c',
        f"restrict,port-forwarding\tssh-ed25519\t{ED}",
        f"  ssh-ed25519 {ED}\r",
    ],
)
def test_a_key_is_found_whatever_its_options_and_comment(line: str) -> None:
    assert key_blob(line) == BLOB


@pytest.mark.parametrize(
    "line", ["", "# ssh-ed25519 " + ED, "garbage", "ssh-ed25519 !!!", 'command="unterminated']
)
def test_lines_that_authorize_nothing(line: str) -> None:
    assert key_blob(line) is None


def test_edits_keep_every_other_byte() -> None:
    others = f'# hand\r\n\r\ncommand="x" ssh-ed25519 {ED} ops\r\nno key here'
    _, public = new_key_pair()
    words = public.split()
    blob = decode_public(words[0], words[1])
    added = with_key(others, blob, f"{public} rotation:s")
    assert added == others + f"\r\n{public} rotation:s\r\n"
    assert with_key(added, blob, "ignored") == added
    assert has_key(added, blob)
    assert without_key(added, blob) == others + "\r\n"
    assert without_key(others, blob) == others
    assert without_key(added, BLOB) == f"# hand\r\n\r\nno key here\r\n{public} rotation:s\r\n"


@pytest.mark.parametrize("separator", ["\x0c", "\x0b", "\x1c", "\x85", "\u2028", "\u2029"])
def test_lines_split_as_sshd_splits_them(separator: str) -> None:
    """sshd ends a line at ``\\n`` only: a key hidden after a form feed (or a Unicode line
    separator) in another key's comment is comment text, and removing the first key must not
    turn it into a line of its own."""
    _, public = new_key_pair()
    words = public.split()
    hidden = decode_public(words[0], words[1])
    text = f"ssh-ed25519 {ED} note{separator}{public} hidden\n"
    assert key_blob(text) == BLOB and not has_key(text, hidden)
    assert without_key(text, BLOB) == ""
    assert key_blob(f"ssh-ed25519{separator}{ED}") is None


# ---------------------------------------------------------------------- on the server


@pytest.mark.parametrize("key_type", ["rsa", "ecdsa"])
def test_a_hand_installed_key_rotates_to_ed25519(
    sshd: Sshd, ssh_keys_restored: None, tmp_path: Path, key_type: str
) -> None:
    stored, public = keygen(tmp_path, key_type)
    with sshd.authorized_keys.open("a") as handle:
        handle.write(public)
    current = Credential(password=stored, username=sshd.user)
    assert sshd.logs_in(current)
    rotator = SshKeyRotator(ssh_context(sshd))
    candidate = rotator.apply(current, rotator.generate(current))
    rotator.verify(candidate)
    rotator.retire(current, candidate)
    assert sshd.logs_in(candidate) and not sshd.logs_in(current)
    assert public_key(candidate.password)[0] == "ssh-ed25519"
