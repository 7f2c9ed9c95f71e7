"""django-celery-beat's task admin, with the task's JSON arguments shown, not edited, once saved.

The schedules this project runs are written by code (``apps/*/schedules.py`` and the
beat settings); a superuser opening a saved task reads its arguments formatted, and
changes the schedule, the switch or the queue, never hand-edited JSON. A new task
still takes its arguments on the add page.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

JSON_FIELDS = ("args", "kwargs", "headers")


def _formatted(text: str) -> str:
    try:
        value = json.loads(text or "null")
    except ValueError:
        return format_html("<pre>{}</pre>", text)
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True))


class ReadableArgumentsTaskAdmin(PeriodicTaskAdmin):
    """The package's admin, the saved task's arguments read-only and formatted."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        fields = tuple(super().get_readonly_fields(request, obj))
        formatted = tuple(f"{name}_formatted" for name in JSON_FIELDS)
        return fields if obj is None else (*fields, *JSON_FIELDS, *formatted)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        shown = {name: f"{name}_formatted" for name in JSON_FIELDS}
        return [
            (title, {**options, "fields": [shown.get(f, f) for f in options["fields"]]})
            for title, options in fieldsets
        ]

    @admin.display(description="Positional arguments")
    def args_formatted(self, obj: PeriodicTask) -> str:
        return _formatted(obj.args)

    @admin.display(description="Keyword arguments")
    def kwargs_formatted(self, obj: PeriodicTask) -> str:
        return _formatted(obj.kwargs)

    @admin.display(description="Headers")
    def headers_formatted(self, obj: PeriodicTask) -> str:
        return _formatted(obj.headers)


def register(site: admin.AdminSite) -> None:
    """Put the readable task admin in place of the package's (before the superuser wrap)."""
    if site.is_registered(PeriodicTask):
        site.unregister(PeriodicTask)
    site.register(PeriodicTask, ReadableArgumentsTaskAdmin)
