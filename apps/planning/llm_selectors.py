"""Reads of language model configuration and usage: providers, fallback order, totals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db.models import QuerySet, Sum
from django.utils import timezone

from apps.cloud import crypto
from apps.planning.llm.base import PROVIDERS, ProviderSpec
from apps.planning.llm_models import LLMProviderConfig, LLMUsageRecord
from apps.tenancy.models import Organization
from apps.tenancy.quotas import quota_check
from cloudpam.exceptions import NotFound

QUOTA_NAME = "max_llm_tokens_per_month"
DEFAULT_KEY = "default"


def llm_provider_list(*, organization: Organization) -> QuerySet[LLMProviderConfig]:
    """Return the organization's provider configurations in fallback order."""
    return LLMProviderConfig.objects.for_organization(organization).order_by("priority", "id")


def llm_provider_get(*, organization: Organization, pk: int) -> LLMProviderConfig:
    """Return one of the organization's configurations (NotFound for another's)."""
    try:
        return llm_provider_list(organization=organization).get(pk=pk)
    except (LLMProviderConfig.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such LLM provider.") from None


def _decimal(value: str, default: Decimal | None) -> Decimal | None:
    try:
        return Decimal(value) if str(value).strip() else default
    except InvalidOperation:
        return default


def llm_spec_of(config: LLMProviderConfig) -> ProviderSpec:
    """Return the call specification of ``config``, its API key decrypted."""
    secrets = crypto.decrypt_secrets(config.api_key_encrypted)
    return ProviderSpec(
        provider=config.provider,
        model=config.model,
        base_url=config.base_url,
        api_key=secrets.get("api_key", ""),
        timeout_seconds=float(config.timeout_seconds),
        api_version=config.api_version,
        max_output_tokens=config.max_output_tokens,
        input_price=config.input_price,
        cached_input_price=config.cached_input_price,
        output_price=config.output_price,
        key=str(config.pk),
    )


def llm_default_spec() -> ProviderSpec | None:
    """Return the instance default from the ``LLM_*`` settings, or None when unset."""
    provider, model = settings.LLM_PROVIDER.strip(), settings.LLM_MODEL.strip()
    if provider not in PROVIDERS or not model:
        return None
    return ProviderSpec(
        provider=provider,
        model=model,
        base_url=settings.LLM_BASE_URL,
        api_key=settings.LLM_API_KEY,
        timeout_seconds=float(settings.LLM_TIMEOUT_SECONDS),
        api_version=settings.LLM_API_VERSION,
        input_price=_decimal(settings.LLM_INPUT_PRICE, Decimal(0)) or Decimal(0),
        cached_input_price=_decimal(settings.LLM_CACHED_INPUT_PRICE, None),
        output_price=_decimal(settings.LLM_OUTPUT_PRICE, Decimal(0)) or Decimal(0),
        key=DEFAULT_KEY,
    )


def llm_specs_for(*, organization: Organization) -> list[ProviderSpec]:
    """Return the specs to try in order: enabled configurations by priority, then the default.

    A configuration whose key cannot be decrypted is left out rather than failing the
    whole assistant (its connectivity test names the cause).
    """
    specs = []
    for config in llm_provider_list(organization=organization).filter(enabled=True):
        try:
            specs.append(llm_spec_of(config))
        except crypto.CredentialsUnreadable:
            continue
    default = llm_default_spec()
    if default is not None:
        specs.append(default)
    return specs


def month_start(moment: datetime | None = None) -> datetime:
    """Return the first instant (UTC) of the month of ``moment`` (now by default)."""
    moment = (moment or timezone.now()).astimezone(UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class UsageTotals:
    """Summed usage of a period: calls, tokens as normalised, cost."""

    calls: int
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cost: Decimal

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def llm_usage_totals(*, organization: Organization, since: datetime | None = None) -> UsageTotals:
    """Return the organization's usage since ``since`` (the start of this month by default)."""
    rows = LLMUsageRecord.objects.for_organization(organization).filter(
        created_at__gte=since or month_start()
    )
    sums = rows.aggregate(
        input_tokens=Sum("input_tokens"),
        cached_input_tokens=Sum("cached_input_tokens"),
        output_tokens=Sum("output_tokens"),
        reasoning_tokens=Sum("reasoning_tokens"),
        cost=Sum("cost"),
    )
    return UsageTotals(
        calls=rows.count(),
        input_tokens=sums["input_tokens"] or 0,
        cached_input_tokens=sums["cached_input_tokens"] or 0,
        output_tokens=sums["output_tokens"] or 0,
        reasoning_tokens=sums["reasoning_tokens"] or 0,
        cost=sums["cost"] or Decimal(0),
    )


def llm_tokens_used_this_month(organization: Organization) -> int:
    """Return the tokens (input + output) the organization used this calendar month (UTC)."""
    sums = (
        LLMUsageRecord.objects.for_organization(organization)
        .filter(created_at__gte=month_start())
        .aggregate(input_tokens=Sum("input_tokens"), output_tokens=Sum("output_tokens"))
    )
    return (sums["input_tokens"] or 0) + (sums["output_tokens"] or 0)


def llm_quota_check(*, organization: Organization, amount: int = 1) -> None:
    """Raise QuotaExceeded (429 ``quota_exceeded``) unless ``amount`` more tokens fit.

    Call it before any provider call: the month's tokens so far are the ledger's.
    """
    quota_check(
        organization=organization,
        name=QUOTA_NAME,
        amount=amount,
        used=llm_tokens_used_this_month(organization),
    )
