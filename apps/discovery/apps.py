from django.apps import AppConfig


class DiscoveryConfig(AppConfig):
    """Discovery."""

    name = "apps.discovery"
    label = "discovery"
    verbose_name = "Discovery"

    def ready(self) -> None:
        # Registers the OpenAPI descriptions of the agents' authentication classes.
        from apps.discovery import schema  # noqa: F401
        from apps.tenancy.quotas import register_quota_usage

        def runs_today(organization: object) -> int:
            from apps.discovery.sync import sync_runs_today

            return sync_runs_today(organization=organization)  # type: ignore[arg-type]

        # Counted here for the usage page; the sync service checks the quota itself.
        register_quota_usage("max_sync_runs_per_day", runs_today)
