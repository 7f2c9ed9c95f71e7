"""Console pages of the audit trail: the searchable event list and one event."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, QueryDict
from django.urls import reverse
from django.views.generic import TemplateView

from apps.audit.choices import ExportFormat
from apps.audit.filters import AuditEventFilterSet
from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_event_get, audit_event_list
from apps.audit.tables import AuditEventTable
from apps.tenancy.permissions import check_permission


class AuditReaderMixin(LoginRequiredMixin):
    """Let in auditors, admins and owners of the active organization only."""

    request: HttpRequest

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if request.user.is_authenticated:
            reason = check_permission(request, "audit.view")
            if reason:
                raise PermissionDenied(reason)
        return super().dispatch(request, *args, **kwargs)


class AuditEventListView(AuditReaderMixin, TemplateView):
    """Search the organization's events, with a before/after diff per event and exports."""

    template_name = "audit/auditevent_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        data = super().get_context_data(**kwargs)
        organization = self.request.organization
        # The search form sends every field; an empty one is no filter.
        filters = QueryDict(mutable=True)
        for name, value in self.request.GET.items():
            if value.strip() and name not in {"page", "format", "sort", "per_page", "export"}:
                filters[name] = value
        filterset = AuditEventFilterSet(
            filters, queryset=audit_event_list(organization=organization)
        )
        events = filterset.qs if filterset.is_valid() else AuditEvent.objects.none()
        export_url = reverse("api:audit-event-export")
        exports = [
            {"label": label, "value": value, "url": f"{export_url}?{_with_format(filters, value)}"}
            for value, label in ExportFormat.choices
        ]
        can_export = check_permission(self.request, "audit.export") is None
        csv_url = next((e["url"] for e in exports if e["value"] == "csv"), "")
        data.update(
            filterset=filterset,
            table=AuditEventTable(self.request, events, export_url=csv_url if can_export else ""),
            exports=exports,
            can_export=can_export,
            breadcrumbs=[{"label": "Audit", "url": None}],
        )
        return data


def _with_format(filters: Any, file_format: str) -> str:
    query = filters.copy()
    query["format"] = file_format
    return query.urlencode()


class AuditEventDetailView(AuditReaderMixin, TemplateView):
    """One event in full: who, when, from where, what changed, and its place in the chain."""

    template_name = "audit/auditevent_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        data = super().get_context_data(**kwargs)
        event = audit_event_get(organization=self.request.organization, event_id=kwargs["pk"])
        if event is None:
            raise Http404("No such audit event in this organization.")
        data.update(
            event=event,
            breadcrumbs=[
                {"label": "Audit", "url": reverse("audit:event-list")},
                {"label": f"Event {event.pk}", "url": None},
            ],
        )
        return data
