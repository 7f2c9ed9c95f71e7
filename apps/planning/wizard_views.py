"""Console pages of the schema wizard (SPEC 7.1): the wizard with its live preview, and the
organization's saved templates.

The wizard is one form in numbered steps (template, supernet, regions or sites,
environments, tiers, naming/headroom/IPv6). Every change posts the form to the preview
partial (htmx), which shows the counts, the tree and an ASCII map, or the generator's
errors. "Create plan" stores the plan through the template services and opens the plan
page; "Save as organization template" stores the parameters.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views import View

from apps.planning import template_selectors as selectors
from apps.planning import template_services as services
from apps.planning.engine.templates import TEMPLATES, render_map, render_tree
from apps.planning.tables import TemplateTable
from apps.planning.wizard_forms import WizardForm
from apps.tenancy.mixins import TenantViewMixin
from cloudpam.context import actor_of
from cloudpam.exceptions import ApplicationError, NotFound

TREE_LINES = 300


def plan_url(plan: Any) -> str:
    """Return the console page of a plan (its API page, or the wizard, until there is one)."""
    for name in ("planning:plan-detail", "api:plan-detail"):
        try:
            return reverse(name, args=[plan.pk])
        except NoReverseMatch:
            continue
    return reverse("planning:wizard")


class WizardConsoleMixin(TenantViewMixin):
    """Reading needs ``plans.view``; creating a plan ``plans.change``; saving a template
    ``templates.manage``."""

    permission = "plans.view"

    def template_choices(self) -> list[tuple[str, str]]:
        entries = selectors.template_entries(organization=self.request.organization)
        return [
            (entry.key, entry.name if entry.builtin else f"{entry.name} (saved, {entry.template})")
            for entry in entries
        ]

    def entry(self, key: str) -> selectors.TemplateEntry:
        try:
            return selectors.template_entry(organization=self.request.organization, key=key)
        except NotFound as exc:
            raise Http404(exc.message) from None

    def form(self, data: Any = None, initial: Any = None) -> WizardForm:
        return WizardForm(
            data,
            initial=initial,
            template_choices=self.template_choices(),
            organization=self.request.organization,
        )


# The wizard's steps, each with the form fields it shows when the template reads them.
STEPS = [
    ("Supernet", ["supernet", "supernet_pool", "supernet_prefix_length", "name"]),
    ("Regions and sites", ["regions", "sites", "units", "providers"]),
    ("Environments", ["environments", "vpcs"]),
    ("Subnet tiers and sizes", ["tiers", "site_tiers", "provider", "transit_prefix_length"]),
    ("Naming, headroom and IPv6", ["naming", "headroom", "status", "ipv6", "ipv6_prefix"]),
]
ALWAYS = {"supernet_pool", "supernet_prefix_length"}


def wizard_steps(form: WizardForm, template: str) -> list[tuple[int, str, list[Any]]]:
    """Return the numbered steps after the template's, with the fields the template reads."""
    used = set(TEMPLATES[template].params) | ALWAYS
    steps = []
    for number, (title, names) in enumerate(STEPS, start=2):
        fields = [form[name] for name in names if name in used]
        if fields:
            steps.append((number, title, fields))
    return steps


def _preview_context(generated: Any = None, error: ApplicationError | None = None) -> dict:
    if error is not None:
        return {"errors": sorted(error.fields.items()) or [("", [error.message])]}
    if generated is None:
        return {}
    return {
        "generated": generated,
        "counts": sorted(generated.counts.items()),
        "pool_count": len(generated.operations),
        "tree": render_tree(generated.operations, limit=TREE_LINES),
        "ascii_map": render_map(generated.operations),
    }


