"""Console views of sessions: yours, and an admin's button for a member's."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from apps.tenancy import selectors as tenancy_selectors
from apps.tenancy.choices import Role
from apps.tenancy.mixins import TenantViewMixin
from apps.tenancy.sessions import selectors, services
from apps.tenancy.tables import SessionTable
from cloudpam.exceptions import NotFound


class SessionListView(LoginRequiredMixin, View):
    """Your signed-in sessions: device, address, last seen; sign one or all others out."""

    template_name = "tenancy/session_list.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        sessions = selectors.user_session_list(user=request.user)
        current_id = request.session.get(services.SESSION_ROW_KEY)
        table = SessionTable(request, sessions, context={"current_id": current_id})
        if table.export_requested:
            return table.export_response()
        context = {
            "table": table,
            "current_id": current_id,
            "breadcrumbs": [
                {"label": "Your account", "url": None},
                {"label": "Sessions", "url": None},
            ],
        }
        return render(request, self.template_name, context)


class SessionRevokeView(LoginRequiredMixin, View):
    """Sign out one of your sessions (another user's is a 404)."""

    def post(self, request: HttpRequest, session_id: int) -> HttpResponse:
        try:
            user_session = selectors.user_session_get(user=request.user, pk=session_id)
        except NotFound as exc:
            raise Http404(exc.message) from None
        services.user_session_revoke(user_session=user_session, actor=request.user, request=request)
        messages.success(request, f"Signed out {user_session.device or 'that session'}.")
        if user_session.pk == request.session.get(services.SESSION_ROW_KEY):
            return redirect("login")
        return redirect("tenancy:session-list")


class SessionRevokeOthersView(LoginRequiredMixin, View):
    """Sign out every session of yours but this one."""

    def post(self, request: HttpRequest) -> HttpResponse:
        count = services.user_sessions_revoke_others(
            user=request.user,
            keep_id=request.session.get(services.SESSION_ROW_KEY),
            actor=request.user,
            request=request,
        )
        messages.success(request, f"Signed out {count} other session(s).")
        return redirect("tenancy:session-list")


class MemberSessionsRevokeView(TenantViewMixin, View):
    """An admin signs a member out everywhere (a lost laptop)."""

    permission = "members.manage"

    def post(self, request: HttpRequest, member_id: int) -> HttpResponse:
        try:
            membership = tenancy_selectors.membership_get(
                organization=request.organization, pk=member_id
            )
        except NotFound as exc:
            raise Http404(exc.message) from None
        if membership.role == Role.OWNER:
            self.require("owners.manage")
        count = services.member_sessions_revoke(
            membership=membership, actor=request.user, request=request
        )
        messages.success(request, f"Signed {membership.user.email} out of {count} session(s).")
        return redirect("tenancy:member-list")
