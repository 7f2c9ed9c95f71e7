from django.apps import AppConfig


class DiscoveryConfig(AppConfig):
    """Discovery."""

    name = "apps.discovery"
    label = "discovery"
    verbose_name = "Discovery"

    def ready(self) -> None:
        # Registers the OpenAPI descriptions of the agents' authentication classes.
        from apps.discovery import schema  # noqa: F401
