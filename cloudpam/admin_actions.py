"""Admin actions that ask first: an intermediate confirmation page, as Django's delete has.

An action that writes through a service (allocate a child, restore, run an analysis,
sync now, approve an agent, apply a plan) first answers with a page listing the rows
it will act on (those the member's role allows, and the ones it will leave alone),
with the action's form when it takes input. Only the page's "Yes" (``post=yes``)
runs the service, row by row; "No, take me back" returns to the changelist and
nothing is written. The service writes its audit events, as from the API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from cloudpam.exceptions import ApplicationError

# Rows named on the confirmation page; a larger selection is counted, not listed.
LISTED = 50


def confirmed_action(
    model_admin: Any,
    request: HttpRequest,
    queryset: QuerySet | Iterable[Any],
    *,
    name: str,
    title: str,
    permission: str,
    button: str,
    run: Callable[[Any, dict[str, Any]], str | None] | None = None,
    run_rows: Callable[[list[Any], dict[str, Any]], list[str]] | None = None,
    form_class: Callable[..., forms.Form] | None = None,
    note: str = "",
) -> HttpResponse | None:
    """Show the confirmation page of the action ``name``, or run it once confirmed.

    ``run(row, cleaned_data)`` calls the service for one row and returns a message
    (or None); an ``ApplicationError`` becomes an error message for that row. The
    rows are those of ``queryset`` on which ``permission`` is allowed (see
    ``TenantAdminMixin.permitted``), so a grant on a subtree is honoured row by row.
    ``run_rows(rows, cleaned_data)`` instead acts on all the allowed rows at once
    (one analysis of the selected pools) and returns its messages.
    """
    rows = list(queryset)
    allowed, denied = model_admin.permitted(request, permission, rows)
    confirmed = request.POST.get("post") == "yes"
    form = None
    if form_class is not None:
        form = form_class(request.POST if confirmed else None)
    if confirmed and allowed and (form is None or form.is_valid()):
        model_admin.deny_message(request, permission, denied)
        data = form.cleaned_data if form is not None else {}
        if run_rows is not None:
            try:
                for message in run_rows(allowed, data):
                    model_admin.message_user(request, message, messages.SUCCESS)
            except ApplicationError as exc:
                model_admin.message_user(request, exc.message, messages.ERROR)
            return None
        for row in allowed:
            try:
                message = run(row, data) if run is not None else None
            except ApplicationError as exc:
                model_admin.message_user(request, f"{row}: {exc.message}", messages.ERROR)
                continue
            model_admin.message_user(request, message or f"{title}: {row}.", messages.SUCCESS)
        return None
    opts = model_admin.model._meta
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": opts,
        "action_name": name,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "allowed": allowed[:LISTED],
        "allowed_more": max(len(allowed) - LISTED, 0),
        "denied": denied[:LISTED],
        "denied_more": max(len(denied) - LISTED, 0),
        "selected": [row.pk for row in rows],
        "permission": permission,
        "form": form,
        "media": model_admin.media + (form.media if form is not None else forms.Media()),
        "button": button,
        "note": note,
        "changelist_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/confirm_action.html", context)
