"""The filters of discovered resources and sync runs, shared by the API and the console."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema_field

from apps.cloud.choices import Provider
from apps.discovery.choices import (
    DriftKind,
    DriftSeverity,
    DriftStatus,
    ManagementState,
    OverlapStatus,
    ResourceState,
    SyncStatus,
    SyncTrigger,
)
from apps.discovery.models import DiscoveredResource, DriftFinding, SyncRun
from apps.discovery.selectors import drift_in_subtree
from apps.pools import cidr as engine
from apps.pools.filters import MAX_ID, PrefixFilter
from apps.pools.models import PATH_MAX_LENGTH, Pool
from apps.pools.selectors import containing_filter, within_filter

Q_MAX_LENGTH = 255

RESOURCE_ORDERINGS: dict[str, tuple[str, ...]] = {
    "cidr": ("family", "first_key", "prefix_length", "id"),
    "-cidr": ("-family", "-first_key", "-prefix_length", "-id"),
    "name": ("name", "id"),
    "-name": ("-name", "-id"),
    "resource_type": ("resource_type", "family", "first_key", "id"),
    "-resource_type": ("-resource_type", "-family", "-first_key", "-id"),
    "last_seen_at": ("last_seen_at", "id"),
    "-last_seen_at": ("-last_seen_at", "-id"),
    "first_seen_at": ("first_seen_at", "id"),
    "-first_seen_at": ("-first_seen_at", "-id"),
}
RUN_ORDERINGS: dict[str, tuple[str, ...]] = {
    "created_at": ("created_at", "id"),
    "-created_at": ("-created_at", "-id"),
    "finished_at": ("finished_at", "id"),
    "-finished_at": ("-finished_at", "-id"),
}

# What the console's "Order by" choices show for each ordering value.
RESOURCE_ORDERING_LABELS: dict[str, str] = {
    "cidr": "Address",
    "-cidr": "Address, descending",
    "name": "Name",
    "-name": "Name, descending",
    "resource_type": "Resource type",
    "-resource_type": "Resource type, descending",
    "last_seen_at": "Last seen",
    "-last_seen_at": "Last seen, newest first",
    "first_seen_at": "First seen",
    "-first_seen_at": "First seen, newest first",
}
RUN_ORDERING_LABELS: dict[str, str] = {
    "created_at": "Started",
    "-created_at": "Started, newest first",
    "finished_at": "Finished",
    "-finished_at": "Finished, newest first",
}


class IdField(forms.CharField):
    """A positive database id."""

    def to_python(self, value: Any) -> int | None:
        text = super().to_python(value)
        if not text:
            return None
        if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ID:
            return int(text)
        raise forms.ValidationError("Enter a positive id.", code="invalid")


class IdFilter(django_filters.CharFilter):
    field_class = IdField


class _StrictFilterSet(django_filters.FilterSet):
    """Refuse typed parameters given empty in the API (``?state=``); the console sends them."""

    reject_blank = False
    TYPED: tuple[str, ...] = ()
    ORDERINGS: dict[str, tuple[str, ...]] = {}
    DEFAULT_ORDERING = ""

    def is_valid(self) -> bool:
        valid = super().is_valid()
        if self.reject_blank:
            for name in self.TYPED:
                if name in self.data and self.data.get(name) == "":
                    self.form.add_error(name, "This field may not be blank.")
                    valid = False
        return valid

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = super().filter_queryset(queryset)
        ordering = self.form.cleaned_data.get("ordering") or self.DEFAULT_ORDERING
        return queryset.order_by(*self.ORDERINGS[ordering])

    def filter_ordering(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # Applied last, in filter_queryset.
        return queryset


class ResourceFilterSet(_StrictFilterSet):
    """``account``, ``provider``, ``resource_type``, ``state``, ``management_state``,
    ``overlap_status``, ``region``, ``cidr``, ``contains``, ``within``, ``pool`` (subtree),
    ``q`` and ``ordering``."""

    account = IdFilter(field_name="account_id", help_text="A cloud account id.")
    provider = django_filters.ChoiceFilter(choices=Provider.choices)
    resource_type = django_filters.CharFilter(max_length=64)
    state = django_filters.ChoiceFilter(choices=ResourceState.choices)
    management_state = django_filters.ChoiceFilter(choices=ManagementState.choices)
    overlap_status = django_filters.ChoiceFilter(choices=OverlapStatus.choices)
    region = django_filters.CharFilter(max_length=64)
    cidr = PrefixFilter(method="filter_cidr", help_text="Exactly this prefix.")
    contains = PrefixFilter(
        method="filter_contains",
        label="Contains",
        help_text="An address or prefix: resources containing it.",
        allow_address=True,
    )
    within = PrefixFilter(
        method="filter_within", label="Within", help_text="A prefix: resources inside it."
    )
    pool = IdFilter(
        method="filter_pool", help_text="A pool id: resources in that pool or below it."
    )
    q = django_filters.CharFilter(
        method="filter_q",
        max_length=Q_MAX_LENGTH,
        label="Search",
        help_text="Part of the name, resource id or network id, or the start of the CIDR.",
    )
    ordering = django_filters.ChoiceFilter(
        choices=[(key, RESOURCE_ORDERING_LABELS[key]) for key in RESOURCE_ORDERINGS],
        empty_label="Address (default)",
        method="filter_ordering",
        label="Order by",
        help_text="Order by one field; address order by default.",
    )

    class Meta:
        model = DiscoveredResource
        fields: list[str] = []

    TYPED = (
        "account",
        "provider",
        "state",
        "management_state",
        "overlap_status",
        "cidr",
        "contains",
        "within",
        "pool",
        "ordering",
    )
    ORDERINGS = RESOURCE_ORDERINGS
    DEFAULT_ORDERING = "cidr"

    def filter_cidr(self, queryset: QuerySet, name: str, value: engine.Prefix) -> QuerySet:
        return queryset.filter(
            family=value.family,
            first_key=engine.address_key(value.first),
            prefix_length=value.length,
        )

    def filter_contains(self, queryset: QuerySet, name: str, value: engine.Prefix) -> QuerySet:
        return queryset.filter(**containing_filter(value))

    def filter_within(self, queryset: QuerySet, name: str, value: engine.Prefix) -> QuerySet:
        return queryset.filter(**within_filter(value))

    def filter_pool(self, queryset: QuerySet, name: str, value: int) -> QuerySet:
        organization = getattr(self.request, "organization", None)
        pool = Pool.objects.for_organization(organization).filter(pk=value).first()
        if pool is None:
            return queryset.none()
        return queryset.filter(pool__path__range=(pool.path, pool.path.ljust(PATH_MAX_LENGTH, "Z")))

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        text = value.strip()
        if not text:
            return queryset
        return queryset.filter(
            Q(name__icontains=text)
            | Q(resource_id__icontains=text)
            | Q(network_id__icontains=text)
            | Q(cidr__startswith=text)
        )


class ApiResourceFilterSet(ResourceFilterSet):
    """The resource filters as the API applies them: empty typed parameters are errors."""

    reject_blank = True


class RunFilterSet(_StrictFilterSet):
    """``account``, ``status``, ``trigger`` and ``ordering`` (newest first by default)."""

    account = IdFilter(field_name="account_id", help_text="A cloud account id.")
    status = django_filters.ChoiceFilter(choices=SyncStatus.choices)
    trigger = django_filters.ChoiceFilter(choices=SyncTrigger.choices)
    ordering = django_filters.ChoiceFilter(
        choices=[(key, RUN_ORDERING_LABELS[key]) for key in RUN_ORDERINGS],
        empty_label="Newest first (default)",
        method="filter_ordering",
        label="Order by",
        help_text="Order by one field; newest first by default.",
    )

    class Meta:
        model = SyncRun
        fields: list[str] = []

    TYPED = ("account", "status", "trigger", "ordering")
    ORDERINGS = RUN_ORDERINGS
    DEFAULT_ORDERING = "-created_at"


class ApiRunFilterSet(RunFilterSet):
    """The run filters as the API applies them: empty typed parameters are errors."""

    reject_blank = True


# Drift

_ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


class DriftFilterSet(_StrictFilterSet):
    """Filters of ``GET /discovery/drift/``: account, kind, pool subtree, severity, status.

    ``pool`` selects the findings about a pool's subtree (its pools and the resources in
    them); an id that is not a pool of the organization selects nothing.
    """

    account = extend_schema_field(_ID_SCHEMA)(
        IdFilter(field_name="account_id", help_text="Findings of this cloud account.")
    )
    kind = django_filters.ChoiceFilter(choices=DriftKind.choices)
    severity = django_filters.ChoiceFilter(choices=DriftSeverity.choices)
    status = django_filters.ChoiceFilter(choices=DriftStatus.choices)
    pool = extend_schema_field(_ID_SCHEMA)(
        IdFilter(
            method="filter_pool",
            help_text="Findings about this pool's subtree (its pools and the resources in it).",
        )
    )

    class Meta:
        model = DriftFinding
        fields: list[str] = []

    TYPED = ("account", "kind", "severity", "status", "pool")

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        # The drift list keeps the selector's order (most severe first): no ``ordering``.
        return django_filters.FilterSet.filter_queryset(self, queryset)

    def filter_pool(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        organization = getattr(self.request, "organization", None)
        pool = (
            Pool.objects.filter(organization=organization, pk=value)
            .only("pk", "path", "organization_id")
            .first()
            if organization is not None
            else None
        )
        if pool is None:
            return queryset.none()
        return drift_in_subtree(queryset, pool)


class ApiDriftFilterSet(DriftFilterSet):
    """The API's drift filters: an empty typed parameter is an error."""

    reject_blank = True
