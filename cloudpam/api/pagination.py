"""Limit/offset pagination: 50 by default, 1000 at most, parameters checked strictly."""

from __future__ import annotations

from typing import Any

from rest_framework import pagination

from cloudpam.exceptions import ValidationError

# Offsets past this cannot address a row; refusing them keeps them out of SQL.
MAX_OFFSET = 2**62


def _integer(request: Any, name: str, default: int, minimum: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not minimum <= int(raw) <= maximum:
        message = f"Enter a whole number from {minimum} to {maximum}."
        raise ValidationError(f"{name}: {message}", fields={name: [message]})
    return int(raw)


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """Answer ``{"count", "next", "previous", "results"}`` pages.

    DRF falls back to the defaults on a malformed ``limit`` or ``offset``; here they are
    a 400, like every other malformed parameter.
    """

    default_limit = 50
    max_limit = 1000

    def get_limit(self, request: Any) -> int:
        return _integer(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request: Any) -> int:
        return _integer(request, self.offset_query_param, 0, 0, MAX_OFFSET)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": self.max_limit},
            self.offset_query_param: {"minimum": 0, "maximum": MAX_OFFSET},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters
