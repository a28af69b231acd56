"""The contract suite every rotator runs against a real target, shipped for plugins' tests.

Built-in rotators and plugins alike write a test module (``tests/rotators/test_<kind>.py``
here) with one class that subclasses :class:`RotatorContract` (its name must start with
``Test``) and import it as ``from rotation.testing import RotatorContract``, as HashiCorp
Vault's plugins import its test helpers. It needs pytest, which the app itself does not.
Every contract test then runs once per strategy in
``rotator.strategies``; tests about one strategy only run for rotators that support it.

Subclass API
============

Class attributes
    ``rotator`` (required)
        The :class:`~rotation.rotator.Rotator` subclass under test.
    ``hostile_usernames`` (optional)
        User names full of quotes, semicolons and spaces; the default suits SQL targets.
        Each must either rotate correctly or be refused with ``ConfigurationError``.
    ``hostile_usernames_rotate`` (optional, default ``None``)
        ``True`` if hostile names must rotate, ``False`` if they must be refused, ``None``
        if either outcome is fine.
    ``context_options`` (optional, default empty)
        Options (``rotation-*`` tags without the prefix) every context of the suite carries,
        for example a profile the target needs; ``make_context(options=...)`` adds to them.

Fixtures (define them in the subclass with ``@pytest.fixture``; all function-scoped unless
the subclass wants otherwise)
    ``target`` (required) -> ``str | None``
        The ``rotation-target`` tag of a real, reachable server.
    ``login_factory`` (required) -> ``Callable[[str], Credential]``
        Creates a real login with the given user name (test code, not the rotator, creates it,
        quoting properly) and a password from ``rotator.default_policy``, and returns it. At
        teardown it drops every login it made and their alternates (``name_clone``), whatever
        the test did.
    ``admin_credential`` -> ``Credential | None`` (default ``None``)
        A working admin credential, as the engine would read it from ``rotation-admin-secret``.
    ``bad_admin_credential`` -> ``Credential | None`` (default ``None``: tests skipped)
        An admin credential the target refuses (a real admin user with a wrong password).
    ``down_target`` -> ``str | None`` (default ``None``: tests skipped)
        A well-formed target where nothing listens (for example ``free_port()``).
    ``initial_credential`` -> ``Credential``
        Default: ``login_factory(unique_name())``. Override when a target needs more.

Methods (they may read ``self.target_tag`` and ``self.admin``, set before every test)
    ``can_login(self, credential) -> bool`` (required)
        A real login with ``credential`` by test code independent of the rotator: ``True`` if
        accepted, ``False`` if refused; any other failure must raise, never return ``False``.
    ``principals(self) -> set[str] | None`` (optional)
        Every user/role name on the target, so the hostile-name test can assert that nothing
        stray appeared. ``None`` (the default) skips that assertion.

What the base class provides to tests and subclasses
    fixtures ``rotator_class``, ``strategy`` (parametrized), ``make_context(strategy, *,
    admin=<admin_credential>, target=<target>, policy=<default>, options={})``, ``context``,
    ``down_context``, ``bad_admin_context``, ``initial_credential``, ``leak_watch``
    (:class:`LeakWatch`), ``rotator_for(context)`` (makes rotators, closes them at teardown),
    ``rotator_under_test`` (``rotator_for(context)``), ``fresh_rotator()`` (another rotator for
    ``context``); the methods ``rotate(rotator, current)`` (generate, apply, verify) and
    ``assert_target_unavailable(rotator, current)``; the decorator :func:`only_for` for
    strategy-specific tests of your own; functions :func:`unique_name` and :func:`free_port`;
    :class:`RotatorPool` (closes the rotators a test made); the fixture types
    :data:`ContextMaker` and :data:`RotatorMaker`.

To opt out of one test (a target without logins, say), override it in the subclass with a
body that calls ``pytest.skip("why")``.
"""

from __future__ import annotations

import logging
import re
import secrets
import socket
import traceback
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, TypeVar

import pytest

from rotation.credential import Credential
from rotation.errors import ConfigurationError, TargetUnavailable, VerificationFailed
from rotation.policy import PasswordPolicy
from rotation.rotator import Rotator, RotatorContext, Strategy, alternate_username

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
R = TypeVar("R", bound=Rotator)

#: The ``make_context`` fixture: ``make_context(strategy, *, admin=, target=, policy=,
#: options=)`` builds a checked context.
ContextMaker = Callable[..., RotatorContext]
#: The ``rotator_for`` fixture: a rotator for a context, closed at teardown.
RotatorMaker = Callable[[RotatorContext], Rotator]

