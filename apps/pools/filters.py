"""The filters of the pool list, shared by the API and the console.

Containment filters (``contains``, ``within``, ``cidr``) compare the indexed first/last
address keys, so they cost index probes on SQLite and PostgreSQL alike. Every parameter is
validated strictly: a value that does not parse is a 400, never silently ignored.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.fields.json import KeyTransform
from drf_spectacular.utils import extend_schema_field

from apps.pools import cidr as engine
from apps.pools.choices import Family, PoolSource, PoolStatus, PoolType
from apps.pools.models import Pool
from apps.pools.selectors import containing_filter, within_filter

MAX_ID = 2**63 - 1
# Longer text cannot be a prefix; it is refused before parsing.
MAX_PREFIX_TEXT = 100

# What the console's "Order by" choice shows for each ordering value.
ORDERING_LABELS: dict[str, str] = {
    "cidr": "Address",
    "-cidr": "Address, descending",
    "name": "Name",
    "-name": "Name, descending",
    "prefix_length": "Prefix length",
    "-prefix_length": "Prefix length, descending",
    "depth": "Depth",
    "-depth": "Depth, descending",
    "created_at": "Created",
    "-created_at": "Created, newest first",
    "updated_at": "Updated",
    "-updated_at": "Updated, newest first",
}

# ordering value -> order_by fields; "cidr" is address order, the default.
ORDERINGS: dict[str, tuple[str, ...]] = {
    "cidr": ("family", "first_key", "prefix_length", "id"),
    "-cidr": ("-family", "-first_key", "-prefix_length", "-id"),
    "name": ("name", "id"),
    "-name": ("-name", "-id"),
    "prefix_length": ("prefix_length", "family", "first_key", "id"),
    "-prefix_length": ("-prefix_length", "family", "first_key", "id"),
    "depth": ("depth", "family", "first_key", "id"),
    "-depth": ("-depth", "family", "first_key", "id"),
    "created_at": ("created_at", "id"),
    "-created_at": ("-created_at", "-id"),
    "updated_at": ("updated_at", "id"),
    "-updated_at": ("-updated_at", "-id"),
}


class StrictBooleanField(forms.Field):
    """A query-string boolean: ``true``/``false``/``1``/``0``; anything else is an error."""

    # The console offers the three states as a choice; the API reads the same values.
    widget = forms.Select(choices=[("", "Any"), ("true", "Yes"), ("false", "No")])

    def to_python(self, value: Any) -> bool | None:
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        if lowered in {"true", "1"}:
            return True
        if lowered in {"false", "0"}:
            return False
        raise forms.ValidationError("Must be true or false.", code="invalid")


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class PrefixField(forms.CharField):
    """A prefix in CIDR notation; host bits set name the prefix the user meant."""

    def __init__(self, *args: Any, allow_address: bool = False, **kwargs: Any) -> None:
        self.allow_address = allow_address
        super().__init__(*args, **kwargs)

    def to_python(self, value: Any) -> engine.Prefix | None:
        text = super().to_python(value)
        if not text:
            return None
        if len(text) > MAX_PREFIX_TEXT:
            raise forms.ValidationError("Enter an IPv4 or IPv6 prefix.", code="invalid")
        try:
            if "/" in text or not self.allow_address:
                prefix = engine.parse_prefix(text)
                if "/" not in text:
                    raise engine.CidrError(f"'{text}' has no prefix length; write it as {prefix}.")
                return prefix
            family, address = engine.parse_address(text)
            return engine.Prefix(family, address, 32 if family == 4 else 128)
        except engine.CidrError as exc:
            # The message quotes the input, which may hold "%": pass it as a parameter,
            # since django-filter formats every message with its params.
            raise forms.ValidationError(
                "%(message)s", code="invalid", params={"message": exc.message}
            ) from None


class PrefixFilter(django_filters.CharFilter):
    field_class = PrefixField


class ParentField(forms.CharField):
    """A parent id, or ``null`` for root pools."""

    def to_python(self, value: Any) -> int | str | None:
        text = super().to_python(value)
        if not text:
            return None
        if text.lower() == "null":
            return "null"
        if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ID:
            return int(text)
        raise forms.ValidationError("Enter a pool id or null.", code="invalid")


class ParentFilter(django_filters.CharFilter):
    field_class = ParentField


class TagField(forms.CharField):
    """A ``key:value`` pair (the value may be empty; the key may not)."""

    def to_python(self, value: Any) -> tuple[str, str] | None:
        text = super().to_python(value)
        if not text:
            return None
        key, colon, tag_value = text.partition(":")
        if not colon or not key:
            raise forms.ValidationError("Write a tag as key:value.", code="invalid")
        return key, tag_value


class TagFilter(django_filters.CharFilter):
    field_class = TagField


class PoolFilterSet(django_filters.FilterSet):
    """Filters of SPEC.md section 2 for ``GET /pools/`` and the console's lists."""

    parent = extend_schema_field(
        {"type": "string", "pattern": r"^(null|[1-9][0-9]{0,18})$", "example": "null"}
    )(
        ParentFilter(
            method="filter_parent",
            label="Parent",
            help_text="Parent pool id, or null for root pools.",
        )
    )
    root = extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})(
        django_filters.NumberFilter(
            method="filter_root",
            label="Subtree of",
            min_value=1,
            max_value=MAX_ID,
            help_text="Pools in the subtree of this pool, the pool included.",
        )
    )
    type = django_filters.ChoiceFilter(choices=PoolType.choices, empty_label="Any")
    status = django_filters.ChoiceFilter(choices=PoolStatus.choices, empty_label="Any")
    source = django_filters.ChoiceFilter(choices=PoolSource.choices, empty_label="Any")
    family = extend_schema_field({"type": "integer", "enum": [4, 6]})(
        django_filters.TypedChoiceFilter(
            # "Any" first, so a form that is sent untouched filters nothing.
            choices=[("", "Any"), *((str(value), label) for value, label in Family.choices)],
            coerce=int,
            empty_value=None,
            label="Family",
            help_text="4 or 6.",
        )
    )
    q = django_filters.CharFilter(
        method="filter_q",
        label="Search",
        max_length=255,
        help_text="Search name, description and CIDR.",
    )
    cidr = PrefixFilter(method="filter_cidr", label="CIDR", help_text="Exactly this prefix.")
    contains = PrefixFilter(
        method="filter_contains",
        label="Contains",
        allow_address=True,
        help_text="Pools containing this address or prefix (an equal pool included).",
    )
    within = PrefixFilter(
        method="filter_within",
        label="Within",
        help_text="Pools inside this prefix (an equal pool included).",
    )
    tag = TagFilter(method="filter_tag", label="Tag", help_text="A tag as key:value.")
    include_deleted = StrictBooleanFilter(
        method="filter_include_deleted",
        label="Include deleted",
        help_text="Include soft-deleted pools.",
    )
    ordering = django_filters.ChoiceFilter(
        choices=[(key, ORDERING_LABELS[key]) for key in ORDERINGS],
        empty_label="Address (default)",
        method="filter_ordering",
        label="Order by",
        help_text="Order by one field; cidr (address order) by default.",
    )

    class Meta:
        model = Pool
        fields: list[str] = []

    # The API refuses a typed parameter given empty (``?family=``), which a form may send
    # for "any"; its schema documents no empty value for them.
    reject_blank = False
    TYPED = ("parent", "root", "type", "status", "source", "family", "include_deleted", "ordering")

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
        """Apply the filters, hide soft-deleted pools unless asked, and order the result."""
        queryset = super().filter_queryset(queryset)
        data = self.form.cleaned_data
        if not data.get("include_deleted"):
            queryset = queryset.filter(deleted_at__isnull=True)
        return queryset.order_by(*ORDERINGS[data.get("ordering") or "cidr"])

    def filter_parent(self, queryset: QuerySet, name: str, value: int | str) -> QuerySet:
        if value == "null":
            return queryset.filter(parent__isnull=True)
        return queryset.filter(parent_id=value)

    def filter_root(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        path = Pool.objects.filter(pk=int(value)).values_list("path", flat=True).first()
        if path is None:
            return queryset.none()
        return queryset.in_subtree(path)

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        text = value.strip()
        if not text:
            return queryset
        return queryset.filter(
            Q(name__icontains=text) | Q(description__icontains=text) | Q(cidr__startswith=text)
        )

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

    def filter_tag(self, queryset: QuerySet, name: str, value: tuple[str, str]) -> QuerySet:
        key, tag_value = value
        if connection.vendor == "postgresql":
            # Containment (``@>``) is what the GIN index of migration 0006 answers; tags
            # hold strings only, so it selects exactly the pools whose key has the value.
            return queryset.filter(tags__contains={key: tag_value})
        # KeyTransform takes the key whole, even one with "__" in it.
        return queryset.alias(_tag=KeyTransform(key, "tags")).filter(_tag=tag_value)

    def filter_include_deleted(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        # Applied in filter_queryset, which also sees the parameter when it is absent.
        return queryset

    def filter_ordering(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # Applied last, in filter_queryset.
        return queryset


class ApiPoolFilterSet(PoolFilterSet):
    """The pool filters as the API applies them: empty typed parameters are errors."""

    reject_blank = True
