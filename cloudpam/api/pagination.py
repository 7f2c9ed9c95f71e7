"""Limit/offset pagination: 50 by default, 1000 at most."""

from rest_framework import pagination


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """Answer ``{"count", "next", "previous", "results"}`` pages."""

    default_limit = 50
    max_limit = 1000
