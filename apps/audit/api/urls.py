"""Audit API routes, mounted under /api/v1/ in the "api" namespace."""

from django.urls import path

from apps.audit.api.views import AuditEventViewSet

urlpatterns = [
    path(
        "audit/events/",
        AuditEventViewSet.as_view({"get": "list"}),
        name="audit-event-list",
    ),
    path(
        "audit/events/export/",
        AuditEventViewSet.as_view({"get": "export"}, pagination_class=None),
        name="audit-event-export",
    ),
    path(
        "audit/events/<int:pk>/",
        AuditEventViewSet.as_view({"get": "retrieve"}),
        name="audit-event-detail",
    ),
]