class WizardView(WizardConsoleMixin, View):
    """The wizard: ``?template=<key>`` loads a built-in's example or a saved template."""

    def get(self, request: HttpRequest) -> HttpResponse:
        key = request.GET.get("template") or "regional"
        entry = self.entry(key)
        form = self.form(initial=WizardForm.initial_for(entry.key, entry.params, entry.naming))
        generated = error = None
        try:
            generated = services.template_preview(
                organization=request.organization, key=entry.key, params=None
            )
        except ApplicationError as exc:
            error = exc
        return self._render(entry, form, _preview_context(generated, error))

    def post(self, request: HttpRequest) -> HttpResponse:
        key = request.POST.get("template") or ""
        entry = self.entry(key)
        action = request.POST.get("action")
        needed = {"save": "templates.manage", "update": "templates.manage"}.get(
            action or "", "plans.change"
        )
        self.require(needed)
        form = self.form(request.POST)
        if not form.is_valid():
            return self._render(entry, form, {}, status=400)
        params = form.params()
        naming = params.pop("naming")
        actor = actor_of(request)
        try:
            if action == "save":
                saved = services.org_template_create(
                    organization=request.organization,
                    actor=actor,
                    name=form.cleaned_data.get("template_name") or "",
                    template=entry.template,
                    params=params,
                    naming=naming,
                )
                messages.success(request, f"Saved the template {saved.name}.")
                return HttpResponseRedirect(f"{reverse('planning:wizard')}?template={saved.key}")
            if action == "update":
                if entry.saved is None:
                    raise Http404("Only a saved template can be updated.")
                services.org_template_update(
                    org_template=entry.saved, actor=actor, params=params, naming=naming
                )
                messages.success(request, f"Updated the template {entry.name}.")
                return HttpResponseRedirect(f"{reverse('planning:wizard')}?template={entry.key}")
            plan = services.template_generate(
                organization=request.organization,
                actor=actor,
                key=entry.key,
                params={**params, "naming": naming},
            )
        except ApplicationError as exc:
            return self._render(entry, form, _preview_context(error=exc), status=400)
        messages.success(request, f"Created plan {plan.pk} with {plan.operation_count} pools.")
        return HttpResponseRedirect(plan_url(plan))

    def _render(
        self, entry: Any, form: WizardForm, preview: dict, status: int = 200
    ) -> HttpResponse:
        spec = TEMPLATES[entry.template]
        context = {
            "entry": entry,
            "spec": spec,
            "form": form,
            "steps": wizard_steps(form, entry.template),
            "preview": preview,
            "can_generate": self.allowed("plans.change"),
            "can_save": self.allowed("templates.manage"),
            "breadcrumbs": [
                {"label": "Planning", "url": None},
                {"label": "Schema wizard", "url": None},
            ],
        }
        return render(self.request, "planning/wizard.html", context, status=status)


class WizardPreviewView(WizardConsoleMixin, View):
    """The live preview (an htmx partial): counts, tree and ASCII map, or the errors."""

    def post(self, request: HttpRequest) -> HttpResponse:
        entry = self.entry(request.POST.get("template") or "")
        form = self.form(request.POST)
        if not form.is_valid():
            errors = sorted((name, list(errs)) for name, errs in form.errors.items())
            return render(request, "planning/wizard_preview.html", {"preview": {"errors": errors}})
        params = form.params()
        try:
            generated = services.template_preview(
                organization=request.organization, key=entry.key, params=params
            )
        except ApplicationError as exc:
            context = _preview_context(error=exc)
        else:
            context = _preview_context(generated)
        return render(request, "planning/wizard_preview.html", {"preview": context})


class TemplateListView(WizardConsoleMixin, View):
    """The built-in templates and the organization's saved ones, to open in the wizard."""

    def get(self, request: HttpRequest) -> HttpResponse:
        can_save = self.allowed("templates.manage")
        table = TemplateTable(
            request,
            selectors.template_entries(organization=request.organization),
            context={"can_save": can_save},
        )
        if table.export_requested:
            return table.export_response()
        context = {
            "table": table,
            "can_save": can_save,
            "breadcrumbs": [
                {"label": "Planning", "url": None},
                {"label": "Templates", "url": None},
            ],
        }
        return render(request, "planning/template_list.html", context)


class TemplateDeleteView(WizardConsoleMixin, View):
    """Delete a saved template, after a confirmation."""

    permission = "templates.manage"

    def _saved(self, key: str) -> Any:
        entry = self.entry(key)
        if entry.saved is None:
            raise Http404("Built-in templates cannot be deleted.")
        return entry

    def get(self, request: HttpRequest, key: str) -> HttpResponse:
        entry = self._saved(key)
        return render(request, "planning/template_delete.html", {"entry": entry})

    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        entry = self._saved(key)
        services.org_template_delete(org_template=entry.saved, actor=actor_of(request))
        messages.success(request, f"Deleted the template {entry.name}.")
        return HttpResponseRedirect(reverse("planning:template-list"))
