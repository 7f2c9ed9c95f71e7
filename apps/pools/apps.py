from django.apps import AppConfig


class PoolsConfig(AppConfig):
    """The address plan: the pool tree, its invariants, free space and allocation."""

    name = "apps.pools"
    label = "pools"
    verbose_name = "Pools"

    def ready(self) -> None:
        from apps.pools.selectors import pool_count
        from apps.pools.services import overlapping_roots_guard
        from apps.tenancy.org_settings import register_setting_guard
        from apps.tenancy.quotas import register_quota_usage

        register_quota_usage(
            "max_pools", lambda organization: pool_count(organization=organization)
        )
        register_setting_guard("allow_overlapping_roots", overlapping_roots_guard)
