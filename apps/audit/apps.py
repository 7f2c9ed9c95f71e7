from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The audit trail: every change and access event, hash-chained, searchable, exportable."""

    name = "apps.audit"
    label = "audit"
    verbose_name = "Audit"

    def ready(self) -> None:
        from apps.audit import receivers
        from apps.audit.registration import register_models

        register_models()
        receivers.connect()
