"""The ``random`` rotator: shared secrets with no target (signing keys, webhook secrets).

Tags::

    rotation-rotator         random
    rotation-password-policy optional; the default is 64 characters with symbols

No ``rotation-target`` (one given is refused, to catch a secret tagged with the wrong kind) and
no admin secret. The only consumers are readers of the vault, so a rotation is: draw a value
from the policy (:meth:`generate`), "apply" it by returning it (the engine stages and commits
it), "verify" that it satisfies the policy, and nothing to retire. The stored value is the bare
secret, unless the current value is JSON: then the new value is JSON too, with the other fields
(and a user name, if any) carried over (the engine serializes, see ``Credential.to_value``).

With no target there is no login: :meth:`verify` accepts any value the policy allows, so it
cannot tell the "right" value from another, and an old value never "stops working" anywhere
but in the consumers that stop reading it.
"""

from __future__ import annotations

from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import ConfigurationError, VerificationFailed
from rotation.policy import PasswordPolicy
from rotation.rotator import UNPARSED, Rotator, RotatorContext, Strategy


class RandomSecretRotator(Rotator):
    """Rotates a shared secret that lives only in the vault (see the module docstring)."""

    kind = "random"
    strategies = (Strategy.SINGLE,)
    requires_target = False
    requires_admin = False
    default_policy = PasswordPolicy(length=64, lower=4, upper=4, digits=4, symbols=4)

    @classmethod
    def parse_settings(cls, context: RotatorContext) -> None:
        """Refuse a strategy other than single, a target, and an impossible policy."""
        super().parse_settings(context)
        if context.target:
            raise ConfigurationError(
                "the random rotator has no target; remove the tag or choose another rotator",
                secret=context.secret_name,
                tag=T.TARGET,
            )
        context.policy.validate(secret=context.secret_name)

    def __init__(self, context: RotatorContext, settings: object = UNPARSED) -> None:
        super().__init__(context)
        self.settings_for(context, settings)

    def apply(self, current: Credential, candidate: Credential) -> Credential:
        """Nothing to set anywhere: return ``candidate`` (idempotent by construction)."""
        return candidate

    def verify(self, credential: Credential) -> None:
        """Raise ``VerificationFailed`` unless the value satisfies the context's policy."""
        if not self.context.policy.satisfied_by(credential.password):
            raise VerificationFailed(
                f"the value of secret '{self.context.secret_name}' does not satisfy its "
                "password policy"
            )
