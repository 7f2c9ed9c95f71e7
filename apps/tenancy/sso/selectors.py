"""Reads of single sign-on: providers and mappings of one organization."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from apps.tenancy.models import Organization
from apps.tenancy.sso.models import GroupRoleMapping, IdentityProvider
from cloudpam.exceptions import NotFound


def identity_provider_list(*, organization: Organization) -> QuerySet[IdentityProvider]:
    """Return the organization's providers with their mapping counts."""
    return (
        IdentityProvider.objects.for_organization(organization)
        .annotate(mapping_count=Count("mappings"))
        .order_by("name", "id")
    )


def identity_provider_get(*, organization: Organization, pk: int) -> IdentityProvider:
    """Return one provider of the organization, or raise NotFound."""
    provider = IdentityProvider.objects.for_organization(organization).filter(pk=pk).first()
    if provider is None:
        raise NotFound("No such identity provider.")
    return provider


def identity_provider_for_sign_in(
    *, organization: Organization, slug: str | None = None, pk: int | None = None
) -> IdentityProvider | None:
    """Return the enabled provider of the organization named by ``slug`` or ``pk``."""
    providers = IdentityProvider.objects.for_organization(organization).filter(enabled=True)
    if slug is not None:
        providers = providers.filter(slug=slug)
    elif isinstance(pk, int):
        providers = providers.filter(pk=pk)
    else:
        return None
    return providers.select_related("organization").first()


def sign_in_providers(*, organization: Organization) -> list[IdentityProvider]:
    """Return the enabled providers the login page offers for the organization."""
    return list(
        IdentityProvider.objects.for_organization(organization)
        .filter(enabled=True)
        .order_by("name", "id")
    )


def group_mapping_list(*, provider: IdentityProvider) -> QuerySet[GroupRoleMapping]:
    """Return the provider's mappings, by group."""
    return GroupRoleMapping.objects.for_organization(provider.organization_id).filter(
        provider=provider
    )


def group_mapping_get(*, provider: IdentityProvider, pk: int) -> GroupRoleMapping:
    """Return one mapping of the provider, or raise NotFound."""
    mapping = group_mapping_list(provider=provider).filter(pk=pk).first()
    if mapping is None:
        raise NotFound("No such mapping.")
    return mapping
