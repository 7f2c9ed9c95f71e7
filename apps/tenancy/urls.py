from django.urls import path

from apps.tenancy import views

app_name = "tenancy"

urlpatterns = [
    path(
        "organizations/switch/", views.OrganizationSwitchView.as_view(), name="organization-switch"
    ),
]
