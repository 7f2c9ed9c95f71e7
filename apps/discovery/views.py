"""Console pages of discovery: the agents, their approval, provisioning tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views import View

from apps.discovery import selectors, services
from apps.discovery.forms import ProvisioningTokenForm
from apps.tenancy.mixins import TenantViewMixin
from cloudpam.context import actor_of
from cloudpam.exceptions import ApplicationError, NotFound

PAGE_SIZE = 50


class AgentListView(TenantViewMixin, View):
    """Agents with status, last heartbeat and staleness; admins decide and make tokens."""

    template_name = "discovery/agent_list.html"
    permission = "agents.view"
    method_permissions = {"post": "agents.manage"}

    def _context(self, form: Any = None, created: Any = None) -> dict[str, Any]:
        request = self.request
        organization = request.organization
        manage = self.allowed("agents.manage")
        agents = selectors.agent_list(organization=organization)
        now = timezone.now()
        page = Paginator(agents, PAGE_SIZE).get_page(request.GET.get("page"))
        return {
            "page": page,
            "rows": [{"agent": agent, "stale": agent.is_stale(now)} for agent in page],
            "can_manage": manage,
            "tokens": (
                selectors.agent_provisioning_token_list(organization=organization) if manage else []
            ),
            "form": form or ProvisioningTokenForm(),
            "created": created,
            "breadcrumbs": [{"label": "Agents", "url": None}],
        }

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, self.template_name, self._context())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ProvisioningTokenForm(request.POST)
        if form.is_valid():
            days = form.cleaned_data.get("expires_in_days")
            try:
                token, value = services.agent_provisioning_token_create(
                    organization=request.organization,
                    name=form.cleaned_data["name"],
                    expires_at=timezone.now() + timedelta(days=days) if days else None,
                    actor=actor_of(request),
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                # Rendered, not redirected: the value must not travel through the
                # session or a message, which would store it.
                response = render(
                    request,
                    self.template_name,
                    self._context(created={"token": token, "value": value}),
                    status=201,
                )
                response["Cache-Control"] = "no-store"
                return response
        return render(request, self.template_name, self._context(form=form), status=400)


DECISIONS = {
    "approve": (services.agent_approve, "Approved"),
    "reject": (services.agent_reject, "Rejected"),
    "revoke": (services.agent_revoke, "Revoked"),
}


class AgentDecisionView(TenantViewMixin, View):
    """Approve, reject or revoke an agent."""

    permission = "agents.manage"

    def post(self, request: HttpRequest, agent_id: int, decision: str) -> HttpResponse:
        if decision not in DECISIONS:
            raise Http404("No such decision.")
        try:
            agent = selectors.agent_get(organization=request.organization, pk=agent_id)
        except NotFound as exc:
            raise Http404(exc.message) from None
        service, done = DECISIONS[decision]
        try:
            service(agent=agent, actor=actor_of(request))
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{done} the agent {agent.name}.")
        return redirect("discovery:agent-list")


class ProvisioningTokenRevokeView(TenantViewMixin, View):
    """Revoke a provisioning token: agents it registered keep working."""

    permission = "agents.manage"

    def post(self, request: HttpRequest, agent_token_id: int) -> HttpResponse:
        try:
            token = selectors.agent_provisioning_token_get(
                organization=request.organization, pk=agent_token_id
            )
        except NotFound as exc:
            raise Http404(exc.message) from None
        services.agent_provisioning_token_revoke(token=token, actor=actor_of(request))
        messages.success(request, f"Revoked the provisioning token {token.name}.")
        return redirect("discovery:agent-list")
