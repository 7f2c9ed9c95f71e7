from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    """Analysis."""

    name = "apps.analysis"
    label = "analysis"
    verbose_name = "Analysis"
