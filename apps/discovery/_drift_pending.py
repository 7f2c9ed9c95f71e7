"""Temporary stand-ins for the drift model and services until h-recon's land (not for merge)."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db import models

from apps.discovery.models import SyncRun as DriftFinding  # placeholder model, never queried
from cloudpam.exceptions import NotFound


class DriftKind(models.TextChoices):
    UNMANAGED = "unmanaged", "Unmanaged"


def drift_list(*, organization: Any) -> Any:
    return DriftFinding.objects.none()


def drift_summary(*, organization: Any) -> dict[str, int]:
    return {}


def drift_get(*, organization: Any, pk: Any) -> Any:
    raise NotFound("No such drift finding.")


def drift_apply(**kwargs: Any) -> None:
    raise NotImplementedError


def drift_ignore(**kwargs: Any) -> None:
    raise NotImplementedError


class DriftFilterSet(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=DriftKind.choices)

    class Meta:
        model = DriftFinding
        fields: list[str] = []


class DriftIgnoreForm(forms.Form):
    reason = forms.CharField(max_length=500)


def drift_of_resource(*, organization: Any, resource: Any) -> list[Any]:
    return []
