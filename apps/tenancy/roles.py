"""
The permission matrix: one table, the single source of truth for roles.

Views name the permission an action needs (``pools.change``); the permission
layer looks it up here, for roles and for token scopes alike. Tests generate
the role-by-endpoint matrix from this table.
"""

from __future__ import annotations

from apps.tenancy.choices import Role, TokenScope

READERS = frozenset(Role)
WRITERS = frozenset({Role.OWNER, Role.ADMIN, Role.OPERATOR})
ADMINS = frozenset({Role.OWNER, Role.ADMIN})
OWNERS = frozenset({Role.OWNER})
AUDIT_READERS = frozenset({Role.OWNER, Role.ADMIN, Role.AUDITOR})

# permission -> (roles that hold it, token scope it needs)
PERMISSIONS: dict[str, tuple[frozenset[Role], TokenScope]] = {
    "organization.view": (READERS, TokenScope.READ),
    "organization.change": (ADMINS, TokenScope.ADMIN),
    "organization.delete": (OWNERS, TokenScope.ADMIN),
    "members.view": (READERS, TokenScope.READ),
    "members.manage": (ADMINS, TokenScope.ADMIN),
    "owners.manage": (OWNERS, TokenScope.ADMIN),
    "settings.view": (READERS, TokenScope.READ),
    "settings.change": (ADMINS, TokenScope.ADMIN),
    "tokens.view": (READERS, TokenScope.READ),
    "tokens.create": (READERS, TokenScope.ADMIN),
    "tokens.manage": (ADMINS, TokenScope.ADMIN),
    "sso.manage": (ADMINS, TokenScope.ADMIN),
    "quotas.change": (ADMINS, TokenScope.ADMIN),
    "pools.view": (READERS, TokenScope.READ),
    "pools.change": (WRITERS, TokenScope.WRITE),
    "pools.purge": (ADMINS, TokenScope.ADMIN),
    "accounts.view": (READERS, TokenScope.READ),
    "accounts.change": (WRITERS, TokenScope.WRITE),
    "accounts.credentials": (ADMINS, TokenScope.ADMIN),
    "discovery.view": (READERS, TokenScope.READ),
    "discovery.change": (WRITERS, TokenScope.WRITE),
    "agents.view": (READERS, TokenScope.READ),
    "agents.manage": (ADMINS, TokenScope.ADMIN),
    "analysis.view": (READERS, TokenScope.READ),
    "analysis.change": (WRITERS, TokenScope.WRITE),
    "plans.view": (READERS, TokenScope.READ),
    "plans.change": (WRITERS, TokenScope.WRITE),
    "plans.apply": (WRITERS, TokenScope.WRITE),
    "templates.manage": (WRITERS, TokenScope.WRITE),
    "ai.view": (READERS, TokenScope.READ),
    "ai.use": (WRITERS, TokenScope.WRITE),
    "ai.manage": (ADMINS, TokenScope.ADMIN),
    "audit.view": (AUDIT_READERS, TokenScope.READ),
    "audit.export": (AUDIT_READERS, TokenScope.READ),
}

# A scope includes the ones below it.
SCOPE_INCLUDES: dict[TokenScope, frozenset[TokenScope]] = {
    TokenScope.READ: frozenset({TokenScope.READ}),
    TokenScope.WRITE: frozenset({TokenScope.READ, TokenScope.WRITE}),
    TokenScope.ADMIN: frozenset({TokenScope.READ, TokenScope.WRITE, TokenScope.ADMIN}),
}

# The widest scope each role may grant a token.
ROLE_MAX_SCOPES: dict[Role, frozenset[TokenScope]] = {
    Role.OWNER: frozenset(TokenScope),
    Role.ADMIN: frozenset(TokenScope),
    Role.OPERATOR: frozenset({TokenScope.READ, TokenScope.WRITE}),
    Role.VIEWER: frozenset({TokenScope.READ}),
    Role.AUDITOR: frozenset({TokenScope.READ}),
}


def role_has(role: str, permission: str) -> bool:
    """Return whether ``role`` holds ``permission``."""
    roles, _scope = PERMISSIONS[permission]
    return role in roles


def scopes_allow(scopes: list[str] | tuple[str, ...], permission: str) -> bool:
    """Return whether a token with ``scopes`` may use ``permission``."""
    _roles, needed = PERMISSIONS[permission]
    return any(needed in SCOPE_INCLUDES[TokenScope(scope)] for scope in scopes)


def permissions_for(role: str, scopes: list[str] | tuple[str, ...] | None = None) -> list[str]:
    """Return the sorted effective permissions of a role, narrowed by token scopes."""
    return sorted(
        name
        for name in PERMISSIONS
        if role_has(role, name) and (scopes is None or scopes_allow(scopes, name))
    )
