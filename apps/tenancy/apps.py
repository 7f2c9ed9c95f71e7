from django.apps import AppConfig


class TenancyConfig(AppConfig):
    """Users, organizations, memberships, roles and API tokens."""

    name = "apps.tenancy"
    label = "tenancy"
    verbose_name = "Tenancy and access"
