"""The console's discovery tables: resources, sync runs, agents and drift findings."""

from __future__ import annotations

from typing import Any

from apps.discovery.choices import DriftAction
from apps.discovery.filters import RESOURCE_ORDERINGS, RUN_ORDERINGS
from cloudpam.tables import Column, Table


def action_label(action: str) -> str:
    """Return how a drift suggestion reads (the action's own name when it is unknown)."""
    try:
        return str(DriftAction(action).label)
    except ValueError:
        return action


def _date(field: str, empty: str = "") -> str:
    fallback = f'|default:"{empty}"' if empty else ""
    return (
        "{% with value=row."
        + field
        + ' %}{{ value|date:"Y-m-d H:i"'
        + fallback
        + " }}{% endwith %}"
    )


class ResourceTable(Table):
    """Discovered resources with their state badges and the pool they fall in."""

    key = "discovery.resources"
    noun = "resources"
    default_sort = "cidr"
    columns = (
        Column(
            "cidr",
            "CIDR",
            order=RESOURCE_ORDERINGS["cidr"],
            required=True,
            css="mono",
            cell='<a href="{% url "discovery:resource-detail" row.pk %}">{{ row.cidr }}</a>',
        ),
        Column("resource_type", "Type", order=RESOURCE_ORDERINGS["resource_type"]),
        Column(
            "name",
            "Name",
            order=RESOURCE_ORDERINGS["name"],
            value=lambda r: r.name or r.resource_id,
        ),
        Column(
            "account",
            "Account",
            order=("account__name", "id"),
            value="account.name",
            cell='{{ row.account.name }} <span class="badge">{{ row.provider }}</span>',
        ),
        Column("region", "Region", order=("region", "id"), value=lambda r: r.region or "global"),
        Column(
            "state",
            "State",
            order=("state", "id"),
            value="get_state_display",
            cell='{% with r=row %}{% include "discovery/_resource_badges.html" %}{% endwith %}',
        ),
        Column(
            "pool",
            "Pool",
            value="pool.cidr",
            cell='{% if row.pool %}<a class="mono" href="{% url "discovery:network-pool" '
            'row.pool.pk %}">{{ row.pool.cidr }}</a>{% else %}<span class="muted">none</span>'
            "{% endif %}",
        ),
        Column(
            "last_seen_at",
            "Last seen",
            order=RESOURCE_ORDERINGS["last_seen_at"],
            cell=_date("last_seen_at"),
        ),
        Column(
            "first_seen_at",
            "First seen",
            order=RESOURCE_ORDERINGS["first_seen_at"],
            default=False,
            cell=_date("first_seen_at"),
        ),
        Column("resource_id", "Resource id", default=False),
        Column("network_id", "Network id", default=False),
        Column("tags", "Tags", default=False),
    )

    def row_attrs(self, obj: Any) -> dict[str, Any]:
        return {"data-resource": obj.pk}


class SyncRunTable(Table):
    """Sync runs with status, progress and counts."""

    key = "discovery.runs"
    noun = "runs"
    default_sort = "-created_at"
    columns = (
        Column(
            "id",
            "Run",
            order=("id",),
            required=True,
            cell='<a href="{% url "discovery:run-detail" row.pk %}">#{{ row.pk }}</a>',
        ),
        Column(
            "account",
            "Account",
            value=lambda run: (
                run.account.name if run.account else (run.agent.name if run.agent else "")
            ),
            cell='{% if row.account %}<a href="{% url "cloud:account-detail" row.account.pk %}">'
            "{{ row.account.name }}</a>{% elif row.agent %}{{ row.agent.name }}{% else %}"
            '<span class="muted">removed</span>{% endif %}',
        ),
        Column("trigger", "Trigger", order=("trigger", "id"), value="get_trigger_display"),
        Column(
            "status",
            "Status",
            order=("status", "id"),
            value="get_status_display",
            cell='{% with run=row %}{% include "discovery/_run_status.html" %}{% endwith %}',
        ),
        Column(
            "progress",
            "Progress",
            value="progress_percent",
            cell='{% load analysis %}{% percent_bar row.progress_percent "done" %}',
        ),
        *(
            Column(
                name,
                name.capitalize(),
                value=lambda run, name=name: (run.counts or {}).get(name, 0),
                numeric=True,
            )
            for name in ("seen", "new", "changed", "missing", "gone")
        ),
        Column("created_at", "Queued", order=RUN_ORDERINGS["created_at"], cell=_date("created_at")),
        Column(
            "finished_at",
            "Finished",
            order=RUN_ORDERINGS["finished_at"],
            default=False,
            cell=_date("finished_at"),
        ),
        Column("created_by", "Started by", default=False, value="created_by.email"),
    )

    def row_attrs(self, obj: Any) -> dict[str, Any]:
        return {"data-run": obj.pk}


