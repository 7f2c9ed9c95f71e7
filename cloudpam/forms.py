"""Form fields and widgets shared by the console and the admin."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.forms.fields import InvalidJSONInput
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe

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


class PickerWidget(forms.TextInput):
    """A searchable picker: a text box that lists matches from a search endpoint (htmx).

    Typing asks ``url_name`` for matches (``?field=<name>&<name>=<text>``, plus
    ``params``); choosing one writes its reference (``#12 10.0.0.0/8 corp``) into
    the box. Without JavaScript the box is an ordinary text field, and the form
    field resolves what was typed (an id, a CIDR, a name, an e-mail address), so
    the form still submits a valid choice.
    """

    template = "includes/picker.html"

    def __init__(
        self,
        url_name: str,
        *,
        kind: str,
        placeholder: str = "",
        params: dict[str, str] | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(attrs={"placeholder": placeholder, **(attrs or {})})
        self.url_name = url_name
        self.kind = kind
        self.params = params or {}

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        widget = context["widget"]
        results = f"{widget['attrs'].get('id') or name}-results"
        query = urlencode({"field": name, **self.params})
        widget["attrs"].update(
            {
                "autocomplete": "off",
                "role": "combobox",
                "aria-autocomplete": "list",
                "aria-controls": results,
                "aria-expanded": "false",
                "hx-get": f"{reverse(self.url_name)}?{query}",
                "hx-trigger": "input changed delay:250ms",
                "hx-target": f"#{results}",
                "hx-sync": "this:replace",
                "data-picker-input": True,
            }
        )
        widget.update({"results_id": results, "kind": self.kind})
        return context

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> str:
        """Render with the project's templates (the form renderer sees only Django's)."""
        return mark_safe(render_to_string(self.template, self.get_context(name, value, attrs)))  # noqa: S308


def picker_query(request: Any, *, max_length: int = 200) -> str:
    """Return the text a picker sent: the value of the field it names, else ``q``."""
    field = request.GET.get("field") or "q"
    return str(request.GET.get(field, request.GET.get("q", "")))[:max_length].strip()
