from django.urls import path

from apps.audit import views

app_name = "audit"

urlpatterns = [
    path("audit/", views.AuditEventListView.as_view(), name="event-list"),
    path("audit/<int:pk>/", views.AuditEventDetailView.as_view(), name="event-detail"),
]
