from django.apps import AppConfig


class PoolsConfig(AppConfig):
    """Pools."""

    name = "apps.pools"
    label = "pools"
    verbose_name = "Pools"
