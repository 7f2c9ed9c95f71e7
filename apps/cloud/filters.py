"""The filters of the account list, shared by the API and the console (SPEC.md section 4)."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema_field

from apps.cloud.choices import AccountStatus, Provider
from apps.cloud.models import CloudAccount
from apps.pools.filters import ParentFilter

Q_MAX_LENGTH = 255

# ordering value -> order_by fields; name order by default.
ORDERINGS: dict[str, tuple[str, ...]] = {
    "name": ("name", "id"),
    "-name": ("-name", "-id"),
    "provider": ("provider", "name", "id"),
    "-provider": ("-provider", "-name", "-id"),
    "status": ("status", "name", "id"),
    "-status": ("-status", "-name", "-id"),
    "last_checked_at": ("last_checked_at", "id"),
    "-last_checked_at": ("-last_checked_at", "-id"),
    "created_at": ("created_at", "id"),
    "-created_at": ("-created_at", "-id"),
}

# What the console's "Order by" choice shows for each ordering value.
ORDERING_LABELS: dict[str, str] = {
    "name": "Name",
    "-name": "Name, descending",
    "provider": "Provider",
    "-provider": "Provider, descending",
    "status": "Status",
    "-status": "Status, descending",
    "last_checked_at": "Last checked",
    "-last_checked_at": "Last checked, newest first",
    "created_at": "Created",
    "-created_at": "Created, newest first",
}


class AccountFilterSet(django_filters.FilterSet):
    """``provider``, ``status``, ``parent`` (an account id, or null), ``q`` and ``ordering``."""

    provider = django_filters.ChoiceFilter(choices=Provider.choices)
    status = django_filters.ChoiceFilter(choices=AccountStatus.choices)
    parent = extend_schema_field(
        {"type": "string", "pattern": r"^(null|[1-9][0-9]{0,18})$", "example": "null"}
    )(
        ParentFilter(
            method="filter_parent",
            help_text="The management account's id, or null for accounts without a parent.",
        )
    )
    q = django_filters.CharFilter(
        method="filter_q",
        max_length=Q_MAX_LENGTH,
        label="Search",
        help_text="Part of the name or external id.",
    )
    ordering = django_filters.ChoiceFilter(
        choices=[(key, ORDERING_LABELS[key]) for key in ORDERINGS],
        empty_label="Name (default)",
        method="filter_ordering",
        label="Order by",
        help_text="Order by one field; name by default.",
    )

    class Meta:
        model = CloudAccount
        fields: list[str] = []

    # The API refuses a typed parameter given empty (``?status=``); a console form sends
    # that for "any".
    reject_blank = False
    TYPED = ("provider", "status", "parent", "ordering")

    def is_valid(self) -> bool:
        """Validate the parameters, refusing empty typed ones when ``reject_blank``."""
        valid = super().is_valid()
        if self.reject_blank:
            for name in self.TYPED:
                if name in self.data and self.data.get(name) == "":
                    self.form.add_error(name, "This field may not be blank.")
                    valid = False
        return valid

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        """Apply the filters, then the ordering."""
        queryset = super().filter_queryset(queryset)
        return queryset.order_by(*ORDERINGS[self.form.cleaned_data.get("ordering") or "name"])

    def filter_parent(self, queryset: QuerySet, name: str, value: int | str) -> QuerySet:
        if value == "null":
            return queryset.filter(parent__isnull=True)
        return queryset.filter(parent_id=value)

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        text = value.strip()
        if not text:
            return queryset
        return queryset.filter(Q(name__icontains=text) | Q(external_id__icontains=text))

    def filter_ordering(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # Applied last, in filter_queryset.
        return queryset


class ApiAccountFilterSet(AccountFilterSet):
    """The account filters as the API applies them: empty typed parameters are errors."""

    reject_blank = True