#: Default hostile user names: quotes of every SQL flavour, statement separators, spaces,
#: comment markers and a backslash. Short enough for every SQL target's name limit.
HOSTILE_USERNAMES: tuple[str, ...] = (
    "o'brien; drop",
    'q"x"; --',
    "b`t` x\\y",
)

_UNSET: Any = object()


#: Names made by unique_name() and the e2e helpers: transient users of concurrent test runs.
TRANSIENT_NAME = re.compile(r"_[0-9a-f]{8,10}(_clone)?$")


def unique_name(prefix: str = "rot") -> str:
    """A lower-case user name unlikely to exist yet (so reruns never collide)."""
    return f"{prefix}_{secrets.token_hex(5)}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 where nothing listens right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def only_for(*strategies: Strategy) -> Callable[[F], F]:
    """Run the decorated contract test only for these strategies (if the rotator has them)."""

    def mark(func: F) -> F:
        func._contract_strategies = strategies  # type: ignore[attr-defined]
        return func

    return mark


def _provided(value: T | None, missing: str) -> T:
    """``value``, the subclass's optional fixture; the test is skipped when it is ``None``."""
    if value is None:
        pytest.skip(f"this rotator has {missing}")
    return value


def _exception_texts(error: BaseException) -> list[str]:
    """Everything a log handler or traceback could show of ``error`` and its chain."""
    return [*traceback.format_exception(error), repr(error), *(repr(a) for a in error.args)]


class RotatorPool:
    """The rotators a test made, to close them all at its teardown."""

    def __init__(self) -> None:
        self._made: list[Rotator] = []

    def add(self, rotator: R) -> R:
        """Keep ``rotator`` for :meth:`close`; returns it."""
        self._made.append(rotator)
        return rotator

    def close(self) -> None:
        """Close every rotator added, in order."""
        for rotator in self._made:
            rotator.close()


