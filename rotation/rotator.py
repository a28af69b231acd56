"""The contract between the engine and a rotator (one class per target kind).

Modelled on HashiCorp Vault's database plugins (``NewUser/UpdateUser/DeleteUser``) and the
AWS Secrets Manager rotation steps (``createSecret/setSecret/testSecret/finishSecret``):

==============  ================================  ==========================================
engine step      rotator method                    contract
==============  ================================  ==========================================
create           :meth:`Rotator.generate`          pure: no call to the target
set              :meth:`Rotator.apply`             idempotent: succeeds if already applied
test             :meth:`Rotator.verify`            logs in; refused -> VerificationFailed
finish           :meth:`Rotator.retire`            idempotent: succeeds if already retired
(undo)           :meth:`Rotator.discard`           idempotent: removes a refused candidate
==============  ================================  ==========================================

Rotators never touch Key Vault: the engine reads the current credential and the admin
credential, stages the candidate before :meth:`Rotator.apply` sees it, and commits it.

Every method raises only :mod:`rotation.errors` exceptions: ``TargetUnavailable`` when the
target cannot be reached (the engine retries later), ``ConfigurationError`` when the admin
credential or the target description is wrong (no retry), ``VerificationFailed`` when a login
is refused. Messages never contain a password; wrap driver errors with
:func:`rotation.sanitize.sanitize_error`.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any, ClassVar, Final, Self

from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import ConfigurationError
from rotation.policy import PasswordPolicy

#: Suffix of the second login kept by the alternating strategy (as AWS Secrets Manager does).
CLONE_SUFFIX = "_clone"


class _Unparsed(Enum):
    UNPARSED = "unparsed"


#: The default of a rotator constructor's ``settings``: "not parsed yet, parse ``context``".
UNPARSED: Final = _Unparsed.UNPARSED


class Strategy(StrEnum):
    """How a target keeps credentials alive across a rotation."""

    #: One login; ``apply`` replaces its password, the old one stops working at once.
    SINGLE = "single"
    #: Two logins (``user`` and ``user_clone``); each rotation resets the one not in use, so the
    #: old credential keeps working until the next rotation (zero downtime).
    ALTERNATING = "alternating"
    #: One login with several live passwords (Redis ACL, API keys); ``apply`` adds the new one,
    #: ``retire`` removes the old one once consumers moved.
    MULTIPLE = "multiple"


def alternate_username(username: str) -> str:
    """The other login of an alternating pair: ``app`` <-> ``app_clone``."""
    if username.endswith(CLONE_SUFFIX):
        return username[: -len(CLONE_SUFFIX)]
    return username + CLONE_SUFFIX


def base_username(username: str) -> str:
    """The original login of an alternating pair (the one the clone copies grants from)."""
    return username[: -len(CLONE_SUFFIX)] if username.endswith(CLONE_SUFFIX) else username


@dataclass(frozen=True)
class RotatorContext:
    """Everything a rotator knows about one managed secret, parsed from its tags.

    ``options`` holds the secret's other ``rotation-*`` tags (without the prefix) that the
    engine itself does not interpret, for rotator-specific settings such as an API profile.
    """

    secret_name: str
    target: str | None
    strategy: Strategy
    policy: PasswordPolicy
    admin: Credential | None = None
    options: Mapping[str, str] = field(default_factory=dict)


class Rotator(ABC):
    """Base class of every rotator. Subclasses set the class attributes and the methods.

    Instances are made per rotation with a :class:`RotatorContext` and used from one thread.
    """

    #: The value of the ``rotation-rotator`` tag that selects this rotator.
    kind: ClassVar[str]
    #: Strategies this target supports; the first one is the default.
    strategies: ClassVar[tuple[Strategy, ...]] = (Strategy.SINGLE,)
    #: Whether the ``rotation-target`` tag is required.
    requires_target: ClassVar[bool] = True
    #: Whether a ``rotation-admin-secret`` is required (else the current credential is used).
    requires_admin: ClassVar[bool] = False
    #: Default password policy, one the target is known to accept.
    default_policy: ClassVar[PasswordPolicy] = PasswordPolicy()
    #: Characters this target cannot store or verify in a password, beyond the control
    #: characters that the engine refuses for every target (NUL truncates in libpq, for
    #: example). A policy tag that allows one is a configuration error at parse time.
    unsafe_password_characters: ClassVar[str] = ""
    #: The longest password this target stores in full (longer ones may be truncated).
    max_password_length: ClassVar[int] = 1024
    #: How long a new credential may take to work everywhere, in seconds: the engine keeps
    #: verifying (backing off) at least this long before it counts a refusal, so that a
    #: propagating credential is not discarded and minted again on every run.
    verify_patience_seconds: ClassVar[float] = 0.0
    #: Whether ``apply`` does work after setting the password (an alternating clone's grants
    #: or permissions) that a stopped run may have left undone: the engine then applies a
    #: resumed alternating candidate again even though it logs in. Such an ``apply`` must
    #: succeed when the candidate's password is set already (password-reuse policies).
    reapply_on_resume: ClassVar[bool] = False
    #: For a target that counts bytes, not characters: the longest password in UTF-8 bytes
    #: (PAM's ``chpasswd`` refuses 512 and more). ``None``: only the length in characters.
    max_password_bytes: ClassVar[int | None] = None

    #: The typed settings :meth:`parse_settings` made from :attr:`context` (set by the
    #: constructor of a rotator that parses any).
    settings: Any = None

    def __init__(self, context: RotatorContext, settings: object = UNPARSED) -> None:
        """Keep ``context`` and, when given, ``settings`` (the result of
        :meth:`parse_settings` for this very context, as :meth:`create` hands them).

        A subclass that needs its settings calls :meth:`settings_for` with what it was given,
        so that it parses only when nobody did; ``Rotator(context)`` keeps working.
        """
        self.context = context
        if settings is not UNPARSED:
            self.settings = settings

    @classmethod
    def settings_for(cls, context: RotatorContext, settings: Any = UNPARSED) -> Any:
        """``settings`` if they were parsed already, else :meth:`parse_settings` of
        ``context``."""
        return cls.parse_settings(context) if settings is UNPARSED else settings

    @classmethod
    def create(cls, context: RotatorContext) -> Self:
        """Check ``context`` and build the rotator, parsing the settings once.

        The same as ``build(context, prepare(context))``. The engine makes its rotators
        through :class:`rotation.guarded.GuardedRotator`, which keeps what :meth:`prepare`
        returned so that a second rotator in the same run does not parse again.
        """
        return cls.build(context, cls.prepare(context))

    @classmethod
    def prepare(cls, context: RotatorContext) -> object:
        """Check ``context`` and return what :meth:`build` needs: the parsed settings.

        One :meth:`parse_settings` call, which is also the check. A class that overrides
        :meth:`check_config` (a plugin written before ``settings``) gets it called instead,
        and :data:`UNPARSED` back: its constructor parses for itself.
        """
        if cls.check_config.__func__ is not Rotator.check_config.__func__:  # type: ignore[attr-defined]
            cls.check_config(context)
            return UNPARSED
        return cls.parse_settings(context)

    @classmethod
    def build(cls, context: RotatorContext, prepared: object) -> Self:
        """The rotator for ``context``, given what :meth:`prepare` returned for it.

        No parsing when the constructor takes ``settings``; a one-argument constructor
        gets ``context`` only.
        """
        if prepared is not UNPARSED and "settings" in inspect.signature(cls).parameters:
            return cls(context, settings=prepared)
        return cls(context)

    @classmethod
    def parse_settings(cls, context: RotatorContext) -> object:
        """Parse the target and options into this rotator's typed settings. No network I/O.

        The one place a rotator reads ``context.target`` and ``context.options``: its
        ``__init__`` keeps the result (parsing only when not handed it, see :meth:`create`),
        :meth:`check_config` checks with it. Raises
        ``ConfigurationError`` naming the tag. The base refuses a strategy the class does not
        list (the engine's tag parser refuses it first; this covers contexts made by hand)
        and returns ``None``; an override calls it first and returns its own frozen object.
        """
        if context.strategy not in cls.strategies:
            raise ConfigurationError(
                f"strategy '{context.strategy.value}' is not supported by {cls.kind} "
                f"(supported: {', '.join(s.value for s in cls.strategies)})",
                secret=context.secret_name,
                tag=T.STRATEGY,
            )
        return None

    @classmethod
    def check_config(cls, context: RotatorContext) -> None:
        """Raise ``ConfigurationError`` if the target or options cannot work. No network I/O.

        The engine calls it before it builds the rotator. The default parses the settings
        (:meth:`parse_settings`) and drops them.
        """
        cls.parse_settings(context)

    def generate(self, current: Credential) -> Credential:
        """Return a candidate to replace ``current``. Pure: nothing is sent to the target.

        The default keeps the user name (single, multiple) or switches to the other login of
        the pair (alternating), and draws a password from the context's policy.
        """
        username = current.username
        if self.context.strategy is Strategy.ALTERNATING and username is not None:
            username = alternate_username(username)
        return Credential(
            password=self.context.policy.generate(), username=username, extra=current.extra
        )

    @abstractmethod
    def apply(self, current: Credential, candidate: Credential) -> Credential:
        """Make ``candidate`` log in on the target; return the credential as applied.

        Idempotent: succeeds (without harm) if the candidate already works. Under the single
        strategy ``current`` may stop working; under the others it keeps working. Most
        rotators return ``candidate``; a rotator whose target mints the secret (an API key)
        returns the minted credential, which the engine stages at once.
        """

    @abstractmethod
    def verify(self, credential: Credential) -> None:
        """Log in with ``credential``; raise ``VerificationFailed`` if it is refused."""

    def retire(self, old: Credential, new: Credential) -> None:
        """Make ``old`` stop working where the strategy kept it alive. Idempotent.

        Called only after the new credential is committed and its consumers moved. The
        default does nothing (single: already dead; alternating: reset next rotation).
        """

    def discard(self, candidate: Credential, current: Credential) -> None:
        """Make a refused ``candidate`` stop working, before any commit. Idempotent.

        Called only under the alternating and multiple strategies, when verification
        refused the candidate while ``current`` still logs in (``current`` is untouched).
        The default treats it as retiring the candidate in favour of ``current``.
        """
        self.retire(candidate, current)

    def close(self) -> None:
        """Release connections. Called once when the engine is done with the rotator."""
