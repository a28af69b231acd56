"""Least privilege: every role is a known built-in role, assigned on one specific resource."""

from __future__ import annotations

import re

import pytest

from tests.infra.templates import (
    BROAD_SCOPE_TYPES,
    REPO_ROOT,
    Resource,
    Template,
    UnresolvedExpression,
    role_definition_guid,
    walk,
)

ROLE_ASSIGNMENT = "Microsoft.Authorization/roleAssignments"

#: Built-in role definition id -> (role name, resource types it may be scoped to).
ALLOWED_ROLES: dict[str, tuple[str, frozenset[str]]] = {
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": (
        "Key Vault Secrets Officer",
        frozenset({"Microsoft.KeyVault/vaults"}),
    ),
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": (
        "Storage Blob Data Owner",
        frozenset({"Microsoft.Storage/storageAccounts"}),
    ),
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": (
        "Storage Queue Data Contributor",
        frozenset({"Microsoft.Storage/storageAccounts"}),
    ),
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": (
        "Storage Blob Data Contributor",
        frozenset({"Microsoft.Storage/storageAccounts/blobServices/containers"}),
    ),
    "3913510d-42f4-4e42-8a64-420c390055eb": (
        "Monitoring Metrics Publisher",
        frozenset({"Microsoft.Insights/components"}),
    ),
    "d5a91429-5739-47e2-a06b-3470a27159e7": (
        "EventGrid Data Sender",
        frozenset({"Microsoft.EventGrid/topics"}),
    ),
    "6d8ee4ec-f05a-4a1d-8b00-a9b17e38b437": (
        "SQL Server Contributor",
        frozenset({"Microsoft.Sql/servers"}),
    ),
    "81a9662b-bebf-436f-a333-f67b29880f12": (
        "Storage Account Key Operator Service Role",
        frozenset({"Microsoft.Storage/storageAccounts"}),
    ),
    "5bd9cd88-fe45-4216-938b-f97437e15450": (
        "DocumentDB Account Contributor",
        frozenset({"Microsoft.DocumentDB/databaseAccounts"}),
    ),
    "de139f84-1756-47ae-9be6-808fbbe84772": (
        "Website Contributor",
        frozenset({"Microsoft.Web/sites"}),
    ),
}

#: The roles the design needs; each must actually be granted somewhere.
REQUIRED_ROLES = frozenset(ALLOWED_ROLES)


def assignments(templates: dict[str, Template]) -> list[tuple[Template, Resource]]:
    return [(t, r) for t in templates.values() for r in t.resources(ROLE_ASSIGNMENT)]


def scope_resource(template: Template, assignment: Resource) -> Resource:
    """The resource a role assignment's ``scope:`` names, declared in the same file."""
    scope = assignment.get("scope")
    if not isinstance(scope, str):
        raise AssertionError(
            f"{template.name}:{assignment.symbol}: scope must name a resource symbol, "
            f"got {scope!r} (a function such as resourceGroup() or subscription() is refused)"
        )
    return template.resource(scope)


def test_templates_contain_role_assignments(templates: dict[str, Template]) -> None:
    # Guards the tests below against passing on an empty list (a renamed type, a parser change).
    assert len(assignments(templates)) >= len(REQUIRED_ROLES)


def test_every_role_assignment_is_scoped_to_one_resource(
    templates: dict[str, Template],
) -> None:
    for template, assignment in assignments(templates):
        target = scope_resource(template, assignment)
        assert target.type not in BROAD_SCOPE_TYPES, (
            f"{template.name}:{assignment.symbol} is scoped to a {target.type}"
        )
        assert not target.looped, f"{template.name}:{assignment.symbol}: looped scope"


def test_no_role_assignment_in_a_subscription_scoped_template(
    templates: dict[str, Template],
) -> None:
    # In a subscription-scoped file an assignment without a resource scope would land on the
    # subscription; keep them all in resource-group modules next to the resource they target.
    for template in templates.values():
        if template.target_scope != "resourceGroup":
            assert not list(template.resources(ROLE_ASSIGNMENT)), template.name


def test_no_scope_function_anywhere_in_role_assignments(
    templates: dict[str, Template],
) -> None:
    # Belt and braces over the source text: `scope: resourceGroup()` / `subscription()` /
    # `tenant()` / `managementGroup()` never appear inside a role assignment declaration.
    broad = re.compile(r"scope:\s*(resourceGroup|subscription|tenant|managementGroup)\s*\(")
    for template in templates.values():
        for match in re.finditer(
            r"'Microsoft\.Authorization/roleAssignments@[^']+'", template.text
        ):
            body = template.text[match.end() : template.text.find("\n}", match.end())]
            assert not broad.search(body), f"{template.name}: broad scope in {body[:80]!r}"


