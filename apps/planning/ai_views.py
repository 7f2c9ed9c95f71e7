"""Console pages of the AI planning assistant: sessions, the chat, the analytics panel.

The chat page streams the answer word by word: ``static/js/ai_chat.js`` posts to the
session API asking for ``text/event-stream`` and writes the ``delta`` events as they come,
then fetches the finished answer as rendered here (its plan's diff, risk and link, its
tokens and cost). Without JavaScript the form posts to this page, which answers whole.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views import View

from apps.planning import ai_selectors as selectors
from apps.planning import ai_services as services
from apps.planning.ai_models import AIMessage, AISession
from apps.planning.llm_selectors import QUOTA_NAME, llm_usage_totals, month_start
from apps.tenancy.mixins import TenantViewMixin
from apps.tenancy.quotas import quota_limit
from cloudpam.context import actor_of
from cloudpam.exceptions import ApplicationError, NotFound

PER_PAGE = 50
DIFF_ROWS_SHOWN = 20


def _crumbs(*tail: tuple[str, str | None]) -> list[dict[str, str | None]]:
    crumbs: list[dict[str, str | None]] = [
        {"label": "AI assistant", "url": reverse("planning:ai-session-list")}
    ]
    crumbs.extend({"label": label, "url": url} for label, url in tail)
    crumbs[-1]["url"] = None
    return crumbs


def message_context(message: AIMessage) -> dict[str, Any]:
    """Return what the message template shows: the plan's first diff rows and risk."""
    plan = message.plan
    preview = (plan.preview or {}) if plan is not None else {}
    diff = preview.get("diff", [])
    return {
        "message": message,
        "plan": plan,
        "diff": diff[:DIFF_ROWS_SHOWN],
        "diff_more": max(0, len(diff) - DIFF_ROWS_SHOWN),
        "risk": preview.get("risk", {}),
        "plan_errors": plan.errors[:5] if plan is not None else [],
    }


class AIConsoleMixin(TenantViewMixin):
    """Every member reads the conversations; asking and deleting need ``ai.use``."""

    permission = "ai.view"
    method_permissions = {"post": "ai.use"}

    def get_session(self, pk: int) -> AISession:
        try:
            return selectors.ai_session_get(organization=self.request.organization, pk=pk)
        except NotFound as exc:
            raise Http404(exc.message) from None


class AISessionListView(AIConsoleMixin, View):
    """The organization's conversations, and a button to start one."""

    def get(self, request: HttpRequest) -> HttpResponse:
        sessions = selectors.ai_session_list(organization=request.organization)
        page = Paginator(sessions, PER_PAGE).get_page(request.GET.get("page"))
        context = {
            "page": page,
            "can_chat": self.allowed("ai.use"),
            "usage": llm_usage_totals(organization=request.organization),
            "quota": quota_limit(organization=request.organization, name=QUOTA_NAME),
            "month": month_start().strftime("%Y-%m"),
            "breadcrumbs": [{"label": "AI assistant", "url": None}],
        }
        return render(request, "planning/aisession_list.html", context)

    def post(self, request: HttpRequest) -> HttpResponse:
        session = services.ai_session_create(
            organization=request.organization,
            actor=actor_of(request),
            title=request.POST.get("title", ""),
        )
        return HttpResponseRedirect(reverse("planning:ai-session-chat", args=[session.pk]))


class AISessionChatView(AIConsoleMixin, View):
    """One conversation: the messages with their plans, and the box to ask the next."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        session = self.get_session(pk)
        rows = [message_context(m) for m in selectors.ai_message_list(session=session)]
        context = {
            "session": session,
            "rows": rows,
            "can_chat": self.allowed("ai.use"),
            "breadcrumbs": _crumbs((session.title or f"Session {session.pk}", None)),
        }
        return render(request, "planning/aisession_chat.html", context)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        session = self.get_session(pk)
        try:
            services.ai_message_post(
                session=session, actor=actor_of(request), text=request.POST.get("text", "")
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return HttpResponseRedirect(reverse("planning:ai-session-chat", args=[pk]))


class AIMessageView(AIConsoleMixin, View):
    """One rendered message, fetched by the chat page once a streamed answer is done."""

    def get(self, request: HttpRequest, pk: int, message_pk: int) -> HttpResponse:
        session = self.get_session(pk)
        message = selectors.ai_message_list(session=session).filter(pk=message_pk).first()
        if message is None:
            raise Http404("No such message.")
        context = message_context(message) | {"session": session}
        return render(request, "planning/aimessage.html", context)


class AISessionDeleteView(AIConsoleMixin, View):
    """Delete a conversation (the plans it proposed stay)."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        session = self.get_session(pk)
        services.ai_session_delete(session=session, actor=actor_of(request))
        messages.success(request, f"Deleted {session.title or 'the session'}.")
        return HttpResponseRedirect(reverse("planning:ai-session-list"))


class AIAnalyticsView(AIConsoleMixin, View):
    """Whether the assistant earns its cost: proposals, outcomes, tokens and cost."""

    def get(self, request: HttpRequest) -> HttpResponse:
        month = request.GET.get("month") or None
        try:
            figures = selectors.ai_analytics(organization=request.organization, month=month)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            month = None
            figures = selectors.ai_analytics(organization=request.organization)
        context = {
            "figures": figures,
            "month": month or "",
            "breadcrumbs": _crumbs(("Analytics", None)),
        }
        return render(request, "planning/ai_analytics.html", context)
