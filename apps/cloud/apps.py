from django.apps import AppConfig


class CloudConfig(AppConfig):
    """Cloud accounts."""

    name = "apps.cloud"
    label = "cloud"
    verbose_name = "Cloud accounts"
