"""Limit/offset pagination: 50 by default, 1000 at most, counted up to a cap.

``count`` is exact up to ``cloudpam.pagination.COUNT_CAP`` rows; past it, it is the
database's estimate and ``count_exact`` is false (see ``cloudpam.pagination``). ``next``
is always exact: a page reads one row more than it returns.
"""

from __future__ import annotations

from typing import Any

from rest_framework import pagination

from cloudpam.exceptions import ValidationError
from cloudpam.pagination import capped_count

# Beyond any table's size, and well inside PostgreSQL's bigint OFFSET.
MAX_OFFSET = 1_000_000_000


def _parse(raw: str, name: str, minimum: int, maximum: int | None = None) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = None
    if value is None or value < minimum or (maximum is not None and value > maximum):
        bound = f" and at most {maximum}" if maximum is not None else ""
        message = f"{name} must be a whole number of at least {minimum}{bound}."
        raise ValidationError(f"{name}: {message}", fields={name: [message]})
    return value


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """Answer ``{"count", "next", "previous", "results"}`` pages.

    A ``limit`` or ``offset`` that is not a number is a 400, not silently the
    default; a limit above the maximum is lowered to it.
    """

    default_limit = 50
    max_limit = 1000

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> list[Any]:
        self.request = request
        self.limit = self.get_limit(request)
        self.offset = self.get_offset(request)
        rows = list(queryset[self.offset : self.offset + self.limit + 1])
        self.has_next = len(rows) > self.limit
        rows = rows[: self.limit]
        if (rows or not self.offset) and not self.has_next:
            # The last page (or an empty list): its end is the count, no counting needed.
            self.count, self.count_exact = self.offset + len(rows), True
        elif rows:
            known = self.offset + len(rows) + (1 if self.has_next else 0)
            counted = capped_count(queryset, known=known)
            self.count, self.count_exact = counted.value, counted.exact
        else:
            # Past the end: there are at most ``offset`` rows.
            counted = capped_count(queryset)
            self.count, self.count_exact = min(counted.value, self.offset), counted.exact
        if self.count > self.limit and self.template is not None:
            self.display_page_controls = True
        return rows

    def get_paginated_response(self, data: Any) -> Any:
        response = super().get_paginated_response(data)
        response.data["count_exact"] = self.count_exact
        return response

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        answer = super().get_paginated_response_schema(schema)
        answer["properties"]["count"]["description"] = (
            "Exact up to 10,000 rows; past that the database's estimate (see count_exact)."
        )
        answer["properties"]["count_exact"] = {
            "type": "boolean",
            "description": "False when count is an estimate; follow next to page to the end.",
        }
        return answer

    def get_next_link(self) -> str | None:
        if not self.has_next:
            return None
        return super().get_next_link() or self._next_link()

    def _next_link(self) -> str:
        # An estimated count may be below the real one: the link stands on the read-ahead.
        from rest_framework.utils.urls import replace_query_param

        url = self.request.build_absolute_uri()
        url = replace_query_param(url, self.limit_query_param, self.limit)
        return replace_query_param(url, self.offset_query_param, self.offset + self.limit)

    def get_limit(self, request: Any) -> int:
        raw = request.query_params.get(self.limit_query_param)
        if raw is None:
            return self.default_limit
        return min(_parse(raw, self.limit_query_param, 1), self.max_limit)

    def get_offset(self, request: Any) -> int:
        raw = request.query_params.get(self.offset_query_param)
        if raw is None:
            return 0
        return _parse(raw, self.offset_query_param, 0, MAX_OFFSET)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        minimums = {self.limit_query_param: 1, self.offset_query_param: 0}
        for parameter in parameters:
            if parameter["name"] in minimums:
                parameter["schema"]["minimum"] = minimums[parameter["name"]]
            if parameter["name"] == self.offset_query_param:
                parameter["schema"]["maximum"] = MAX_OFFSET
        return parameters