class AgentTable(Table):
    """Agents with status, staleness and heartbeat; admins approve, reject and revoke."""

    key = "discovery.agents"
    noun = "agents"
    default_sort = ""
    columns = (
        Column("name", "Name", order=("name", "id"), required=True),
        Column(
            "hostname",
            "Host",
            order=("hostname", "id"),
            css="mono",
            cell='{{ row.hostname|default:"—" }}{% if row.last_seen_ip %} '
            "({{ row.last_seen_ip }}){% endif %}",
        ),
        Column("version", "Version", order=("version", "id")),
        Column(
            "status",
            "Status",
            order=("status", "id"),
            value="get_status_display",
            cell='<span class="badge {% if row.status == "approved" %}info{% elif row.status == '
            '"pending" %}warning{% else %}error{% endif %}">{{ row.get_status_display }}</span>'
            '{% if row.stale %} <span class="badge warning" title="No heartbeat for 15 minutes">'
            "stale</span>{% endif %}",
        ),
        Column(
            "last_heartbeat_at",
            "Last heartbeat",
            order=("last_heartbeat_at", "id"),
            cell=_date("last_heartbeat_at", "never"),
        ),
        Column(
            "registered_at",
            "Registered",
            order=("registered_at", "id"),
            cell=_date("registered_at"),
        ),
        Column(
            "actions",
            "Actions",
            export=False,
            cell='{% if can_manage %}{% include "discovery/_agent_actions.html" with a=row %}'
            "{% endif %}",
        ),
    )


class DriftTable(Table):
    """The drift findings of one kind, with apply and ignore per finding."""

    key = "discovery.drift"
    noun = "findings"
    default_sort = ""
    columns = (
        Column(
            "severity",
            "Severity",
            order=("severity_rank", "-detected_at", "-id"),
            required=True,
            cell='<span class="badge {% if row.severity == "error" %}error{% elif row.severity == '
            '"warning" %}warning{% else %}info{% endif %}">{{ row.severity }}</span>',
        ),
        Column(
            "message",
            "Finding",
            cell='{{ row.message }}{% if row.status != "open" %} <span class="badge" '
            'data-finding-status="{{ row.status }}">{{ row.status }}</span>'
            '{% if row.ignored_reason %} <span class="muted">({{ row.ignored_reason }})</span>'
            "{% endif %}{% endif %}",
        ),
        Column(
            "resource",
            "Resource",
            value="resource.cidr",
            cell='{% if row.resource %}<a class="mono" href="{% url "discovery:resource-detail" '
            'row.resource.pk %}">{{ row.resource.cidr }}</a> {{ row.resource.resource_type }}'
            "{% else %}—{% endif %}",
        ),
        Column(
            "pool",
            "Pool",
            value="pool.cidr",
            cell='{% if row.pool %}<a class="mono" href="{% url "discovery:network-pool" '
            'row.pool.pk %}">{{ row.pool.cidr }}</a> {{ row.pool.name }}{% else %}—{% endif %}',
        ),
        Column(
            "suggestion",
            "Suggestion",
            value="action_label",
            cell='<span data-action="{{ row.action }}">{{ row.action_label }}</span>',
        ),
        Column(
            "detected_at",
            "Detected",
            order=("detected_at", "id"),
            default=False,
            cell=_date("detected_at"),
        ),
        Column("account", "Account", default=False, value="account.name"),
        Column(
            "actions",
            "Actions",
            export=False,
            cell='{% if can_change %}{% include "discovery/_drift_actions.html" with f=row %}'
            "{% endif %}",
        ),
    )

    def prepare(self, objects: list[Any]) -> list[Any]:
        for finding in objects:
            finding.action_label = action_label(finding.action)
        return objects

    def row_attrs(self, obj: Any) -> dict[str, Any]:
        return {"data-finding": obj.pk}
