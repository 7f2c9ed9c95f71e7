"""Writes of language model configuration and usage, each audited under its own name.

``llm_provider_create``, ``_update`` and ``_delete`` (events ``create``, ``update``,
``delete``), ``llm_provider_check`` (``connectivity_check``): the API key is written only
here, only encrypted (``apps.cloud.crypto``), and never returned, logged or audited (the
event shows that ``api_key_updated_at`` changed). ``llm_usage_record`` adds a call to the
ledger the monthly quota counts, and to the Prometheus counters.

``llm_complete`` is the one call the assistant needs: quota first, then the fallback over
the organization's providers and the instance default, then the ledger.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.cloud import crypto
from apps.planning.choices import LLMProviderKind
from apps.planning.llm.base import (
    ChatMessage,
    FallbackResult,
    LLMError,
    ProviderSpec,
    Usage,
    complete_with_fallback,
    cost,
    provider_for,
)
from apps.planning.llm_metrics import LLM_CALLS, LLM_COST, LLM_TOKENS
from apps.planning.llm_models import LLMProviderConfig, LLMUsageRecord
from apps.planning.llm_selectors import llm_quota_check, llm_spec_of, llm_specs_for
from apps.tenancy.models import Organization
from cloudpam.context import Actor, operation
from cloudpam.exceptions import Conflict, ValidationError

NAME_MAX_LENGTH: Final = 100
CHECK_MESSAGES: Final = (
    ChatMessage("system", "You are a connectivity test. Answer with the single word OK."),
    ChatMessage("user", "Are you there?"),
)
CHECK_MAX_OUTPUT_TOKENS: Final = 16
EDITABLE: Final = frozenset(
    {
        "name",
        "provider",
        "model",
        "base_url",
        "api_version",
        "api_key",
        "priority",
        "enabled",
        "timeout_seconds",
        "max_output_tokens",
        "input_price",
        "cached_input_price",
        "output_price",
    }
)


def _fail(field_name: str, message: str) -> ValidationError:
    return ValidationError(f"{field_name}: {message}", fields={field_name: [message]})


def _text(value: Any, field_name: str, high: int, *, blank: bool = True) -> str:
    if value is None and blank:
        return ""
    if not isinstance(value, str):
        raise _fail(field_name, "Not a valid string.")
    value = value.strip()
    if not value and not blank:
        raise _fail(field_name, "This field may not be blank.")
    if len(value) > high:
        raise _fail(field_name, f"Ensure this field has no more than {high} characters.")
    return value


def _integer(value: Any, field_name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(field_name, "A valid integer is required.")
    if not low <= value <= high:
        raise _fail(field_name, f"Must be between {low} and {high}.")
    return value


def _price(value: Any, field_name: str, *, nullable: bool = False) -> Decimal | None:
    if value is None or value == "":
        if nullable:
            return None
        raise _fail(field_name, "This field may not be null.")
    if isinstance(value, bool):
        raise _fail(field_name, "A valid number is required.")
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise _fail(field_name, "A valid number is required.") from None
    if not price.is_finite() or not Decimal(0) <= price < Decimal(1_000_000):
        raise _fail(field_name, "A price per million tokens between 0 and 999999.")
    if price != price.quantize(Decimal("0.000001")):
        raise _fail(field_name, "At most 6 decimal places.")
    return price


def _base_url(value: Any) -> str:
    url = _text(value, "base_url", 500)
    if url:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise _fail("base_url", "An http:// or https:// URL.")
        if parts.username or parts.password:
            raise _fail("base_url", "Put the API key in api_key, not in the URL.")
    return url


def _clean(changes: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - EDITABLE
    if unknown:
        raise TypeError(f"Unknown LLM provider fields: {', '.join(sorted(unknown))}")
    cleaners = {
        "name": lambda v: _text(v, "name", NAME_MAX_LENGTH, blank=False),
        "provider": _provider,
        "model": lambda v: _text(v, "model", 200, blank=False),
        "base_url": _base_url,
        "api_version": lambda v: _text(v, "api_version", 32),
        "priority": lambda v: _integer(v, "priority", 0, 10_000),
        "enabled": _boolean,
        "timeout_seconds": lambda v: _integer(v, "timeout_seconds", 1, 600),
        "max_output_tokens": lambda v: _integer(v, "max_output_tokens", 16, 200_000),
        "input_price": lambda v: _price(v, "input_price"),
        "cached_input_price": lambda v: _price(v, "cached_input_price", nullable=True),
        "output_price": lambda v: _price(v, "output_price"),
        "api_key": _api_key,
    }
    return {name: cleaners[name](value) for name, value in changes.items()}


def _provider(value: Any) -> str:
    if value not in LLMProviderKind.values:
        raise _fail("provider", f'"{value}" is not a valid choice.')
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail("enabled", "Must be a valid boolean.")
    return value


def _api_key(value: Any) -> str | None:
    # None keeps the stored key, "" removes it.
    if value is None:
        return None
    if not isinstance(value, str) or len(value.strip()) > 4096:
        raise _fail("api_key", "An API key of at most 4096 characters.")
    return value.strip()


def _check(config: LLMProviderConfig) -> None:
    if config.provider == LLMProviderKind.AZURE_OPENAI:
        if not config.base_url:
            raise _fail("base_url", "Azure OpenAI needs the resource's endpoint URL.")
        if not config.api_version:
            raise _fail("api_version", "Azure OpenAI needs an API version.")
    if config.provider == LLMProviderKind.OPENAI_COMPATIBLE and not config.base_url:
        raise _fail("base_url", "An OpenAI-compatible endpoint needs its base URL.")


def _set_key(config: LLMProviderConfig, key: str) -> None:
    if key:
        config.api_key_encrypted = crypto.encrypt_secrets({"api_key": key})
        config.api_key_hint = key[-4:]
    else:
        config.api_key_encrypted = ""
        config.api_key_hint = ""
    config.api_key_updated_at = timezone.now()


def _name_taken(config: LLMProviderConfig) -> Conflict:
    message = f"The organization already has an LLM provider named {config.name!r}."
    return Conflict(message, fields={"name": [message]})


def _save(config: LLMProviderConfig) -> None:
    taken = (
        LLMProviderConfig.objects.for_organization(config.organization)
        .filter(name=config.name)
        .exclude(pk=config.pk)
        .exists()
    )
    if taken:
        raise _name_taken(config)
    try:
        with transaction.atomic():
            config.save()
    except IntegrityError:
        raise _name_taken(config) from None


@transaction.atomic
def llm_provider_create(
    *, organization: Organization, actor: Actor, **fields: Any
) -> LLMProviderConfig:
    """Create a provider configuration; ``api_key`` (optional) is stored encrypted."""
    cleaned = _clean(fields)
    for required in ("name", "provider", "model"):
        if required not in cleaned:
            raise _fail(required, "This field is required.")
    key = cleaned.pop("api_key", None)
    config = LLMProviderConfig(organization=organization, created_by_id=actor.user_id, **cleaned)
    if key:
        _set_key(config, key)
    _check(config)
    with operation("create", actor=actor):
        _save(config)
    return config


@transaction.atomic
def llm_provider_update(
    *, config: LLMProviderConfig, actor: Actor, **changes: Any
) -> LLMProviderConfig:
    """Change a configuration; ``api_key`` replaces the key ("" removes it, None keeps it)."""
    cleaned = _clean(changes)
    config = LLMProviderConfig.objects.select_for_update().get(pk=config.pk)
    key = cleaned.pop("api_key", None)
    for name, value in cleaned.items():
        setattr(config, name, value)
    if key is not None:
        _set_key(config, key)
    _check(config)
    with operation("update", actor=actor):
        _save(config)
    return config


@transaction.atomic
def llm_provider_delete(*, config: LLMProviderConfig, actor: Actor) -> None:
    """Delete a configuration; its usage records stay, without it."""
    with operation("delete", actor=actor):
        config.delete()


@dataclass(frozen=True)
class CheckResult:
    """The answer of ``llm_provider_check``: ``{ok, latency_ms, checked_at, error?}``."""

    ok: bool
    latency_ms: int
    checked_at: datetime
    error: dict[str, str] | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ok": self.ok,
            "latency_ms": self.latency_ms,
            "checked_at": self.checked_at,
        }
        if self.error:
            data["error"] = self.error
        return data


def llm_provider_check(*, config: LLMProviderConfig, actor: Actor) -> CheckResult:
    """Ask the configured model for a tiny completion and record the outcome.

    The call counts against the monthly token quota (checked first) and is recorded in
    the ledger as purpose ``check``. A failure is ``ok: false`` with the error code.
    """
    llm_quota_check(organization=config.organization)
    started = time.monotonic()
    error = None
    usage = Usage()
    try:
        spec = replace(llm_spec_of(config), max_output_tokens=CHECK_MAX_OUTPUT_TOKENS)
        _, usage = provider_for(spec).complete(list(CHECK_MESSAGES))
    except LLMError as exc:
        error = {"code": exc.code, "message": exc.message}
    except crypto.CredentialsUnreadable as exc:
        error = {"code": "auth", "message": exc.message}
    latency_ms = int((time.monotonic() - started) * 1000)
    checked_at = timezone.now()
    if error is None:
        llm_usage_record(
            organization=config.organization,
            actor=actor,
            spec=spec,
            usage=usage,
            latency_ms=latency_ms,
            purpose="check",
        )
    else:
        LLM_CALLS.labels(config.provider, config.model, error["code"]).inc()
    with transaction.atomic():
        locked = LLMProviderConfig.objects.select_for_update().get(pk=config.pk)
        locked.last_checked_at = checked_at
        locked.last_check = {"ok": error is None, "latency_ms": latency_ms, "error": error}
        with operation("connectivity_check", actor=actor):
            locked.save(update_fields=["last_checked_at", "last_check", "updated_at"])
    config.refresh_from_db()
    return CheckResult(ok=error is None, latency_ms=latency_ms, checked_at=checked_at, error=error)


def llm_usage_record(
    *,
    organization: Organization,
    actor: Actor,
    spec: ProviderSpec,
    usage: Usage,
    latency_ms: int = 0,
    purpose: str = "chat",
) -> LLMUsageRecord:
    """Add one answered call to the ledger and the Prometheus counters; return the row."""
    amount = cost(usage, spec)
    config_id = int(spec.key) if spec.key.isdigit() else None
    record = LLMUsageRecord.objects.create(
        organization=organization,
        config_id=config_id,
        provider=spec.provider,
        model=spec.model,
        purpose=purpose,
        input_tokens=usage.input_tokens,
        cached_input_tokens=usage.cached_input_tokens,
        output_tokens=usage.output_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        cost=amount,
        latency_ms=latency_ms,
        created_by_id=actor.user_id,
    )
    labels = (spec.provider, spec.model)
    LLM_CALLS.labels(*labels, "ok").inc()
    for kind, count in (
        ("input", usage.input_tokens),
        ("cached_input", usage.cached_input_tokens),
        ("output", usage.output_tokens),
        ("reasoning", usage.reasoning_tokens),
    ):
        LLM_TOKENS.labels(*labels, kind).inc(count)
    LLM_COST.labels(*labels).inc(float(amount))
    return record


def llm_complete(
    *,
    organization: Organization,
    actor: Actor,
    messages: Sequence[ChatMessage],
    json_schema: dict[str, Any] | None = None,
    purpose: str = "chat",
) -> FallbackResult:
    """Check the quota, ask the providers in order, record the usage of the one that answered.

    Raises QuotaExceeded (429 ``quota_exceeded``) before any call when the month's tokens
    are used up; otherwise never raises: ``result.error`` says why no provider answered.
    """
    llm_quota_check(organization=organization)
    result = complete_with_fallback(
        llm_specs_for(organization=organization), messages, json_schema=json_schema
    )
    for attempt in result.attempts:
        if attempt.error_code:
            LLM_CALLS.labels(attempt.provider, attempt.model, attempt.error_code).inc()
    if result.spec is not None:
        llm_usage_record(
            organization=organization,
            actor=actor,
            spec=result.spec,
            usage=result.usage,
            latency_ms=result.latency_ms,
            purpose=purpose,
        )
    return result
