"""Console settings page of the AI assistant's language model providers (admins).

The list in fallback order with the month's usage, add and edit forms (the API key is
write-only), delete, and a test button whose result htmx puts inline.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views import View

from apps.planning import llm_selectors as selectors
from apps.planning import llm_services as services
from apps.planning.llm_forms import LLMProviderForm
from apps.planning.llm_models import LLMProviderConfig
from apps.planning.tables import LLMProviderTable
from apps.tenancy.mixins import TenantViewMixin
from apps.tenancy.quotas import quota_limit
from cloudpam.context import actor_of
from cloudpam.exceptions import ApplicationError, NotFound


class LLMProviderConsoleMixin(TenantViewMixin):
    """Require ``ai.manage``: the settings page is an admin's."""

    permission = "ai.manage"

    def get_config(self, pk: int) -> LLMProviderConfig:
        try:
            return selectors.llm_provider_get(organization=self.request.organization, pk=pk)
        except NotFound as exc:
            raise Http404(exc.message) from None

    @staticmethod
    def crumbs(*tail: str) -> list[dict[str, Any]]:
        crumbs: list[dict[str, Any]] = [
            {"label": "AI providers", "url": reverse("planning:llm-provider-list")}
        ]
        crumbs.extend({"label": label, "url": None} for label in tail)
        crumbs[-1]["url"] = None
        return crumbs


class LLMProviderListView(LLMProviderConsoleMixin, View):
    """The providers in fallback order, the instance default, the month's usage."""

    def get(self, request: HttpRequest) -> HttpResponse:
        organization = request.organization
        table = LLMProviderTable(request, selectors.llm_provider_list(organization=organization))
        if table.export_requested:
            return table.export_response()
        context = {
            "table": table,
            "default_spec": selectors.llm_default_spec(),
            "usage": selectors.llm_usage_totals(organization=organization),
            "quota": quota_limit(organization=organization, name=selectors.QUOTA_NAME),
            "month": selectors.month_start().strftime("%Y-%m"),
            "breadcrumbs": self.crumbs(),
        }
        return render(request, "planning/llmprovider_list.html", context)


class LLMProviderFormView(LLMProviderConsoleMixin, View):
    """Add a provider (no pk) or change one."""

    def get(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        config = self.get_config(pk) if pk else None
        form = LLMProviderForm(initial=LLMProviderForm.initial_of(config) if config else None)
        return self._render(form, config)

    def post(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        config = self.get_config(pk) if pk else None
        form = LLMProviderForm(request.POST)
        if form.is_valid():
            actor = actor_of(request)
            try:
                if config is None:
                    config = services.llm_provider_create(
                        organization=request.organization, actor=actor, **form.service_fields()
                    )
                else:
                    config = services.llm_provider_update(
                        config=config, actor=actor, **form.service_fields()
                    )
            except ApplicationError as exc:
                form.apply_error(exc)
            else:
                messages.success(request, f"Saved {config.name}.")
                return HttpResponseRedirect(reverse("planning:llm-provider-list"))
        return self._render(form, config, status=400)

    def _render(
        self, form: LLMProviderForm, config: LLMProviderConfig | None, status: int = 200
    ) -> HttpResponse:
        title = f"Edit {config.name}" if config else "Add an AI provider"
        context = {
            "form": form,
            "config": config,
            "title": title,
            "breadcrumbs": self.crumbs(title),
        }
        return render(
            request=self.request,
            template_name="planning/llmprovider_form.html",
            context=context,
            status=status,
        )


class LLMProviderDeleteView(LLMProviderConsoleMixin, View):
    """Delete a provider (the list's button asks for confirmation first)."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        config = self.get_config(pk)
        services.llm_provider_delete(config=config, actor=actor_of(request))
        messages.success(request, f"Deleted {config.name}.")
        return HttpResponseRedirect(reverse("planning:llm-provider-list"))


class LLMProviderTestView(LLMProviderConsoleMixin, View):
    """Run the connectivity test; htmx gets the result partial, a plain POST the page."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        config = self.get_config(pk)
        try:
            result = services.llm_provider_check(config=config, actor=actor_of(request))
        except ApplicationError as exc:
            context: dict[str, Any] = {"config": config, "failure": exc.message}
        else:
            context = {"config": config, "result": result}
        if request.headers.get("HX-Request"):
            return render(request, "planning/llmprovider_test_result.html", context)
        if "failure" in context:
            messages.error(request, context["failure"])
        elif result.ok:
            messages.success(request, f"{config.name} answered in {result.latency_ms} ms.")
        else:
            messages.error(request, f"{result.error['code']}: {result.error['message']}")
        return HttpResponseRedirect(reverse("planning:llm-provider-list"))
