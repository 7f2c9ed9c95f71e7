"""The console's table of cloud accounts."""

from __future__ import annotations

from apps.cloud.filters import ORDERINGS
from cloudpam.tables import Column, Table

_WHEN = (
    '{% if value %}{{ value|date:"Y-m-d H:i" }} UTC{% else %}<span class="muted">never</span>'
    "{% endif %}"
)


def _when(field: str) -> str:
    return "{% with value=row." + field + " %}" + _WHEN + "{% endwith %}"


class AccountTable(Table):
    """Accounts with provider, status badge, last check and the last collection's count."""

    key = "cloud.accounts"
    noun = "accounts"
    default_sort = "name"
    columns = (
        Column(
            "name",
            "Name",
            order=ORDERINGS["name"],
            required=True,
            cell='<a href="{% url "cloud:account-detail" row.pk %}">{{ row.name }}</a>'
            '{% if row.parent %} <span class="muted">member of {{ row.parent.name }}</span>'
            "{% endif %}",
        ),
        Column(
            "provider",
            "Provider",
            order=ORDERINGS["provider"],
            value="get_provider_display",
            cell='<span class="provider provider-{{ row.provider }}" aria-hidden="true"></span>'
            "{{ row.get_provider_display }}",
        ),
        Column("external_id", "External id", order=("external_id", "id"), css="mono"),
        Column(
            "status",
            "Status",
            order=ORDERINGS["status"],
            value="get_status_display",
            cell='{% with account=row %}{% include "cloud/account_status.html" %}{% endwith %}',
        ),
        Column(
            "last_checked_at",
            "Last check",
            order=ORDERINGS["last_checked_at"],
            cell=_when("last_checked_at"),
        ),
        Column(
            "last_collected_at",
            "Last collection",
            order=("last_collected_at", "id"),
            cell=_when("last_collected_at"),
        ),
        Column(
            "records",
            "Records",
            value=lambda account: (account.last_collection or {}).get("total"),
            numeric=True,
        ),
        Column("auth_method", "Authentication", default=False, value="get_auth_method_display"),
        Column("regions", "Regions", default=False),
        Column("parent", "Parent", default=False, value="parent.name"),
        Column("created_at", "Created", order=ORDERINGS["created_at"], default=False),
    )
