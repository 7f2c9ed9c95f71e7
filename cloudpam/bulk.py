"""Bulk actions on the rows selected in a console table, one service call per row.

A table offers its actions (``Table.bulk_actions``) when the view allows them; the selection
is posted here, which shows what will change with the action's details (a reason, a
status) and, once confirmed, calls the action's service on each row and reports how many
changed and why each refused one was refused. The rows are looked up in the view's own
queryset (the organization's, the viewer's): an id outside it refuses the whole request
with a 404 and nothing is written. Pools go through the batch write path instead
(``apps/pools/bulk_views.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from django import forms
from django.contrib import messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from apps.tenancy.mixins import TenantViewMixin
from cloudpam.exceptions import ApplicationError
from cloudpam.tables import Table

# The most rows one bulk action takes: four pages of the largest size.
MAX_SELECTED = 1000


def selected_ids(request: HttpRequest) -> list[int]:
    """Return the posted ``pk`` values, each a positive database id, or raise Http404."""
    ids = []
    for value in request.POST.getlist("pk")[: MAX_SELECTED + 1]:
        if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 2**63:
            raise Http404("No such row here.")
        ids.append(int(value))
    return sorted(set(ids))


def back_url(request: HttpRequest, default: str) -> str:
    """Return the posted ``next`` when it is a local URL, else ``default``."""
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return back
    return default


@dataclass
class BulkOutcome:
    """The rows a bulk action changed, and each refused row with its reason."""

    done: list[Any]
    refused: list[tuple[Any, str]]


class BulkRowsView(TenantViewMixin, View):
    """Review, then apply, one of a table's bulk actions on the selected rows."""

    http_method_names = ["post"]
    template_name = "includes/bulk_confirm.html"
    # action key -> what the success message says was done ("revoked", "dismissed").
    done: ClassVar[dict[str, str]] = {}
    noun: ClassVar[tuple[str, str]] = ("row", "rows")
    default_back: ClassVar[str] = "/"
    form_class: ClassVar[type[forms.Form]] = forms.Form
    table: ClassVar[type[Table]]

    def get_queryset(self) -> QuerySet:
        """Return the rows this viewer may select (scoped to the organization)."""
        raise NotImplementedError

    def apply(self, action: str, row: Any, data: dict[str, Any]) -> None:
        """Carry out ``action`` on one row through its service."""
        raise NotImplementedError

    def describe(self, row: Any) -> str:
        return str(row)

    def _plural(self, count: int) -> str:
        return f"{count} {self.noun[0] if count == 1 else self.noun[1]}"

    def post(self, request: HttpRequest) -> HttpResponse:
        back = back_url(request, self.default_back)
        ids = selected_ids(request)
        if not ids:
            messages.warning(request, f"Select at least one {self.noun[0]} first.")
            return HttpResponseRedirect(back)
        if len(ids) > MAX_SELECTED:
            messages.error(request, f"A bulk action takes at most {MAX_SELECTED} rows.")
            return HttpResponseRedirect(back)
        action = request.POST.get("action", "")
        if action not in self.done:
            messages.error(request, f"Choose an action for the selected {self.noun[1]}.")
            return HttpResponseRedirect(back)
        rows = list(self.get_queryset().filter(pk__in=ids))
        if len(rows) != len(ids):
            raise Http404(f"Some of the selected {self.noun[1]} are not here.")
        confirmed = bool(request.POST.get("confirm"))
        form = self.form_class(request.POST if confirmed else None)
        if confirmed and form.is_valid():
            outcome = self._apply_all(action, rows, form.cleaned_data)
            self._report(action, outcome)
            return HttpResponseRedirect(back)
        labels = {action.key: action.label for action in self.table.bulk_actions}
        context = {
            "form": form,
            "action": action,
            "action_label": labels.get(action, action),
            "rows": [self.describe(row) for row in rows],
            "ids": ids,
            "count": self._plural(len(rows)),
            "back": back,
        }
        return render(request, self.template_name, context, status=400 if form.is_bound else 200)

    def _apply_all(self, action: str, rows: list[Any], data: dict[str, Any]) -> BulkOutcome:
        outcome = BulkOutcome(done=[], refused=[])
        for row in rows:
            try:
                # Each row in its own transaction: one refusal leaves the others made.
                with transaction.atomic():
                    self.apply(action, row, data)
            except ApplicationError as exc:
                outcome.refused.append((row, exc.message))
            else:
                outcome.done.append(row)
        return outcome

    def _report(self, action: str, outcome: BulkOutcome) -> None:
        if outcome.done:
            messages.success(
                self.request, f"{self._plural(len(outcome.done))} {self.done[action]}."
            )
        if outcome.refused:
            lines = "; ".join(
                f"{self.describe(row)}: {reason}" for row, reason in outcome.refused[:20]
            )
            more = f" (and {len(outcome.refused) - 20} more)" if len(outcome.refused) > 20 else ""
            messages.error(
                self.request,
                f"{self._plural(len(outcome.refused))} not changed: {lines}{more}.",
            )
