"""Limit/offset pagination: 50 by default, 1000 at most."""

from typing import Any

from rest_framework import pagination
from rest_framework.exceptions import ValidationError


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """Answer ``{"count", "next", "previous", "results"}`` pages.

    A ``limit`` or ``offset`` that is not a whole number (``limit`` at least 1)
    is a 400, not silently the default: a client that asked for something
    else must not believe it got it. A ``limit`` above 1000 is capped.
    """

    default_limit = 50
    max_limit = 1000

    def _whole_number(self, request: Any, name: str, minimum: int) -> int | None:
        values = request.query_params.getlist(name)
        if not values:
            return None
        if len(values) > 1:
            raise ValidationError({name: ["Give this parameter once."]})
        try:
            number = int(values[0])
        except ValueError:
            raise ValidationError({name: ["A whole number is required."]}) from None
        if number < minimum:
            raise ValidationError({name: [f"Must be at least {minimum}."]})
        return number

    def get_limit(self, request: Any) -> int:
        limit = self._whole_number(request, self.limit_query_param, 1)
        if limit is None:
            return self.default_limit
        return min(limit, self.max_limit)

    def get_offset(self, request: Any) -> int:
        return self._whole_number(request, self.offset_query_param, 0) or 0

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            minimum = 1 if parameter["name"] == self.limit_query_param else 0
            parameter["schema"]["minimum"] = minimum
        return parameters
