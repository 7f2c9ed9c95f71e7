from django.apps import AppConfig


class PlanningConfig(AppConfig):
    """Planning."""

    name = "apps.planning"
    label = "planning"
    verbose_name = "Planning"

    def ready(self) -> None:
        from apps.planning.llm_selectors import (
            QUOTA_NAME,
            llm_tokens_used_this_month,
            llm_usage_totals,
        )
        from apps.tenancy.quotas import register_quota_detail, register_quota_usage

        register_quota_usage(QUOTA_NAME, llm_tokens_used_this_month)

        def month_detail(organization: object) -> str:
            totals = llm_usage_totals(organization=organization)  # type: ignore[arg-type]
            return (
                f"{totals.calls:,} call{'s' if totals.calls != 1 else ''} this month, "
                f"cost {totals.cost:,.2f}"
            )

        register_quota_detail(QUOTA_NAME, month_detail)
