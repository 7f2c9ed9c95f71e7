"""The search filters of the audit trail, shared by the API, the exports and the console."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django_filters.fields import IsoDateTimeField

from apps.audit.choices import AuditAction
from apps.audit.models import AuditEvent
from cloudpam.forms import PickerWidget


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, in UTC: PostgreSQL refuses offsets beyond 15:59."""

    def to_python(self, value: Any) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            raise forms.ValidationError(
                "Enter a date/time between the years 1 and 9999.", code="invalid"
            ) from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class AuditEventFilterForm(forms.Form):
    """Refuse a filter that is present but empty, where an empty value means nothing."""

    NOT_EMPTY = ("since", "until", "action")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name in self.NOT_EMPTY:
            if name in self.data and not str(self.data.get(name, "")).strip():
                self.add_error(name, "This filter needs a value; leave it out to not filter.")
        return cleaned


class AuditEventFilterSet(django_filters.FilterSet):
    """Filter events by time, actor, action, object, request and free text.

    The console drops empty fields of its search form before filtering.
    """

    since = UtcIsoDateTimeFilter(
        field_name="timestamp",
        lookup_expr="gte",
        label="Since (ISO 8601, inclusive)",
        widget=forms.TextInput(attrs={"placeholder": "2030-01-31T00:00:00Z"}),
    )
    until = UtcIsoDateTimeFilter(
        field_name="timestamp",
        lookup_expr="lt",
        label="Until (ISO 8601, exclusive)",
        widget=forms.TextInput(attrs={"placeholder": "2030-02-01T00:00:00Z"}),
    )
    actor = django_filters.CharFilter(
        method="filter_actor",
        label="Actor (email, token name or task)",
        max_length=255,
        # Suggests members by e-mail or name; a token name or task is typed as before.
        widget=PickerWidget(
            "tenancy:member-picker", kind="members", placeholder="E-mail, name, token or task"
        ),
    )
    action = django_filters.ChoiceFilter(choices=AuditAction.choices, label="Action")
    object_type = django_filters.CharFilter(
        field_name="object_type", lookup_expr="iexact", label="Object type", max_length=100
    )
    object_id = django_filters.CharFilter(field_name="object_pk", label="Object id", max_length=255)
    request_id = django_filters.CharFilter(field_name="cid", label="Request id", max_length=255)
    q = django_filters.CharFilter(method="filter_q", label="Search", max_length=255)

    class Meta:
        model = AuditEvent
        fields: list[str] = []
        form = AuditEventFilterForm

    def filter_actor(self, queryset: QuerySet[AuditEvent], name: str, value: str) -> Any:
        value = value.strip()
        return queryset.filter(
            Q(actor_email__iexact=value) | Q(actor_token_name=value) | Q(actor_system=value)
        )

    def filter_q(self, queryset: QuerySet[AuditEvent], name: str, value: str) -> Any:
        value = value.strip()
        if not value:
            return queryset
        return queryset.annotate(changes_text_search=Cast("changes", TextField())).filter(
            Q(object_repr__icontains=value)
            | Q(actor_email__icontains=value)
            | Q(actor_token_name__icontains=value)
            | Q(object_pk=value)
            | Q(cid=value)
            | Q(changes_text_search__icontains=value)
        )
