from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    """Analysis: gaps, utilization, fragmentation, compliance, runway and recommendations."""

    name = "apps.analysis"
    label = "analysis"
    verbose_name = "Analysis"

    def ready(self) -> None:
        """Connect the cache-invalidating receivers."""
        from apps.analysis import receivers  # noqa: F401 - imported for its receivers