def test_every_role_is_a_known_built_in_on_its_kind_of_resource(
    templates: dict[str, Template],
) -> None:
    granted: set[str] = set()
    for template, assignment in assignments(templates):
        guid = role_definition_guid(template, assignment)
        assert guid in ALLOWED_ROLES, f"{template.name}:{assignment.symbol}: unknown role {guid}"
        role_name, scope_types = ALLOWED_ROLES[guid]
        target = scope_resource(template, assignment)
        assert target.type in scope_types, (
            f"{template.name}:{assignment.symbol}: {role_name} on a {target.type}"
        )
        granted.add(guid)
    missing = {ALLOWED_ROLES[g][0] for g in REQUIRED_ROLES - granted}
    assert not missing, f"roles never granted: {sorted(missing)}"


def test_assignments_target_service_principals(templates: dict[str, Template]) -> None:
    """The app's identities, except the deploying developer's optional grants (principalId in
    main.bicep, as azd templates do): those are ``User`` and only when a principal is given."""
    for template, assignment in assignments(templates):
        kind = template.resolve_string(assignment.get("properties", "principalType"))
        if kind == "User":
            principal = assignment.get("properties", "principalId")
            assert principal == "developerPrincipalId", f"{template.name}:{assignment.symbol}"
            assert assignment.condition is not None, f"{template.name}:{assignment.symbol}"
        else:
            assert kind == "ServicePrincipal", f"{template.name}:{assignment.symbol}"
        principal = assignment.get("properties", "principalId")
        assert isinstance(principal, str) and principal in template.section("parameters"), (
            f"{template.name}:{assignment.symbol}: principalId must be a module parameter"
        )


def test_key_vault_roles_only_in_the_vault_module(templates: dict[str, Template]) -> None:
    officer = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
    holders = {
        template.name
        for template, assignment in assignments(templates)
        if role_definition_guid(template, assignment) == officer
    }
    assert holders == {"infra/modules/vault-access.bicep"}


def test_no_privileged_generic_roles(templates: dict[str, Template]) -> None:
    # Owner, Contributor, User Access Administrator, Key Vault Administrator, RBAC Administrator.
    forbidden = {
        "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
        "b24988ac-6180-42a0-ab88-20f7382dd24c",
        "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
        "00482a5a-887f-4fb3-b363-3b7fe8e74483",
        "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
    }
    for template in templates.values():
        for guid in forbidden:
            assert guid not in template.text, f"{template.name} mentions role {guid}"


def test_role_definition_resolution_refuses_expressions() -> None:
    from pycep import BicepParser

    from tests.infra.templates import REPO_ROOT

    text = (
        "param roleId string\n"
        "resource st 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {\n"
        "  name: 'x'\n}\n"
        "resource ra 'Microsoft.Authorization/roleAssignments@2022-04-01' = {\n"
        "  name: guid('a')\n  scope: st\n  properties: {\n"
        "    roleDefinitionId: subscriptionResourceId("
        "'Microsoft.Authorization/roleDefinitions', roleId)\n"
        "    principalId: 'p'\n  }\n}\n"
    )
    template = Template(REPO_ROOT / "infra" / "x.bicep", text, BicepParser().parse(text=text))
    with pytest.raises(UnresolvedExpression):
        role_definition_guid(template, template.resource("ra"))


def test_walk_sees_nested_values() -> None:
    assert "needle" in list(walk({"a": [{"b": "needle"}]}))


def test_the_developer_principal_gets_the_data_roles_only_when_given(
    templates: dict[str, Template],
) -> None:
    main = templates["main.bicep"]
    assert main.section("parameters")["principalId"]["default"] == ""
    modules = main.section("modules")
    developer = modules["developerVaultAccess"]
    text = main.text
    assert "(empty(principalId) ? [] : vaults)" in text
    assert "principalType: 'User'" in text
    assert developer is not None
    storage = templates["modules/storage.bicep"]
    users = [
        a.symbol
        for a in storage.resources(ROLE_ASSIGNMENT)
        if a.get("properties", "principalType") == "User"
    ]
    assert sorted(users) == ["developerBlobOwner", "developerQueueContributor"]
    params = (REPO_ROOT / "infra" / "main.parameters.json").read_text(encoding="utf-8")
    assert "${AZURE_PRINCIPAL_ID}" in params
