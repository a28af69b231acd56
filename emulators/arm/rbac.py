"""Azure RBAC as ARM evaluates it: built-in roles, role assignments at scopes, action checks.

A role is a set of ``actions`` minus ``not_actions``, each an ARM operation pattern where ``*``
matches any run of characters (``Microsoft.Sql/servers/*``, ``*/read``); matching ignores case.
An assignment at scope ``S`` grants its role on ``S`` and every resource below it
(``/subscriptions/x`` covers ``/subscriptions/x/resourceGroups/rg/...``).

The built-in roles carry the actions of Azure's definitions that matter to the emulated
operations (names and semantics as documented in "Azure built-in roles"); data actions are
not modelled.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class RoleDefinition:
    """A role: what it allows (``actions``) minus what it carves out (``not_actions``)."""

    name: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...] = ()

    def allows(self, action: str) -> bool:
        """Whether this role permits the ARM operation ``action``."""
        return any(_matches(p, action) for p in self.actions) and not any(
            _matches(p, action) for p in self.not_actions
        )


BUILTIN_ROLES: dict[str, RoleDefinition] = {
    role.name: role
    for role in (
        RoleDefinition(
            "Owner",
            actions=("*",),
        ),
        RoleDefinition(
            "Contributor",
            actions=("*",),
            not_actions=(
                "Microsoft.Authorization/*/Delete",
                "Microsoft.Authorization/*/Write",
                "Microsoft.Authorization/elevateAccess/Action",
            ),
        ),
        RoleDefinition("Reader", actions=("*/read",)),
        RoleDefinition(
            "SQL Server Contributor",
            actions=(
                "Microsoft.Authorization/*/read",
                "Microsoft.Resources/subscriptions/resourceGroups/read",
                "Microsoft.Sql/locations/*/read",
                "Microsoft.Sql/servers/*",
            ),
            not_actions=(
                "Microsoft.Sql/servers/auditingSettings/*",
                "Microsoft.Sql/servers/securityAlertPolicies/*",
                "Microsoft.Sql/servers/vulnerabilityAssessments/*",
            ),
        ),
        RoleDefinition(
            "Storage Account Key Operator Service Role",
            actions=(
                "Microsoft.Storage/storageAccounts/listkeys/action",
                "Microsoft.Storage/storageAccounts/regeneratekey/action",
            ),
        ),
        RoleDefinition(
            "DocumentDB Account Contributor",
            actions=(
                "Microsoft.Authorization/*/read",
                "Microsoft.DocumentDb/databaseAccounts/*",
                "Microsoft.Insights/alertRules/*",
                "Microsoft.Resources/deployments/*",
                "Microsoft.Resources/subscriptions/resourceGroups/read",
                "Microsoft.Support/*",
            ),
        ),
        RoleDefinition(
            "Website Contributor",
            actions=(
                "Microsoft.Authorization/*/read",
                "Microsoft.Resources/subscriptions/resourceGroups/read",
                "Microsoft.Web/serverFarms/read",
                "Microsoft.Web/sites/*",
            ),
        ),
    )
}


@lru_cache(maxsize=256)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.IGNORECASE)


def _matches(pattern: str, action: str) -> bool:
    return _pattern(pattern).fullmatch(action) is not None


def scope_covers(scope: str, resource_id: str) -> bool:
    """Whether an assignment at ``scope`` applies to ``resource_id`` (case-insensitive)."""
    scope = scope.rstrip("/").lower()
    resource = resource_id.rstrip("/").lower()
    return resource == scope or resource.startswith(scope + "/") or scope == ""


@dataclass(frozen=True)
class RoleAssignment:
    """``principal_id`` holds ``role`` at ``scope``."""

    scope: str
    principal_id: str
    role: RoleDefinition


class RoleAssignments:
    """The role assignments of the emulated tenant. Thread-safe."""

    def __init__(self) -> None:
        self._assignments: list[RoleAssignment] = []
        self._lock = threading.Lock()

    def assign(self, scope: str, principal_id: str, role: str) -> RoleAssignment:
        """Give ``principal_id`` the built-in ``role`` at ``scope``; ``KeyError`` if unknown."""
        try:
            definition = BUILTIN_ROLES[role]
        except KeyError:
            raise KeyError(f"unknown role '{role}' (known: {', '.join(BUILTIN_ROLES)})") from None
        if not scope.startswith("/"):
            raise ValueError(f"a scope starts with '/', got '{scope}'")
        assignment = RoleAssignment(scope.rstrip("/"), principal_id, definition)
        with self._lock:
            self._assignments.append(assignment)
        return assignment

    def revoke(self, scope: str, principal_id: str, role: str) -> None:
        """Remove every assignment of ``role`` to ``principal_id`` exactly at ``scope``."""
        with self._lock:
            self._assignments = [
                a
                for a in self._assignments
                if not (
                    a.principal_id == principal_id
                    and a.role.name == role
                    and a.scope.lower() == scope.rstrip("/").lower()
                )
            ]

    def allowed(self, principal_id: str, action: str, resource_id: str) -> bool:
        """Whether any assignment of ``principal_id`` covering ``resource_id`` allows ``action``."""
        with self._lock:
            assignments = list(self._assignments)
        return any(
            a.principal_id == principal_id
            and scope_covers(a.scope, resource_id)
            and a.role.allows(action)
            for a in assignments
        )
