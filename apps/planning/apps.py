from django.apps import AppConfig


class PlanningConfig(AppConfig):
    """Planning."""

    name = "apps.planning"
    label = "planning"
    verbose_name = "Planning"
