"""A throwaway OpenLDAP ``slapd`` for the ``ldap`` rotator's tests.

:func:`start_slapd` writes a ``slapd.conf`` (schemas core, cosine, inetorgperson and nis from
``/etc/ldap/schema``, one mdb database under :data:`SUFFIX` in a temporary directory), a
server certificate for ``localhost`` from a :class:`~tests.support.tls.ServerCA`, and starts
``/usr/sbin/slapd -d 0`` listening on two spare ports of 127.0.0.1: ``ldap://`` (plain and
StartTLS) and ``ldaps://``. :func:`stop_slapd` kills it and deletes the directory.

Directory layout and ACLs (what the rotator documents it needs on a real directory)::

    dc=example,dc=org
    ├── cn=root          the rootdn (test code only: creates and deletes entries)
    ├── cn=rotator       ADMIN_DN: may write every userPassword under ou=people
    └── ou=people        PEOPLE: the service accounts (uid=app, uid=app_clone seeded)

Every account may change its own ``userPassword`` (``by self write``), binds compare
``userPassword`` (``by anonymous auth``), nobody else reads it.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import ldap3

from emulators.postgres_cluster import _free_port
from rotation.credential import Credential
from tests.support.tls import ServerCA

SLAPD = Path("/usr/sbin/slapd")
SCHEMA_DIR = Path("/etc/ldap/schema")
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")
SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=root,{SUFFIX}"
ADMIN_DN = f"cn=rotator,{SUFFIX}"
PEOPLE = f"ou=people,{SUFFIX}"
#: The seeded service accounts (an alternating pair).
SEEDED = ("app", "app_clone")
_START_TIMEOUT_S = 20


def person_dn(uid: str) -> str:
    """The DN of the account ``uid`` under :data:`PEOPLE`, every character of the value
    but letters and digits written as RFC 4514 hex pairs (``\\27`` for ``'``): test code's
    own escaping, independent of the rotator's."""
    value = "".join(
        c if c.isascii() and c.isalnum() else "".join(f"\\{b:02x}" for b in c.encode()) for c in uid
    )
    return f"uid={value},{PEOPLE}"


@dataclass
class Slapd:
    """A running server: its ports, the rootdn's and the rotator admin's passwords."""

    port: int
    tls_port: int
    root: Path
    ca_file: Path
    process: subprocess.Popen[bytes]
    root_password: str = field(repr=False)
    admin_password: str = field(repr=False)
    #: Passwords of the seeded accounts (:data:`SEEDED`).
    seeded_passwords: dict[str, str] = field(repr=False, default_factory=dict)

    def target(self, scheme: str = "ldap", host: str = "127.0.0.1") -> str:
        """The ``rotation-target`` tag value: ``scheme://host:port/ou=people,...``."""
        port = self.tls_port if scheme == "ldaps" else self.port
        return f"{scheme}://{host}:{port}/{PEOPLE}"

    def bind(self, dn: str, password: str) -> bool:
        """Whether a simple bind as ``dn`` succeeds (test code's own plain loopback login).

        The password goes as its UTF-8 octets, untouched, as libldap (``ldapsearch``), JNDI
        and .NET send it: ldap3 would run SASLprep over a ``str`` first."""
        server = ldap3.Server("127.0.0.1", port=self.port, get_info=ldap3.NONE, connect_timeout=5)
        conn = ldap3.Connection(
            server, user=dn, password=password.encode("utf-8"), receive_timeout=5
        )
        try:
            if conn.bind():
                return True
            if conn.result["result"] == 49:  # invalidCredentials
                return False
            raise RuntimeError(f"slapd bind failed: {conn.result['description']}")
        finally:
            conn.unbind()

    def as_root(self) -> ldap3.Connection:
        """A bound connection as the rootdn (raises on failed operations)."""
        server = ldap3.Server("127.0.0.1", port=self.port, get_info=ldap3.NONE, connect_timeout=5)
        return ldap3.Connection(
            server,
            user=ROOT_DN,
            password=self.root_password,
            auto_bind=ldap3.AUTO_BIND_NO_TLS,
            raise_exceptions=True,
            receive_timeout=5,
        )

    def add_person(self, uid: str, password: str) -> str:
        """Create (or reset) the account ``uid`` with ``password``; return its DN."""
        dn = person_dn(uid)
        with self.as_root() as conn:
            try:
                conn.delete(dn)
            except ldap3.core.exceptions.LDAPNoSuchObjectResult:
                pass
            conn.add(
                dn,
                ["inetOrgPerson"],
                {"cn": uid, "sn": uid, "uid": uid, "userPassword": password},
            )
        return dn

    def add_pair(self, uid: str, password: str) -> Credential:
        """Create ``uid`` with ``password`` and its clone ``uid_clone`` with a password
        nobody knows (an alternating pair); return the login of ``uid``."""
        self.add_person(uid, password)
        self.add_person(uid + "_clone", secrets.token_urlsafe(24))
        return Credential(password=password, username=uid)

    def delete_pairs(self, *uids: str) -> None:
        """Delete these accounts and their clones where they exist."""
        self.delete_people(*uids, *(uid + "_clone" for uid in uids))

    def delete_people(self, *uids: str) -> None:
        """Delete these accounts where they exist."""
        with self.as_root() as conn:
            for uid in uids:
                try:
                    conn.delete(person_dn(uid))
                except ldap3.core.exceptions.LDAPNoSuchObjectResult:
                    pass

    def uids(self) -> set[str]:
        """Every ``uid`` under :data:`PEOPLE`."""
        with self.as_root() as conn:
            conn.search(PEOPLE, "(objectClass=inetOrgPerson)", attributes=["uid"])
            return {str(entry.uid.value) for entry in conn.entries}


def _config(root: Path, suffix_files: tuple[Path, Path], root_password: str) -> str:
    cert, key = suffix_files
    includes = "".join(f"include {SCHEMA_DIR / name}.schema\n" for name in SCHEMAS)
    return (
        f"{includes}"
        "modulepath /usr/lib/ldap\n"
        "moduleload back_mdb\n"
        f"pidfile {root / 'slapd.pid'}\n"
        f"argsfile {root / 'slapd.args'}\n"
        f"TLSCertificateFile {cert}\n"
        f"TLSCertificateKeyFile {key}\n"
        "database mdb\n"
        f'suffix "{SUFFIX}"\n'
        f'rootdn "{ROOT_DN}"\n'
        f"rootpw {root_password}\n"
        f"directory {root / 'db'}\n"
        "maxsize 67108864\n"
        "access to attrs=userPassword\n"
        f'  by dn.exact="{ADMIN_DN}" write\n'
        "  by self write\n"
        "  by anonymous auth\n"
        "  by * none\n"
        "access to *\n"
        f'  by dn.exact="{ADMIN_DN}" read\n'
        "  by self read\n"
        "  by * none\n"
    )


def start_slapd(ca: ServerCA) -> Slapd:
    """Write the config, start slapd on two free ports, seed it; returns once it answers."""
    if not SLAPD.exists():
        raise RuntimeError("slapd is not installed (Debian package slapd)")
    root = Path(tempfile.mkdtemp(prefix="slapd-"))
    (root / "db").mkdir()
    files = ca.write_server_files(root / "tls")
    root_password = secrets.token_urlsafe(18)
    (root / "slapd.conf").write_text(_config(root, (files.cert, files.key), root_password))
    port, tls_port = _free_port(), _free_port()
    urls = f"ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/"
    with (root / "slapd.log").open("wb") as log:
        process = subprocess.Popen(
            [str(SLAPD), "-d", "0", "-h", urls, "-f", str(root / "slapd.conf")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Slapd(
        port=port,
        tls_port=tls_port,
        root=root,
        ca_file=files.ca,
        process=process,
        root_password=root_password,
        admin_password=secrets.token_urlsafe(18),
    )
    try:
        _wait(server, port, tls_port)
        _seed(server)
    except BaseException:
        stop_slapd(server)
        raise
    return server


def _wait(server: Slapd, *ports: int) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    for port in ports:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.process.poll() is not None or time.monotonic() > deadline:
                    log = (server.root / "slapd.log").read_text(errors="replace")
                    raise RuntimeError(f"slapd did not start: {log[-2000:]}") from None
                time.sleep(0.05)


def _seed(server: Slapd) -> None:
    with server.as_root() as conn:
        conn.add(SUFFIX, ["dcObject", "organization"], {"dc": "example", "o": "Example"})
        conn.add(PEOPLE, ["organizationalUnit"], {"ou": "people"})
        conn.add(
            ADMIN_DN,
            ["organizationalRole", "simpleSecurityObject"],
            {"cn": "rotator", "userPassword": server.admin_password},
        )
    for uid in SEEDED:
        password = secrets.token_urlsafe(18)
        server.add_person(uid, password)
        server.seeded_passwords[uid] = password


def stop_slapd(server: Slapd) -> None:
    """Kill the server and delete its directory (never raises)."""
    if server.process.poll() is None:
        server.process.kill()
        server.process.wait(timeout=10)
    shutil.rmtree(server.root, ignore_errors=True)
