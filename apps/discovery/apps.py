from django.apps import AppConfig


class DiscoveryConfig(AppConfig):
    """Discovery."""

    name = "apps.discovery"
    label = "discovery"
    verbose_name = "Discovery"
