"""Console routes of the schema wizard, included by ``apps/planning/urls.py``."""

from django.urls import path

from apps.planning import wizard_views as views

urlpatterns = [
    path("plans/wizard/", views.WizardView.as_view(), name="wizard"),
    path("plans/wizard/preview/", views.WizardPreviewView.as_view(), name="wizard-preview"),
    path("plans/templates/", views.TemplateListView.as_view(), name="template-list"),
    path(
        "plans/templates/<str:key>/delete/",
        views.TemplateDeleteView.as_view(),
        name="template-delete",
    ),
]
