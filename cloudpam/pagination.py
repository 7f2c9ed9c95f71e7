"""Counting list pages without an exact ``COUNT(*)`` over a million rows.

An exact count reads every matching index entry: at a million pools that is most of a
list page's time. Pages count at most ``COUNT_CAP + 1`` rows instead (``COUNT(*)`` over a
``LIMIT`` subquery); below the cap the count is exact. Above it the count is PostgreSQL's
planner estimate for the same query (never below what is known to exist), marked as not
exact; other databases, small by nature, count exactly.

Whether there is a next page never depends on the count: pages read one row more than
they show.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet

# Rows counted exactly; beyond it a list says "about N" (or "more than 10,000").
COUNT_CAP = 10_000


@dataclass(frozen=True, slots=True)
class Count:
    """How many rows a list has: exact, or an estimate no lower than ``at_least``."""

    value: int
    exact: bool
    at_least: int

    @property
    def label(self) -> str:
        """Return the count as a page shows it: ``1,234``, ``about 987,000``, ``10,000+``."""
        if self.exact:
            return f"{self.value:,}"
        if self.value > self.at_least:
            return f"about {self.value:,}"
        return f"{self.at_least - 1:,}+"


def planner_estimate(queryset: QuerySet) -> int | None:
    """Return PostgreSQL's estimate of the rows ``queryset`` yields; None elsewhere."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def capped_count(queryset: Any, *, known: int = 0, cap: int | None = None) -> Count:
    """Count ``queryset`` up to ``cap`` rows exactly; past it, estimate.

    ``known`` is how many rows the caller already knows exist (a page's offset plus its
    rows and the one read ahead): past the cap there is no need to count at all. A list
    (some pages are built in Python) is simply measured.
    """
    cap = COUNT_CAP if cap is None else cap
    if not isinstance(queryset, QuerySet):
        total = len(queryset)
        return Count(total, True, total)
    if known <= cap:
        counted = queryset.order_by()[: cap + 1].count()
        if counted <= cap:
            return Count(counted, True, counted)
        known = max(known, counted)
    estimate = planner_estimate(queryset)
    if estimate is None:
        exact = queryset.order_by().count()
        return Count(exact, True, exact)
    return Count(max(estimate, known), False, known)


class CappedPaginator(Paginator):
    """Django's paginator counting with ``capped_count``; ``count_info`` says how exactly.

    With an estimated count the last page number is an estimate too: a page past the real
    end is empty, not an error.
    """

    def __init__(self, object_list: Any, per_page: int, **kwargs: Any) -> None:
        super().__init__(object_list, per_page, allow_empty_first_page=True, **kwargs)

    @cached_property
    def count_info(self) -> Count:
        return capped_count(self.object_list)

    @cached_property
    def count(self) -> int:
        return self.count_info.value

    def validate_number(self, number: Any) -> int:
        if self.count_info.exact:
            return super().validate_number(number)
        # Past the cap the page count is an estimate: keep any positive page number.
        try:
            value = int(number)
        except (TypeError, ValueError):
            return super().validate_number(number)
        return max(value, 1)
