from django.apps import AppConfig


class PlanningConfig(AppConfig):
    """Planning."""

    name = "apps.planning"
    label = "planning"
    verbose_name = "Planning"

    def ready(self) -> None:
        from apps.planning.llm_selectors import QUOTA_NAME, llm_tokens_used_this_month
        from apps.tenancy.quotas import register_quota_usage

        register_quota_usage(QUOTA_NAME, llm_tokens_used_this_month)
