"""The console's table of audit events."""

from __future__ import annotations

from typing import Any

from apps.audit.documents import actor_display
from cloudpam.tables import Column, Table


class AuditEventTable(Table):
    """Audit events, newest first, with a before/after diff per event.

    The table's own export is off: events leave only through the audit export
    (``audit.export``, chained and audited), whose CSV link the table shows instead.
    """

    key = "audit.events"
    noun = "events"
    exportable = False
    columns = (
        Column(
            "timestamp",
            "Time (UTC)",
            order=("timestamp", "id"),
            required=True,
            cell='<a href="{% url "audit:event-detail" row.pk %}">'
            '{{ row.timestamp|date:"Y-m-d H:i:s" }}</a>',
        ),
        Column("actor", "Actor", value=lambda event: actor_display(event.actor_info)),
        Column(
            "action",
            "Action",
            order=("action", "-timestamp", "-id"),
            value="get_action_display",
            cell='<span class="badge">{{ row.get_action_display }}</span>',
        ),
        Column(
            "object",
            "Object",
            order=("object_type", "object_pk", "-id"),
            value="object_repr",
            cell='{% if row.object_type %}<span class="muted">{{ row.object_type }} '
            "{{ row.object_pk }}</span> {{ row.object_repr }}{% else %}—{% endif %}",
        ),
        Column(
            "changes",
            "Changes",
            value=lambda event: len(event.changes or {}),
            cell="{% if row.changes %}<details><summary>{{ row.changes|length }} field"
            "{{ row.changes|length|pluralize }}</summary>"
            '{% include "audit/includes/changes.html" with changes=row.changes %}</details>'
            "{% else %}—{% endif %}",
        ),
        Column(
            "request",
            "Request",
            value="cid",
            css="mono",
            cell='{% if row.cid %}<a href="?request_id={{ row.cid|urlencode }}" '
            'title="Every event of this request">{{ row.cid|truncatechars:14 }}</a>'
            "{% else %}—{% endif %}",
        ),
        Column("remote_addr", "IP", css="mono", cell='{{ row.remote_addr|default:"—" }}'),
        Column("sequence", "Sequence", order=("sequence", "id"), default=False, numeric=True),
        Column("user_agent", "User agent", default=False),
    )

    def __init__(self, *args: Any, export_url: str = "", **kwargs: Any) -> None:
        self.audit_export_url = export_url
        super().__init__(*args, **kwargs)

    @property
    def export_url(self) -> str:
        return self.audit_export_url
