"""Temporary stand-ins for the drift model and services until they land (removed then)."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db import models

from apps.discovery.models import SyncRun as DriftFinding  # placeholder, never queried
from cloudpam.exceptions import NotFound


class DriftKind(models.TextChoices):
    UNMANAGED = "unmanaged", "Unmanaged"


class DriftStatus(models.TextChoices):
    OPEN = "open", "Open"


class DriftAction(models.TextChoices):
    IGNORE = "ignore", "Ignore"


def drift_list(*, organization: Any) -> Any:
    return DriftFinding.objects.none()


def drift_summary(*, organization: Any) -> dict[str, Any]:
    return {"by_kind": {}}


def drift_get(*, organization: Any, pk: Any) -> Any:
    raise NotFound("No such drift finding.")


def drift_target_pool(finding: Any) -> int | None:
    return None


def drift_apply(**kwargs: Any) -> None:
    raise NotImplementedError


def drift_ignore(**kwargs: Any) -> None:
    raise NotImplementedError


class DriftFilterSet(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=DriftKind.choices)
    status = django_filters.ChoiceFilter(choices=DriftStatus.choices)

    class Meta:
        model = DriftFinding
        fields: list[str] = []
