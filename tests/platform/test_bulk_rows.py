"""Bulk actions through per-row services: dismiss recommendations, revoke API tokens."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.analysis.models import Recommendation
from apps.audit.models import AuditEvent
from apps.tenancy import services as tenancy_services
from apps.tenancy.choices import Role
from apps.tenancy.models import ApiToken, Membership
from apps.tenancy.roles import role_has
from tests.pools.factories import PoolFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_role(organization, make_member):
    def client(role: str, email: str | None = None) -> Client:
        made = Client()
        made.force_login(make_member(organization, role, email=email or f"rows-{role}@x.example"))
        return made

    return client


def recommendations(organization, count: int = 3) -> list[Recommendation]:
    pool = PoolFactory(organization=organization, cidr="10.0.0.0/8")
    return [
        Recommendation.objects.create(
            organization=organization,
            type="reclaim",
            severity="info",
            impact=10 + index,
            title=f"Reclaim {index}",
            rationale="Unused.",
            change={"action": "review"},
            fingerprint=f"{index:064d}",
            pool=pool,
        )
        for index in range(count)
    ]


def messages_of(response) -> str:
    return " ".join(str(message) for message in response.context["messages"])


@pytest.mark.parametrize("role", [role.value for role in Role])
def test_bulk_dismiss_follows_the_role_matrix(as_role, organization, role):
    recs = recommendations(organization)
    client = as_role(role)
    allowed = role_has(role, "analysis.change")
    listing = client.get("/recommendations/").content.decode()
    assert ('action="/recommendations/bulk/"' in listing) is allowed
    data = {"action": "dismiss", "pk": [str(rec.pk) for rec in recs[:2]], "reason": "not now"}
    review = client.post("/recommendations/bulk/", data)
    assert review.status_code == (200 if allowed else 403)
    if allowed:
        assert "Dismiss: 2 recommendations" in review.content.decode()
        assert Recommendation.objects.filter(status="dismissed").count() == 0
    response = client.post("/recommendations/bulk/", {**data, "confirm": "1"}, follow=True)
    if allowed:
        assert "2 recommendations dismissed." in messages_of(response)
    else:
        assert response.status_code == 403
    assert Recommendation.objects.filter(status="dismissed").count() == (2 if allowed else 0)


def test_bulk_dismiss_needs_a_reason_and_takes_pending_recommendations_only(as_role, organization):
    recs = recommendations(organization)
    client = as_role(Role.OPERATOR)
    ids = [str(rec.pk) for rec in recs]
    response = client.post(
        "/recommendations/bulk/", {"action": "dismiss", "pk": ids, "confirm": "1"}
    )
    assert response.status_code == 400
    assert Recommendation.objects.filter(status="dismissed").count() == 0
    # Only pending recommendations can be selected.
    Recommendation.objects.filter(pk=recs[0].pk).update(status="applied")
    response = client.post(
        "/recommendations/bulk/", {"action": "dismiss", "pk": ids, "confirm": "1", "reason": "x"}
    )
    assert response.status_code == 404
    assert Recommendation.objects.filter(status="dismissed").count() == 0


def test_bulk_dismiss_refuses_another_organizations_rows(as_role, organization, other_organization):
    mine = recommendations(organization, 1)
    theirs = recommendations(other_organization, 1)
    response = as_role(Role.OWNER).post(
        "/recommendations/bulk/",
        {"action": "dismiss", "pk": [mine[0].pk, theirs[0].pk], "confirm": "1", "reason": "x"},
    )
    assert response.status_code == 404
    assert Recommendation.objects.filter(status="dismissed").count() == 0


def _token(organization, user, name):
    membership = Membership.objects.get(user=user, organization=organization)
    return tenancy_services.api_token_create(
        membership=membership, name=name, scopes=["read"], actor=user
    )[0]


def test_members_revoke_their_own_tokens_in_bulk_and_admins_anyones(organization, make_member):
    viewer = make_member(organization, Role.VIEWER, email="v@x.example")
    admin = make_member(organization, Role.ADMIN, email="a@x.example")
    own = [_token(organization, viewer, f"mine {index}") for index in range(2)]
    other = _token(organization, admin, "admin's")
    client = Client()
    client.force_login(viewer)
    before = AuditEvent.objects.count()
    # Another member's token is not among the viewer's: the whole request is refused.
    response = client.post(
        "/organization/tokens/bulk/",
        {"action": "revoke", "confirm": "1", "pk": [own[0].pk, other.pk]},
    )
    assert response.status_code == 404
    assert not ApiToken.objects.filter(revoked_at__isnull=False).exists()
    response = client.post(
        "/organization/tokens/bulk/",
        {"action": "revoke", "confirm": "1", "pk": [token.pk for token in own]},
        follow=True,
    )
    assert "2 tokens revoked." in messages_of(response)
    assert set(ApiToken.objects.filter(revoked_at__isnull=False)) == set(own)
    assert AuditEvent.objects.count() > before
    client.force_login(admin)
    response = client.post(
        "/organization/tokens/bulk/", {"action": "revoke", "confirm": "1", "pk": [other.pk]}
    )
    assert response.status_code == 302
    assert ApiToken.objects.filter(revoked_at__isnull=True).count() == 0


def test_an_auditor_cannot_revoke_tokens_in_bulk(organization, make_member):
    auditor = make_member(organization, Role.AUDITOR, email="au@x.example")
    client = Client()
    client.force_login(auditor)
    allowed = role_has(Role.AUDITOR, "tokens.create")
    response = client.post("/organization/tokens/bulk/", {"action": "revoke", "pk": ["1"]})
    assert response.status_code == (404 if allowed else 403)
