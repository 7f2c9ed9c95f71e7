"""Filters of the recommendation list, shared by the API and the console.

Every parameter is validated strictly: a value that does not parse is a 400, and the API
refuses a typed parameter given empty (``?type=``), which the console's forms send for
"any".
"""

from __future__ import annotations

import django_filters
from django import forms
from drf_spectacular.utils import extend_schema_field

from apps.analysis.choices import RecommendationStatus, RecommendationType, Severity
from apps.analysis.models import Recommendation

MAX_ID = 2**63 - 1


class IdFilter(django_filters.NumberFilter):
    """A filter on an id: a whole number (``1.5`` is an error, not an empty result)."""

    field_class = forms.IntegerField


class RecommendationFilterSet(django_filters.FilterSet):
    """Filters of ``GET /recommendations/``: pool, type, status and severity."""

    pool = extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})(
        IdFilter(
            field_name="pool_id",
            min_value=1,
            max_value=MAX_ID,
            help_text="Recommendations about this pool.",
        )
    )
    type = django_filters.ChoiceFilter(choices=RecommendationType.choices)
    status = django_filters.ChoiceFilter(choices=RecommendationStatus.choices)
    severity = django_filters.ChoiceFilter(choices=Severity.choices)

    class Meta:
        model = Recommendation
        fields: list[str] = []

    reject_blank = False
    TYPED = ("pool", "type", "status", "severity")

    def is_valid(self) -> bool:
        """Validate the parameters, refusing empty typed ones when ``reject_blank``."""
        valid = super().is_valid()
        if self.reject_blank:
            for name in self.TYPED:
                if name in self.data and self.data.get(name) == "":
                    self.form.add_error(name, "This field may not be blank.")
                    valid = False
        return valid


class ApiRecommendationFilterSet(RecommendationFilterSet):
    """The API's filters: an empty typed parameter is an error."""

    reject_blank = True
