"""Form fields shared by the console and the admin."""

from __future__ import annotations

from typing import Any

from django import forms
from django.forms.fields import InvalidJSONInput

from cloudpam.jsonlimits import JSONTooDeepError, check_json_depth


class JSONField(forms.JSONField):
    """Django's JSON field, refusing documents nested deeper than ``MAX_JSON_DEPTH``.

    Django's own field catches only ``JSONDecodeError``: a document deep enough to
    exhaust the parser's recursion would be a 500, in cleaning and again when the
    form is shown back with its errors.
    """

    def to_python(self, value: Any) -> Any:
        try:
            return check_json_depth(super().to_python(value))
        except (RecursionError, JSONTooDeepError):
            raise forms.ValidationError(str(JSONTooDeepError()), code="too_deep") from None

    def bound_data(self, data: Any, initial: Any) -> Any:
        try:
            return super().bound_data(data, initial)
        except RecursionError:
            return InvalidJSONInput(data)
