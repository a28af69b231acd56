"""Helpers shared by the rotator tests (tests/rotators/): the context a test hands a rotator,
the contract suite's wrong-password admin, one apply-and-verify round and one refused apply.

They only build inputs and drive the rotator's public steps; every check of the target stays
in the test, with its own connection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import ClassVar, TypeVar

import pytest

from emulators.faults import FaultRule
from emulators.stack import AzureStack
from rotation.credential import Credential
from rotation.errors import ConfigurationError, RotationError
from rotation.rotator import Rotator, RotatorContext, Strategy
from rotation.testing import RotatorContract, free_port

E = TypeVar("E", bound=RotationError)


def rotator_context(
    rotator: type[Rotator],
    secret_name: str,
    target: str | None,
    *,
    strategy: Strategy = Strategy.SINGLE,
    admin: Credential | None = None,
    options: Mapping[str, str] | None = None,
) -> RotatorContext:
    """The context for ``rotator`` on ``target``, with its default password policy."""
    return RotatorContext(
        secret_name=secret_name,
        target=target,
        strategy=strategy,
        policy=rotator.default_policy,
        admin=admin,
        options=dict(options or {}),
    )


class WrongAdminPassword:
    """Mixin for a ``RotatorContract`` subclass: ``bad_admin_credential`` is the class's
    ``admin_credential`` with a fresh password from the rotator's default policy."""

    rotator: ClassVar[type[Rotator]]

    @pytest.fixture
    def bad_admin_credential(self, admin_credential: Credential) -> Credential:
        return admin_credential.with_password(self.rotator.default_policy.generate())


class LocalContract(WrongAdminPassword):
    """Mixin for a ``RotatorContract`` subclass against a server on this machine: the admin
    login is the fixture named :attr:`admin_fixture`, ``down_target`` is
    :attr:`down_target_format` with a port nothing listens on, and ``target`` is
    :attr:`local_target` (a subclass whose target comes from a fixture defines ``target``)."""

    admin_fixture: ClassVar[str] = "admin"
    down_target_format: ClassVar[str] = "127.0.0.1:{port}"
    local_target: ClassVar[str]

    @pytest.fixture
    def target(self) -> str:
        return self.local_target

    @pytest.fixture
    def admin_credential(self, request: pytest.FixtureRequest) -> Credential:
        credential = request.getfixturevalue(self.admin_fixture)
        assert isinstance(credential, Credential)
        return credential

    @pytest.fixture
    def down_target(self) -> str:
        return self.down_target_format.format(port=free_port())


def apply_and_verify(rotator: Rotator, current: Credential) -> Credential:
    """Generate a candidate, apply and verify it, close the rotator; return what was applied."""
    try:
        applied = rotator.apply(current, rotator.generate(current))
        rotator.verify(applied)
    finally:
        rotator.close()
    return applied


def assert_target_refused(parse_target: Callable[..., object], text: str | None) -> None:
    """``parse_target(text, secret=...)`` raises a ConfigurationError naming the target tag."""
    with pytest.raises(ConfigurationError) as raised:
        parse_target(text, secret="s")
    assert raised.value.tag == "rotation-target"


def apply_refused(
    rotator: Rotator, current: Credential, error: type[E], *, match: str | None = None
) -> pytest.ExceptionInfo[E]:
    """Apply a fresh candidate for ``current``; assert it raises ``error`` (its message
    matching ``match``) and return what was raised. The rotator is closed after."""
    try:
        with pytest.raises(error, match=match) as raised:
            rotator.apply(current, rotator.generate(current))
    finally:
        rotator.close()
    return raised


def target_parsing_tests(
    parse_target: Callable[..., object],
    accepted: list[tuple[str, object]],
    refused: list[str | None],
) -> tuple[Callable[[str, object], None], Callable[[str | None], None]]:
    """A rotator module's two target-parsing tests, to bind at module level as
    ``test_parse_target_accepts, test_parse_target_refuses = target_parsing_tests(...)``:
    every ``(text, expected)`` of ``accepted`` parses to ``expected``, every text of
    ``refused`` is refused (:func:`assert_target_refused`)."""

    @pytest.mark.parametrize(("text", "expected"), accepted)
    def accepts(text: str, expected: object) -> None:
        assert parse_target(text) == expected

    @pytest.mark.parametrize("text", refused)
    def refuses(text: str | None) -> None:
        assert_target_refused(parse_target, text)

    return accepts, refuses


def apply_for_missing_user(rotator: Rotator, username: str) -> None:
    """A rotation of a login that does not exist on the target is refused ("does not exist"),
    never turned into a new login (the test then checks that ``username`` is still absent)."""
    current = Credential(password="p" * 20, username=username)
    apply_refused(rotator, current, ConfigurationError, match="does not exist")


def assert_unavailable_while_down(
    contract: RotatorContract,
    stack: AzureStack,
    hosts: Iterable[str],
    rotator: Rotator,
    current: Credential,
) -> None:
    """With every connection to ``hosts`` dropped by the emulated Azure stack, ``rotator``
    fails retryably (the contract's :meth:`~RotatorContract.assert_target_unavailable`);
    the faults are cleared afterwards."""
    for host in hosts:
        stack.faults.add(FaultRule(host=host, drop=True, times=None))
    try:
        contract.assert_target_unavailable(rotator, current)
    finally:
        stack.faults.clear()
