from django.apps import AppConfig


class AuditConfig(AppConfig):
    """Audit."""

    name = "apps.audit"
    label = "audit"
    verbose_name = "Audit"
