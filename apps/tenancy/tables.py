"""The console's tenancy tables: members, API tokens, identity providers and sessions."""

from __future__ import annotations

from cloudpam.tables import BulkAction, Column, Table


def _date(field: str, fmt: str = "Y-m-d H:i", empty: str = "") -> str:
    fallback = f'|default:"{empty}"' if empty else ""
    return (
        "{% with value=row." + field + ' %}{{ value|date:"' + fmt + '"' + fallback + " }}"
        "{% endwith %}"
    )


class MemberTable(Table):
    """Members with their role; admins change roles, remove, sign out and reset MFA."""

    key = "tenancy.members"
    noun = "members"
    columns = (
        Column(
            "member",
            "Member",
            order=("user__email", "id"),
            required=True,
            value="user.email",
            cell="{{ row.user.email }}{% if row.user.full_name %} <small>({{ row.user.full_name }})"
            '</small>{% endif %}{% if row.user_id == request.user.pk %} <span class="badge">you'
            "</span>{% endif %}",
        ),
        Column(
            "role",
            "Role",
            order=("role", "user__email", "id"),
            cell='<span class="badge">{{ row.role }}</span>',
        ),
        Column(
            "created_at", "Since", order=("created_at", "id"), cell=_date("created_at", "Y-m-d")
        ),
        Column("full_name", "Full name", default=False, value="user.full_name"),
        Column(
            "actions",
            "Actions",
            export=False,
            cell='{% if can_manage %}{% include "tenancy/_member_actions.html" with m=row %}'
            "{% endif %}",
        ),
    )


class ApiTokenTable(Table):
    """API tokens by prefix (never the secret), scopes, status, expiry and last use."""

    key = "tenancy.tokens"
    noun = "tokens"
    bulk_actions = (BulkAction("revoke", "Revoke"),)
    bulk_url_name = "tenancy:token-bulk"
    columns = (
        Column("name", "Name", order=("name", "id"), required=True),
        Column("token", "Token", value="display_prefix", css="mono"),
        Column(
            "member",
            "Member",
            order=("membership__user__email", "id"),
            value="membership.user.email",
        ),
        Column("scopes", "Scopes", cell='{{ row.scopes|join:", " }}'),
        Column(
            "status",
            "Status",
            cell='<span class="badge {% if row.status != "active" %}warning{% endif %}">'
            "{{ row.status }}</span>",
        ),
        Column(
            "expires_at",
            "Expires",
            order=("expires_at", "id"),
            cell=_date("expires_at", "Y-m-d", "never"),
        ),
        Column(
            "last_used_at",
            "Last used",
            order=("last_used_at", "id"),
            cell='{% if row.last_used_at %}{{ row.last_used_at|date:"Y-m-d H:i" }} from '
            "{{ row.last_used_ip }}{% else %}never{% endif %}",
        ),
        Column("created_at", "Created", order=("created_at", "id"), default=False),
        Column(
            "actions",
            "Actions",
            export=False,
            cell='{% if row.status == "active" %}<form method="post" action="{% url '
            '"tenancy:token-revoke" row.pk %}" class="inline" data-confirm="Revoke {{ row.name }}?'
            ' Scripts using it stop at once.">{% csrf_token %}<button type="submit" '
            'class="danger">Revoke</button></form>{% endif %}',
        ),
    )


class IdentityProviderTable(Table):
    """The organization's OpenID Connect providers (the client secret only as set or not)."""

    key = "tenancy.sso_providers"
    noun = "providers"
    columns = (
        Column(
            "name",
            "Name",
            order=("name", "id"),
            required=True,
            cell='<a href="{% url "tenancy:sso-provider-detail" row.pk %}">{{ row.name }}</a>',
        ),
        Column("slug", "Slug", order=("slug", "id"), css="mono"),
        Column("issuer", "Issuer", order=("issuer", "id"), css="mono"),
        Column(
            "client_secret",
            "Client secret",
            value=lambda provider: "set" if provider.client_secret_set else "not set",
        ),
        Column(
            "default_role",
            "Default role",
            order=("default_role", "id"),
            cell='{{ row.default_role|default:"none" }}{% if row.require_mapped_group %} '
            "(mapped group required){% endif %}",
        ),
        Column("mapping_count", "Mappings", numeric=True),
        Column(
            "enabled",
            "Status",
            order=("enabled", "id"),
            value=lambda provider: "enabled" if provider.enabled else "disabled",
            cell='<span class="badge {% if not row.enabled %}warning{% endif %}">'
            "{% if row.enabled %}enabled{% else %}disabled{% endif %}</span>",
        ),
    )


class SessionTable(Table):
    """The user's own signed-in sessions, this one marked."""

    key = "tenancy.sessions"
    noun = "sessions"
    columns = (
        Column(
            "device",
            "Device",
            order=("device", "id"),
            required=True,
            cell='{{ row.device|default:"Unknown device" }}{% if row.pk == current_id %} '
            '<span class="badge">this session</span>{% endif %}',
        ),
        Column(
            "ip", "Address", order=("ip", "id"), css="mono", cell='{{ row.ip|default:"unknown" }}'
        ),
        Column("created_at", "Signed in", order=("created_at", "id"), cell=_date("created_at")),
        Column(
            "last_seen_at", "Last seen", order=("last_seen_at", "id"), cell=_date("last_seen_at")
        ),
        Column("user_agent", "Browser", default=False),
        Column(
            "actions",
            "Actions",
            export=False,
            cell='<form method="post" action="{% url "tenancy:session-revoke" row.pk %}" '
            'class="inline">{% csrf_token %}<button type="submit" class="danger">Sign out</button>'
            "</form>",
        ),
    )
