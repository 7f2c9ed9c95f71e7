"""Filter backends shared by every API view."""

from __future__ import annotations

from typing import Any

from rest_framework.filters import OrderingFilter


class StableOrderingFilter(OrderingFilter):
    """``?ordering=`` that always ends on the primary key.

    A caller may order by a column with ties (a timestamp, a status, an
    audit event's sequence before it is chained). Without a unique last key
    the database may return tied rows in any order, so one row can show on
    two pages of a limit/offset walk and another on none.
    """

    def get_ordering(self, request: Any, queryset: Any, view: Any) -> Any:
        ordering = super().get_ordering(request, queryset, view)
        if not ordering:
            return ordering
        ordering = list(ordering)
        if not any(term.lstrip("-") in {"pk", "id"} for term in ordering):
            ordering.append("-pk" if ordering[-1].startswith("-") else "pk")
        return ordering
