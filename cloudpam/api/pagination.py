"""Limit/offset pagination: 50 by default, 1000 at most."""

from __future__ import annotations

from typing import Any

from rest_framework import pagination

from cloudpam.exceptions import ValidationError

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
