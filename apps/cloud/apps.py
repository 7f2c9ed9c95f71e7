from django.apps import AppConfig


class CloudConfig(AppConfig):
    """Cloud accounts: their credentials, connectivity tests and AWS Organizations members."""

    name = "apps.cloud"
    label = "cloud"
    verbose_name = "Cloud accounts"

    def ready(self) -> None:
        from apps.cloud.selectors import account_count
        from apps.tenancy.quotas import register_quota_usage

        register_quota_usage(
            "max_cloud_accounts", lambda organization: account_count(organization=organization)
        )