class LeakWatch:
    """Collects exceptions and log records; asserts that no watched secret appears in them."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog
        self._secrets: set[str] = set()
        self._texts: list[str] = []

    def secret(self, *values: str | None) -> None:
        """Watch these values (passwords)."""
        self._secrets.update(v for v in values if v)

    def text(self, value: str) -> None:
        """Record a text to check (for example a ``repr``)."""
        self._texts.append(value)

    def call(self, func: Callable[[], object]) -> BaseException | None:
        """Run ``func``; record and return the exception it raised, if any."""
        try:
            func()
        except Exception as error:
            self._texts.extend(_exception_texts(error))
            return error
        return None

    def check(self) -> None:
        """Fail if any watched secret appears in a recorded text or a captured log record."""
        handler = logging.Formatter()
        texts = list(self._texts)
        for record in self._caplog.records:
            texts.append(handler.format(record))
        assert self._secrets, "nothing watched"
        for text in texts:
            for value in self._secrets:
                assert value not in text, "a secret value leaked into an exception or log"


class RotatorContract:
    """Base class of a rotator's contract tests. See the module docstring for the API."""

    rotator: ClassVar[type[Rotator]]
    hostile_usernames: ClassVar[tuple[str, ...]] = HOSTILE_USERNAMES
    #: ``True``: hostile names must rotate; ``False``: must be refused; ``None``: either.
    hostile_usernames_rotate: ClassVar[bool | None] = None
    #: Options every context carries (``make_context(options=...)`` adds to them).
    context_options: ClassVar[dict[str, str]] = {}

    #: The ``target`` fixture's value and the ``admin_credential`` fixture's value.
    target_tag: str | None
    admin: Credential | None

    # ----------------------------------------------------------------- collection

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Parametrize ``strategy`` over the rotator's strategies (filtered by ``only_for``)."""
        if "strategy" not in metafunc.fixturenames:
            return
        wanted = getattr(metafunc.function, "_contract_strategies", None)
        chosen = [s for s in self.rotator.strategies if wanted is None or s in wanted]
        if not chosen:
            reason = f"'{self.rotator.kind}' supports none of: {', '.join(map(str, wanted or ()))}"
            metafunc.parametrize(
                "strategy", [pytest.param(None, marks=pytest.mark.skip(reason=reason))], ids=["n/a"]
            )
            return
        metafunc.parametrize("strategy", chosen, ids=[str(s) for s in chosen])

    # ------------------------------------------------------------ subclass hooks

    def can_login(self, credential: Credential) -> bool:
        """Whether the target accepts ``credential`` (implemented by every subclass)."""
        raise NotImplementedError

    def principals(self) -> set[str] | None:
        """Every user/role name on the target, or ``None`` when not available."""
        return None

    @pytest.fixture
    def admin_credential(self) -> Credential | None:
        return None

    @pytest.fixture
    def bad_admin_credential(self) -> Credential | None:
        return None

    @pytest.fixture
    def down_target(self) -> str | None:
        return None

    # ------------------------------------------------------------ base fixtures

    @pytest.fixture(autouse=True)
    def _bind(self, target: str | None, admin_credential: Credential | None) -> None:
        self.target_tag = target
        self.admin = admin_credential

    @pytest.fixture
    def rotator_class(self) -> type[Rotator]:
        return self.rotator

    @pytest.fixture
    def make_context(
        self,
        rotator_class: type[Rotator],
        target: str | None,
        admin_credential: Credential | None,
    ) -> ContextMaker:
        def make(
            strategy: Strategy,
            *,
            admin: Credential | None = _UNSET,
            target: str | None = _UNSET,
            policy: PasswordPolicy | None = None,
            options: dict[str, str] | None = None,
        ) -> RotatorContext:
            context = RotatorContext(
                secret_name=unique_name("secret").replace("_", "-"),
                target=default_target if target is _UNSET else target,
                strategy=strategy,
                policy=policy or rotator_class.default_policy,
                admin=admin_credential if admin is _UNSET else admin,
                options={**self.context_options, **(options or {})},
            )
            rotator_class.check_config(context)
            return context

        default_target = target
        return make

    @pytest.fixture
    def context(self, make_context: ContextMaker, strategy: Strategy) -> RotatorContext:
        return make_context(strategy)

    @pytest.fixture
    def down_context(
        self, make_context: ContextMaker, strategy: Strategy, down_target: str | None
    ) -> RotatorContext:
        return make_context(strategy, target=_provided(down_target, "no target that can be down"))

    @pytest.fixture
    def bad_admin_context(
        self,
        make_context: ContextMaker,
        strategy: Strategy,
        bad_admin_credential: Credential | None,
    ) -> RotatorContext:
        return make_context(strategy, admin=_provided(bad_admin_credential, "no admin credential"))

    @pytest.fixture
    def initial_credential(self, login_factory: Callable[[str], Credential]) -> Credential:
        return login_factory(unique_name())

    @pytest.fixture
    def leak_watch(self, caplog: pytest.LogCaptureFixture) -> LeakWatch:
        caplog.set_level(logging.DEBUG)
        return LeakWatch(caplog)

    @pytest.fixture
    def rotator_for(self, rotator_class: type[Rotator]) -> Iterator[RotatorMaker]:
        """Makes rotators and closes them all at teardown."""
        pool = RotatorPool()
        yield lambda context: pool.add(rotator_class(context))
        pool.close()

    @pytest.fixture
    def rotator_under_test(self, rotator_for: RotatorMaker, context: RotatorContext) -> Rotator:
        """The rotator most tests exercise: ``rotator_for(context)``."""
        return rotator_for(context)

    @pytest.fixture
    def fresh_rotator(
        self, rotator_for: RotatorMaker, context: RotatorContext
    ) -> Callable[[], Rotator]:
        """Makes another rotator for ``context``, as a retry after a crash builds one."""
        return lambda: rotator_for(context)

    # ------------------------------------------------------------ helpers

    def rotate(self, rotator: Rotator, current: Credential) -> Credential:
        """generate -> apply -> verify, as the engine does; returns the applied credential."""
        candidate = rotator.generate(current)
        applied = rotator.apply(current, candidate)
        rotator.verify(applied)
        return applied

    def assert_target_unavailable(self, rotator: Rotator, current: Credential) -> None:
        """``rotator`` cannot reach its target: apply fails retryably, verify fails too."""
        candidate = rotator.generate(current)
        with pytest.raises(TargetUnavailable) as applied:
            rotator.apply(current, candidate)
        assert applied.value.retryable
        with pytest.raises(TargetUnavailable):
            rotator.verify(current)

    # ------------------------------------------------------------ the contract

    def test_initial_credential_is_real(self, initial_credential: Credential) -> None:
        assert self.can_login(initial_credential)
        wrong = initial_credential.with_password(initial_credential.password + "x")
        assert not self.can_login(wrong), "the target accepts a wrong password: test proves nothing"

    @pytest.mark.parametrize(
        "policy",
        [None, "length=20;symbols=0", "length=48;lower=4;upper=4;digits=4;exclude=lIO01"],
        ids=["default", "short", "long"],
    )
    def test_generate_respects_policy(
        self,
        make_context: Callable[..., RotatorContext],
        rotator_for: Callable[[RotatorContext], Rotator],
        strategy: Strategy,
        rotator_class: type[Rotator],
        policy: str | None,
    ) -> None:
        chosen = rotator_class.default_policy
        if policy is not None:
            chosen = chosen.overridden_by(policy)
        rotator = rotator_for(make_context(strategy, policy=chosen))
        current = Credential(password=chosen.generate(), username="app", extra={"k": "v"})
        candidates = [rotator.generate(current) for _ in range(5)]
        for candidate in candidates:
            assert chosen.satisfied_by(candidate.password)
            assert candidate.extra == {"k": "v"}
            expected = alternate_username("app") if strategy is Strategy.ALTERNATING else "app"
            assert candidate.username == expected
        assert len({c.password for c in candidates}) == len(candidates)
        assert all(c.password != current.password for c in candidates)

    def test_default_policy_is_valid(self, rotator_class: type[Rotator]) -> None:
        rotator_class.default_policy.validate()

    def test_apply_then_verify(
        self, rotator_under_test: Rotator, initial_credential: Credential
    ) -> None:
        applied = self.rotate(rotator_under_test, initial_credential)
        assert self.can_login(applied)

    def test_apply_twice_is_idempotent(
        self,
        fresh_rotator: Callable[[], Rotator],
        rotator_under_test: Rotator,
        initial_credential: Credential,
    ) -> None:
        candidate = rotator_under_test.generate(initial_credential)
        first = rotator_under_test.apply(initial_credential, candidate)
        # A retry after a crash reaches apply again, perhaps with a fresh rotator.
        second = fresh_rotator().apply(initial_credential, candidate)
        assert second.password == first.password
        assert second.username == first.username
        rotator_under_test.verify(second)
        assert self.can_login(second)

    def test_verify_rejects_wrong_password(
        self, context: RotatorContext, rotator_under_test: Rotator, initial_credential: Credential
    ) -> None:
        rotator_under_test.verify(initial_credential)
        wrong = initial_credential.with_password(context.policy.generate())
        with pytest.raises(VerificationFailed):
            rotator_under_test.verify(wrong)

    @only_for(Strategy.SINGLE)
    def test_single_old_password_stops_working(
        self, rotator_under_test: Rotator, initial_credential: Credential
    ) -> None:
        applied = self.rotate(rotator_under_test, initial_credential)
        assert applied.username == initial_credential.username
        assert self.can_login(applied)
        assert not self.can_login(initial_credential)
        with pytest.raises(VerificationFailed):
            rotator_under_test.verify(initial_credential)
        rotator_under_test.retire(initial_credential, applied)
        assert self.can_login(applied)

    @only_for(Strategy.ALTERNATING)
    def test_alternating_keeps_the_other_login(
        self,
        fresh_rotator: Callable[[], Rotator],
        rotator_under_test: Rotator,
        initial_credential: Credential,
    ) -> None:
        first = self.rotate(rotator_under_test, initial_credential)
        assert first.username == alternate_username(initial_credential.username or "")
        assert self.can_login(first)
        assert self.can_login(initial_credential), "the old login must keep working"
        rotator_under_test.retire(initial_credential, first)
        # The next rotation resets the original login and keeps the clone alive.
        second = self.rotate(fresh_rotator(), first)
        assert second.username == initial_credential.username
        assert second.password != initial_credential.password
        assert self.can_login(second)
        assert self.can_login(first)
        assert not self.can_login(initial_credential)

    @only_for(Strategy.MULTIPLE)
    def test_multiple_keeps_old_until_retired(
        self, rotator_under_test: Rotator, initial_credential: Credential
    ) -> None:
        applied = self.rotate(rotator_under_test, initial_credential)
        assert self.can_login(applied)
        assert self.can_login(initial_credential), "the old password must live until retired"
        rotator_under_test.retire(initial_credential, applied)
        assert not self.can_login(initial_credential)
        assert self.can_login(applied)

    def test_retire_twice_succeeds(
        self, fresh_rotator: Callable[[], Rotator], initial_credential: Credential
    ) -> None:
        rotator = fresh_rotator()
        applied = self.rotate(rotator, initial_credential)
        rotator.retire(initial_credential, applied)
        rotator.retire(initial_credential, applied)
        # A retry after a crash retires again, perhaps with a fresh rotator.
        fresh_rotator().retire(initial_credential, applied)
        assert self.can_login(applied)

    def test_down_target_is_retryable(
        self,
        down_context: RotatorContext,
        rotator_for: RotatorMaker,
        initial_credential: Credential,
    ) -> None:
        self.assert_target_unavailable(rotator_for(down_context), initial_credential)

    def test_wrong_admin_is_a_configuration_error(
        self,
        bad_admin_context: RotatorContext,
        rotator_for: RotatorMaker,
        initial_credential: Credential,
    ) -> None:
        rotator = rotator_for(bad_admin_context)
        candidate = rotator.generate(initial_credential)
        with pytest.raises(ConfigurationError) as raised:
            rotator.apply(initial_credential, candidate)
        assert not raised.value.retryable
        assert self.can_login(initial_credential), "a refused admin must change nothing"

    @pytest.mark.parametrize("hostile_index", [0, 1, 2])
    def test_hostile_username_is_never_injected(
        self,
        make_context: Callable[..., RotatorContext],
        rotator_for: Callable[[RotatorContext], Rotator],
        strategy: Strategy,
        login_factory: Callable[[str], Credential],
        hostile_index: int,
    ) -> None:
        if hostile_index >= len(self.hostile_usernames):
            pytest.skip("fewer hostile names for this target")
        name = f"{self.hostile_usernames[hostile_index]}{secrets.token_hex(2)}"
        before = self.principals()
        try:
            context = make_context(strategy)
            current = login_factory(name)
            rotator = rotator_for(context)
            applied = self.rotate(rotator, current)
        except ConfigurationError:
            # Refused with a clear error: acceptable unless the subclass promised support.
            assert self.hostile_usernames_rotate is not True, "hostile name refused"
        else:
            assert self.hostile_usernames_rotate is not False, "hostile name not refused"
            assert self.can_login(applied)
            if strategy is Strategy.SINGLE:
                assert not self.can_login(current)
            else:
                assert self.can_login(current)
            rotator.retire(current, applied)
        after = self.principals()
        if before is not None and after is not None:
            stray = after - before - {name, alternate_username(name)}
            assert not stray, f"unexpected principals appeared: {sorted(stray)}"
            # Other test runs on a shared server come and go; long-lived principals must stay.
            lasting = {p for p in before if not TRANSIENT_NAME.search(p)}
            assert lasting <= after, f"principals disappeared: {sorted(lasting - after)}"

    def test_secrets_never_leak(
        self,
        context: RotatorContext,
        make_context: ContextMaker,
        rotator_for: RotatorMaker,
        strategy: Strategy,
        initial_credential: Credential,
        bad_admin_credential: Credential | None,
        down_target: str | None,
        leak_watch: LeakWatch,
    ) -> None:
        rotator = rotator_for(context)
        candidate = rotator.generate(initial_credential)
        leak_watch.secret(initial_credential.password, candidate.password)
        if context.admin is not None:
            leak_watch.secret(context.admin.password)
        leak_watch.text(repr(rotator))
        leak_watch.text(repr(context))
        leak_watch.text(repr(candidate))
        assert leak_watch.call(lambda: rotator.apply(initial_credential, candidate)) is None
        assert leak_watch.call(lambda: rotator.verify(candidate)) is None
        assert leak_watch.call(lambda: rotator.retire(initial_credential, candidate)) is None
        wrong = candidate.with_password(context.policy.generate())
        leak_watch.secret(wrong.password)
        assert isinstance(leak_watch.call(lambda: rotator.verify(wrong)), VerificationFailed)
        if bad_admin_credential is not None:
            leak_watch.secret(bad_admin_credential.password)
            bad = rotator_for(make_context(strategy, admin=bad_admin_credential))
            again = bad.generate(candidate)
            leak_watch.secret(again.password)
            error = leak_watch.call(lambda: bad.apply(candidate, again))
            assert isinstance(error, ConfigurationError)
        if down_target is not None:
            down = rotator_for(make_context(strategy, target=down_target))
            third = down.generate(candidate)
            leak_watch.secret(third.password)
            error = leak_watch.call(lambda: down.apply(candidate, third))
            assert isinstance(error, TargetUnavailable)
        leak_watch.check()
