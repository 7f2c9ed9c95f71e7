"""
django-auditlog's diff of a row, for rows changed in bulk and known by their values.

``model_instance_diff`` walks every field of the model through several layers of
checks for each instance: a batch of 10,000 rows spent seconds in it. The writers of
set-based changes (``bulk_create``, ``QuerySet.update``, a subtree's ``DELETE``) know the
values before and after already. These functions give the same ``{field: [before,
after]}`` from those values, field list worked out once per model: the events are the
ones the model signals would have recorded (a test compares them on every field kind).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any

from auditlog.diff import is_primitive
from auditlog.registry import auditlog
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.encoding import smart_str


@cache
def tracked_fields(model: type[models.Model]) -> tuple[models.Field, ...]:
    """Return the concrete fields of ``model`` whose changes its events record."""
    options = auditlog.get_model_fields(model)
    include = set(options["include_fields"] or ())
    exclude = set(options["exclude_fields"] or ())
    return tuple(
        field
        for field in model._meta.concrete_fields
        if (not include or field.name in include) and field.name not in exclude
    )


@lru_cache(maxsize=256)
def _named_fields(model: type[models.Model], names: tuple[str, ...]) -> tuple[models.Field, ...]:
    """Return the tracked fields of ``model`` among ``names``, in the model's order."""
    wanted = set(names)
    return tuple(field for field in tracked_fields(model) if field.name in wanted)


def logged_value(field: models.Field, value: Any) -> Any:
    """Return ``value`` of ``field`` as django-auditlog's JSON diff stores it."""
    if value is None:
        return None
    if isinstance(field, models.DateTimeField) and isinstance(value, datetime):
        # django-auditlog's naive UTC text; the audit service turns it into ISO 8601.
        if settings.USE_TZ and not timezone.is_naive(value):
            value = timezone.make_naive(value, timezone=UTC)
        return smart_str(value)
    if isinstance(field, models.ForeignKey):
        return smart_str(value, strings_only=True)
    return value if is_primitive(value) else smart_str(value)


def row_values(instance: models.Model) -> dict[str, Any]:
    """Return the tracked values of ``instance`` by field name (foreign keys as ids)."""
    return {
        field.name: getattr(instance, field.attname) for field in tracked_fields(type(instance))
    }


def row_diff(
    model: type[models.Model],
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    fields: Iterable[str] | None = None,
) -> dict[str, list[Any]]:
    """Return ``{field: [before, after]}`` for the tracked fields whose value differs.

    ``before`` is None for a created row, ``after`` None for a deleted one; values are
    keyed by field name (a foreign key by its id). ``fields`` limits the diff as
    ``save(update_fields=...)`` limits django-auditlog's.
    """
    # An update of a subtree names the same one field of many for every row.
    compared = tracked_fields(model) if fields is None else _named_fields(model, tuple(fields))
    diff: dict[str, list[Any]] = {}
    for field in compared:
        old = logged_value(field, before.get(field.name)) if before is not None else None
        new = logged_value(field, after.get(field.name)) if after is not None else None
        if old != new:
            diff[field.name] = [old, new]
    return diff
