"""The console's pool tables: all pools and the deleted ones."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponseRedirect
from django.urls import reverse

from apps.pools import selectors
from apps.pools.filters import ORDERINGS
from apps.pools.models import Pool
from cloudpam.tables import BulkAction, Column, Table

# Console parameters that are not the API's pool filters.
_CONSOLE_PARAMS = ("page", "per_page", "sort", "export", "deleted", "ordering")


class PoolTable(Table):
    """Live pools; bulk delete, status and tags go through the batch write path."""

    key = "pools.pools"
    noun = "pools"
    default_sort = "cidr"
    columns = (
        Column(
            "cidr",
            "CIDR",
            order=ORDERINGS["cidr"],
            required=True,
            css="mono",
            cell='<a href="{% url "pools:pool-detail" row.pk %}">{{ row.cidr }}</a>',
        ),
        Column(
            "name",
            "Name",
            order=ORDERINGS["name"],
            cell='{{ row.name }}{% if row.deleted_at %} <span class="badge error">deleted</span>'
            "{% endif %}",
        ),
        Column(
            "type", "Type", order=("type", "family", "first_key", "id"), value="get_type_display"
        ),
        Column(
            "status",
            "Status",
            order=("status", "family", "first_key", "id"),
            value="get_status_display",
        ),
        Column(
            "utilization",
            "Utilization",
            value=lambda pool: f"{pool.utilization.percent:.2f}",
            cell="{% load pools %}{% utilization_bar row.utilization %}",
        ),
        Column("children", "Children", value="utilization.children", numeric=True),
        Column("prefix_length", "Prefix length", order=ORDERINGS["prefix_length"], default=False),
        Column(
            "parent",
            "Parent",
            default=False,
            value=lambda pool: pool.parent.cidr if pool.parent_id else "",
            cell='{% if row.parent_id %}<a class="mono" href="{% url "pools:pool-detail" '
            'row.parent_id %}">{{ row.parent.cidr }}</a>{% endif %}',
        ),
        Column("description", "Description", default=False),
        Column("tags", "Tags", default=False),
        Column(
            "source", "Source", order=("source", "id"), default=False, value="get_source_display"
        ),
        Column("created_at", "Created", order=ORDERINGS["created_at"], default=False),
        Column("updated_at", "Updated", order=ORDERINGS["updated_at"], default=False),
    )
    bulk_actions = (
        BulkAction("delete", "Delete"),
        BulkAction("status", "Change status"),
        BulkAction("tags", "Change tags"),
    )
    bulk_url_name = "pools:pool-bulk"

    def prepare(self, objects: list[Any]) -> list[Any]:
        utilization = selectors.pool_utilization_map(objects)
        for pool in objects:
            pool.utilization = utilization[pool.pk]
        return objects

    @property
    def export_url(self) -> str:
        """The pool export of the filters shown (the import's columns, in tree order)."""
        if not self.exportable:
            return ""
        params = self.params.copy()
        for name in _CONSOLE_PARAMS:
            params.pop(name, None)
        for name in [name for name, value in params.items() if not value]:
            params.pop(name)
        params["format"] = "csv"
        return f"{reverse('api:pool-export')}?{params.urlencode()}"

    def export_response(self) -> HttpResponseRedirect:
        """Send ``?export=csv`` to the pool export, the one writer of pool files."""
        return HttpResponseRedirect(self.export_url)


class DeletedPoolTable(PoolTable):
    """Soft-deleted pools, most recently deleted first; restored one by one."""

    key = "pools.deleted"
    default_sort = "-deleted_at"
    columns = (
        *PoolTable.columns[:4],
        Column("deleted_at", "Deleted", order=("deleted_at", "id")),
        *PoolTable.columns[6:],
    )
    bulk_actions = ()
    exportable = False

    def prepare(self, objects: list[Pool]) -> list[Pool]:
        return objects
