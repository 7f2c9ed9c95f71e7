"""Reads of tenancy; every selector takes the organization explicitly."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from apps.tenancy.filters import filter_token_status
from apps.tenancy.models import ApiToken, Membership, Organization
from cloudpam.exceptions import NotFound


def membership_list(*, organization: Organization) -> QuerySet[Membership]:
    """Return the organization's memberships with their users, by email."""
    return (
        Membership.objects.filter(organization=organization)
        .select_related("user", "organization")
        .order_by("user__email")
    )


def membership_search(*, organization: Organization, text: str) -> QuerySet[Membership]:
    """Return the organization's members whose e-mail or name contains ``text``, by e-mail."""
    return membership_list(organization=organization).filter(
        Q(user__email__icontains=text) | Q(user__full_name__icontains=text)
    )


def membership_get(*, organization: Organization, pk: int) -> Membership:
    """Return one membership of the organization, or raise NotFound."""
    membership = membership_list(organization=organization).filter(pk=pk).first()
    if membership is None:
        raise NotFound("No such member in this organization.")
    return membership


def api_token_list(
    *,
    organization: Organization,
    membership: Membership | None = None,
    status: str | None = None,
) -> QuerySet[ApiToken]:
    """Return the organization's tokens, only ``membership``'s when given, newest first."""
    queryset = ApiToken.objects.for_organization(organization).select_related("membership__user")
    if membership is not None:
        queryset = queryset.filter(membership=membership)
    return filter_token_status(queryset, status)


def api_token_get(
    *, organization: Organization, pk: int, membership: Membership | None = None
) -> ApiToken:
    """Return one token of the organization (of ``membership`` when given), or raise NotFound."""
    token = api_token_list(organization=organization, membership=membership).filter(pk=pk).first()
    if token is None:
        raise NotFound("No such token.")
    return token
