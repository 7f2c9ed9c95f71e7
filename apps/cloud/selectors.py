"""Reads of cloud accounts, and the provider configuration an account stands for."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from django.conf import settings

from apps.cloud import crypto
from apps.cloud.crypto import ConfigurationError
from apps.cloud.models import CloudAccount, CloudAccountQuerySet
from apps.cloud.providers import ProviderConfig
from apps.tenancy.models import Organization
from cloudpam.exceptions import NotFound

ENDPOINT_SETTINGS = {
    "aws": "CLOUDPAM_AWS_ENDPOINT_URL",
    "gcp": "CLOUDPAM_GCP_ENDPOINT_URL",
    "azure": "CLOUDPAM_AZURE_ENDPOINT_URL",
}


def provider_module(provider: str) -> ModuleType:
    """Return ``apps.cloud.providers.<provider>``, imported on first use.

    Imported lazily so that an SDK is loaded only by the processes that call its cloud.
    """
    return _import(f"apps.cloud.providers.{provider}", provider)


def collector_module(provider: str) -> ModuleType:
    """Return ``apps.discovery.collectors.<provider>``, imported on first use."""
    return _import(f"apps.discovery.collectors.{provider}", provider)


def _import(name: str, provider: str) -> ModuleType:
    if provider not in ENDPOINT_SETTINGS:
        raise ConfigurationError(f"Unknown provider '{provider}'.")
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        raise ConfigurationError(
            f"This server has no support for {provider} installed ({name} is missing)."
        ) from None


def account_list(*, organization: Organization) -> CloudAccountQuerySet:
    """Return the organization's live accounts, with their parents, in name order."""
    return (
        CloudAccount.objects.for_organization(organization)
        .live()
        .select_related("parent")
        .order_by("provider", "name", "id")
    )


def account_get(*, organization: Organization, pk: Any) -> CloudAccount:
    """Return the organization's live account ``pk`` or raise NotFound."""
    try:
        return account_list(organization=organization).get(pk=int(pk))
    except (CloudAccount.DoesNotExist, TypeError, ValueError):
        raise NotFound("No such cloud account.") from None


def endpoint_url(provider: str) -> str:
    """Return the operator's emulator endpoint for ``provider`` (empty: the real cloud)."""
    return str(getattr(settings, ENDPOINT_SETTINGS[provider], "") or "")


def _options(account: CloudAccount) -> dict[str, Any]:
    options: dict[str, Any] = {"requests_per_second": account.requests_per_second}
    public = {
        "role_arn": account.role_arn,
        "external_id": account.role_external_id,
        "member_role_name": account.member_role_name,
        "access_key_id": account.access_key_id,
        "tenant_id": account.tenant_id,
        "client_id": account.client_id,
    }
    options.update({key: value for key, value in public.items() if value})
    return options


def config_of(account: CloudAccount) -> ProviderConfig:
    """Return what the provider modules need to reach ``account``, secrets decrypted.

    A member found through AWS Organizations without credentials of its own is reached
    through its parent: the provider's ``member_config`` assumes the member role from the
    parent's credentials, with the parent's external id.
    """
    if account.parent_id is not None and not account.credentials_set and account.provider == "aws":
        parent = CloudAccount.objects.get(pk=account.parent_id)
        member = provider_module("aws").member_config(config_of(parent), account.external_id)
        return ProviderConfig(
            provider=member.provider,
            external_id=member.external_id,
            auth_method=member.auth_method,
            regions=tuple(account.regions),
            options={**member.options, "requests_per_second": account.requests_per_second},
            secrets=member.secrets,
            endpoint_url=member.endpoint_url,
        )
    return ProviderConfig(
        provider=account.provider,
        external_id=account.external_id,
        auth_method=account.auth_method,
        regions=tuple(account.regions),
        options=_options(account),
        secrets=crypto.decrypt_secrets(account.credentials_encrypted),
        endpoint_url=endpoint_url(account.provider),
    )


def account_status_counts(*, organization: Organization) -> dict[str, int]:
    """Return the number of live accounts per status."""
    from django.db.models import Count

    rows = (
        account_list(organization=organization).order_by().values("status").annotate(n=Count("id"))
    )
    return {row["status"]: row["n"] for row in rows}


def account_count(*, organization: Organization) -> int:
    """Return the number of live accounts (the ``max_cloud_accounts`` quota's usage)."""
    return CloudAccount.objects.for_organization(organization).live().count()
