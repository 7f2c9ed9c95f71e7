from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    """Analysis: gaps, utilization, fragmentation, compliance, runway and recommendations."""

    name = "apps.analysis"
    label = "analysis"
    verbose_name = "Analysis"

    def ready(self) -> None:
        """Connect the cache-invalidating receivers; give tenancy the compliance schema."""
        from apps.analysis import receivers  # noqa: F401 - imported for its receivers
        from apps.analysis.engine import validate_compliance_settings
        from apps.tenancy.org_settings import register_setting_validator

        register_setting_validator("compliance", validate_compliance_settings)
