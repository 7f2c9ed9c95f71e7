"""List filters of tenancy (API and console)."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.tenancy.choices import Role
from apps.tenancy.models import ApiToken, Membership

TOKEN_STATUSES = [("active", "Active"), ("revoked", "Revoked"), ("expired", "Expired")]


def filter_token_status(queryset: QuerySet[ApiToken], status: str | None) -> QuerySet[ApiToken]:
    """Return the tokens of ``queryset`` in ``status`` (all of them without one)."""
    now = timezone.now()
    if status == "active":
        return queryset.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )
    if status == "revoked":
        return queryset.filter(revoked_at__isnull=False)
    if status == "expired":
        return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
    return queryset


class StrictChoicesMixin:
    """Refuse a blank choice filter (``?status=``) in the API instead of ignoring it.

    The console's filter forms send blanks for "any", so they use the plain
    filter sets; the API ones (``MemberApiFilterSet``, ``TokenApiFilterSet``) add this mixin.
    """

    def is_valid(self) -> bool:
        valid = super().is_valid()  # type: ignore[misc]
        for name, filter_ in self.filters.items():  # type: ignore[attr-defined]
            if isinstance(filter_, django_filters.ChoiceFilter) and self.data.get(name) == "":
                self.form.add_error(name, "Choose one of the listed values.")  # type: ignore[attr-defined]
                valid = False
        return valid


class MembershipFilterSet(django_filters.FilterSet):
    role = django_filters.ChoiceFilter(choices=Role.choices)
    q = django_filters.CharFilter(method="filter_q", label="Email or name contains")

    class Meta:
        model = Membership
        fields = ["role"]

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(
            Q(user__email__icontains=value) | Q(user__full_name__icontains=value)
        )


class ApiTokenFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=TOKEN_STATUSES, method="filter_status")

    class Meta:
        model = ApiToken
        fields = ["status"]

    def filter_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return filter_token_status(queryset, value)


class MemberApiFilterSet(StrictChoicesMixin, MembershipFilterSet):
    """Member filters of the API."""


class TokenApiFilterSet(StrictChoicesMixin, ApiTokenFilterSet):
    """Token filters of the API."""
