"""Console pages of imports: upload a file, see each bad row, apply, and the history.

The views parse the form, call ``plan_import`` or the plan services, and render; the
plan an import makes is also on the plans pages, like any other plan.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views import View

from apps.planning import services as plan_services
from apps.planning.choices import PlanSource
from apps.planning.imports import ImportRequest, plan_import
from apps.planning.io.readers import FORMATS, MAX_BYTES
from apps.planning.io.writers import EXPORT_FORMATS
from apps.planning.models import Plan
from apps.planning.tables import ImportTable
from apps.tenancy.mixins import TenantViewMixin
from cloudpam.context import actor_of
from cloudpam.exceptions import ApplicationError

ERRORS_SHOWN = 500


class ImportForm(forms.Form):
    """The upload: a file and how to read it."""

    file = forms.FileField(help_text="CSV, Excel (.xlsx), JSON or YAML; at most 20 MB.")
    format = forms.ChoiceField(
        choices=[("", "Detect from the file"), *[(name, name.upper()) for name in FORMATS]],
        required=False,
    )
    nest = forms.BooleanField(
        required=False,
        label="Nest rows without a parent inside the smallest pool that contains them",
    )
    title = forms.CharField(max_length=255, required=False)

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            raise forms.ValidationError("The file is larger than 20 MB.")
        return upload


def _plan_url(plan: Plan) -> str | None:
    try:
        return reverse("planning:plan-detail", args=[plan.pk])
    except NoReverseMatch:
        return None


class ImportListView(TenantViewMixin, View):
    """The import form and the history of imports (the plans of source ``import``)."""

    permission = "plans.view"
    method_permissions = {"post": "plans.change"}

    def context(self, form: ImportForm) -> dict[str, Any]:
        imports = (
            Plan.objects.for_request(self.request)
            .filter(source=PlanSource.IMPORT)
            .select_related("created_by")
            .defer("operations", "preview", "before_values")
            .order_by("-created_at", "-id")
        )
        return {
            "form": form,
            "table": ImportTable(self.request, imports),
            "can_import": self.allowed("plans.change"),
            "export_formats": EXPORT_FORMATS,
            "breadcrumbs": [{"label": "Imports", "url": None}],
        }

    def get(self, request: HttpRequest) -> HttpResponse:
        context = self.context(ImportForm())
        if context["table"].export_requested:
            return context["table"].export_response()
        return render(request, "planning/import_list.html", context)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                plan = plan_import(
                    organization=request.organization,
                    actor=actor_of(request),
                    stream=upload,
                    request=ImportRequest(
                        filename=upload.name or "",
                        file_format=form.cleaned_data["format"],
                        nest=form.cleaned_data["nest"],
                        title=form.cleaned_data["title"],
                    ),
                )
            except ApplicationError as exc:
                form.add_error("file", exc.message)
            else:
                return HttpResponseRedirect(reverse("planning:import-detail", args=[plan.pk]))
        return render(request, "planning/import_list.html", self.context(form), status=400)


class ImportDetailView(TenantViewMixin, View):
    """One import: what was read, each bad row, and apply when every row is good."""

    permission = "plans.view"
    method_permissions = {"post": "plans.apply"}

    def get_plan(self, pk: int) -> Plan:
        plan = (
            Plan.objects.for_request(self.request).filter(source=PlanSource.IMPORT, pk=pk).first()
        )
        if plan is None:
            raise Http404("No such import.")
        return plan

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        plan = self.get_plan(pk)
        detail = plan.source_detail or {}
        errors = detail.get("errors", [])
        return render(
            request,
            "planning/import_detail.html",
            {
                "plan": plan,
                "detail": detail,
                "errors": errors[:ERRORS_SHOWN],
                "more_errors": max(detail.get("error_count", len(errors)) - ERRORS_SHOWN, 0),
                "can_apply": self.allowed("plans.apply") and plan.status == "valid",
                "plan_url": _plan_url(plan),
                "breadcrumbs": [
                    {"label": "Imports", "url": reverse("planning:import-list")},
                    {"label": plan.title, "url": None},
                ],
            },
        )

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        plan = self.get_plan(pk)
        try:
            plan_services.plan_apply(plan=plan, actor=actor_of(request))
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Applied: {plan.operation_count} pools created.")
        return HttpResponseRedirect(reverse("planning:import-detail", args=[plan.pk]))
