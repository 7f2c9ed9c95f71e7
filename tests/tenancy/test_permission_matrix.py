"""The role matrix, generated: role x endpoint x method -> allowed or not.

``ENDPOINTS`` is tenancy's table of endpoint and method -> permission; every
other /api/v1/ route is judged by the permission its view declares. Whether a
role holds a permission comes from the one table in ``apps/tenancy/roles.py``,
itself checked against the role descriptions of SPEC.md below.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.tenancy.choices import Role
from apps.tenancy.models import Membership, User
from apps.tenancy.roles import PERMISSIONS, role_has
from tests.isolation import (
    MACHINE_CREDENTIALS,
    Route,
    World,
    api_routes,
    build_path,
    declared_permission,
)

pytestmark = pytest.mark.django_db

ROUTES = api_routes()
ROLES = [role.value for role in Role]

# (url name, method) -> permission; None: any authenticated caller.
ENDPOINTS: dict[tuple[str, str], str | None] = {
    ("api:me", "get"): None,
    ("api:organization-list", "get"): None,
    ("api:organization-list", "post"): None,
    ("api:organization-detail", "get"): "organization.view",
    ("api:organization-detail", "patch"): "organization.change",
    ("api:organization-detail", "delete"): "organization.delete",
    ("api:organization-member-list", "get"): "members.view",
    ("api:organization-member-list", "post"): "members.manage",
    ("api:organization-member-detail", "get"): "members.view",
    ("api:organization-member-detail", "patch"): "members.manage",
    ("api:organization-member-detail", "delete"): "members.manage",
    ("api:organization-settings", "get"): "settings.view",
    ("api:organization-settings", "patch"): "settings.change",
    ("api:token-list", "get"): "tokens.view",
    ("api:token-list", "post"): "tokens.create",
    ("api:token-detail", "get"): "tokens.view",
    ("api:token-detail", "delete"): "tokens.create",
    # Your own MFA and sessions: any signed-in caller, about themselves only.
    ("api:me-mfa", "get"): None,
    ("api:me-mfa-verify", "post"): None,
    ("api:me-session-list", "get"): None,
    ("api:me-session-revoke-others", "post"): None,
    ("api:me-session-detail", "get"): None,
    ("api:me-session-detail", "delete"): None,
    ("api:organization-member-mfa", "get"): "members.manage",
    ("api:organization-member-mfa-reset", "post"): "members.manage",
    ("api:organization-member-session-list", "get"): "members.manage",
    ("api:organization-member-session-revoke", "post"): "members.manage",
}

# SPEC.md section 1, "Roles", in words turned into sets.
ALL = set(ROLES)
SPEC_ROLES: dict[str, set[str]] = {
    "pools.view": ALL,
    "pools.change": {"owner", "admin", "operator"},
    "accounts.change": {"owner", "admin", "operator"},
    "accounts.credentials": {"owner", "admin"},
    "discovery.change": {"owner", "admin", "operator"},
    "analysis.change": {"owner", "admin", "operator"},
    "plans.change": {"owner", "admin", "operator"},
    "plans.apply": {"owner", "admin", "operator"},
    "templates.manage": {"owner", "admin", "operator"},
    "ai.view": ALL,
    "ai.use": {"owner", "admin", "operator"},
    "ai.manage": {"owner", "admin"},
    "members.manage": {"owner", "admin"},
    "tokens.manage": {"owner", "admin"},
    "sso.manage": {"owner", "admin"},
    "settings.change": {"owner", "admin"},
    "quotas.change": {"owner", "admin"},
    "organization.delete": {"owner"},
    "owners.manage": {"owner"},
    "audit.view": {"owner", "admin", "auditor"},
    "audit.export": {"owner", "admin", "auditor"},
    "agents.view": ALL,
    "agents.manage": {"owner", "admin"},
}


def expected_permission(route: Route) -> str | None:
    return ENDPOINTS.get((route.name, route.method), declared_permission(route))


def test_the_role_table_matches_the_spec():
    for permission, roles in SPEC_ROLES.items():
        assert {r for r in ROLES if role_has(r, permission)} == roles, permission
    # The auditor writes nothing; the viewer reads neither audit nor secrets.
    writes = (".change", ".manage", ".delete", ".purge", ".create")
    for permission, (roles, _scope) in PERMISSIONS.items():
        if permission.endswith(writes) and permission != "tokens.create":
            assert Role.AUDITOR not in roles, permission
    assert not role_has("viewer", "audit.view")


def test_tenancy_routes_are_all_in_the_table_and_declared_as_listed():
    tenancy = {(r.name, r.method): r for r in ROUTES if (r.name, r.method) in ENDPOINTS}
    assert set(tenancy) == set(ENDPOINTS)
    for key, route in tenancy.items():
        assert declared_permission(route) == ENDPOINTS[key], key


CASES = [(route, role) for route in ROUTES for role in ROLES]


@pytest.mark.parametrize(
    ("route", "role"), CASES, ids=[f"{role}-{route.id}" for route, role in CASES]
)
def test_role_matrix(route: Route, role: str):
    world = World.create("matrix")
    user = world.owner
    if role != Role.OWNER:
        user = User.objects.create_user(f"{role}-matrix@example.com", "x")
        Membership.objects.create(user=user, organization=world.organization, role=role)
    client = APIClient()
    client.force_login(user)
    path = build_path(route, world)
    response = client.generic(
        route.method.upper(), path, data="{}", content_type="application/json"
    )

    if route.name in MACHINE_CREDENTIALS:
        # An agent's endpoint: a member's session is no agent, whatever the role.
        assert response.status_code == 401, (role, route.id, response.status_code)
        assert response.json()["error"]["code"] == "not_authenticated"
        return
    permission = expected_permission(route)
    allowed = permission is None or role_has(role, permission)
    assert response.status_code < 500, response.content
    if allowed:
        assert response.status_code not in (401, 403), (role, route.id, response.content)
    else:
        assert response.status_code == 403, (role, route.id, response.status_code)
        error = response.json()["error"]
        assert error["code"] == "permission_denied"
        assert f"'{permission}'" in error["message"]
