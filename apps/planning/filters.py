"""Filters of the plan list, shared by the API and the console."""

from __future__ import annotations

import django_filters
from django import forms
from drf_spectacular.utils import extend_schema_field

from apps.planning.choices import PlanSource, PlanStatus
from apps.planning.models import Plan

MAX_ID = 2**63 - 1


class IdFilter(django_filters.NumberFilter):
    """A filter on an id: a whole number (``1.5`` is an error, not an empty result)."""

    field_class = forms.IntegerField


class PlanFilterSet(django_filters.FilterSet):
    """Filters of ``GET /plans/``: source, status and author."""

    source = django_filters.ChoiceFilter(choices=PlanSource.choices)
    status = django_filters.ChoiceFilter(choices=PlanStatus.choices)
    created_by = extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})(
        IdFilter(
            field_name="created_by_id",
            min_value=1,
            max_value=MAX_ID,
            help_text="Plans created by this user id.",
        )
    )

    class Meta:
        model = Plan
        fields: list[str] = []

    reject_blank = False
    TYPED = ("source", "status", "created_by")

    def is_valid(self) -> bool:
        """Validate the parameters, refusing empty typed ones when ``reject_blank``."""
        valid = super().is_valid()
        if self.reject_blank:
            for name in self.TYPED:
                if name in self.data and self.data.get(name) == "":
                    self.form.add_error(name, "This field may not be blank.")
                    valid = False
        return valid


class ApiPlanFilterSet(PlanFilterSet):
    """The API's filters: an empty typed parameter is an error."""

    reject_blank = True
