"""Console views of tenancy."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from apps.tenancy.context import SESSION_KEY, memberships_of


class OrganizationSwitchView(LoginRequiredMixin, View):
    """Make one of the user's organizations the active one for this session."""

    def post(self, request: HttpRequest) -> HttpResponse:
        slug = request.POST.get("organization", "")
        membership = next(
            (m for m in memberships_of(request.user) if m.organization.slug == slug), None
        )
        if membership is None:
            messages.error(request, "You are not a member of that organization.")
        else:
            request.session[SESSION_KEY] = membership.organization_id
            messages.success(request, f"Now working in {membership.organization.name}.")
        target = request.POST.get("next") or request.headers.get("Referer") or ""
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = resolve_url("dashboard")
        return HttpResponseRedirect(target)
