"""The analysis admin: read-only records, organizations kept apart, apply through services."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from apps.analysis import services
from apps.analysis.choices import RecommendationStatus
from apps.analysis.models import AnalysisRun, Recommendation
from apps.tenancy.choices import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(organization, make_member) -> Client:
    member = make_member(organization, Role.ADMIN, email="staff@example.com")
    member.is_staff = True
    member.save()
    for model in ("utilizationsnapshot", "analysisrun", "recommendation"):
        member.user_permissions.add(Permission.objects.get(codename=f"view_{model}"))
    client = Client()
    client.force_login(member)
    return client


def test_changelists_show_only_the_users_organizations(
    staff_client, organization, other_organization, plan, make_pool
):
    services.snapshot_take(organization=organization)
    foreign = make_pool("10.0.0.0/8", organization=other_organization, name="globex-root")
    services.snapshot_take(organization=other_organization)
    AnalysisRun.objects.create(organization=organization, all_pools=True, message="mine")
    AnalysisRun.objects.create(organization=other_organization, all_pools=True, message="theirs")
    services.recommendation_generate(organization=organization)

    html = staff_client.get("/admin/analysis/utilizationsnapshot/").content.decode()
    assert "10.0.0.0/24 busy" in html
    assert foreign.name not in html
    html = staff_client.get("/admin/analysis/analysisrun/").content.decode()
    assert "mine" in html
    assert "theirs" not in html
    response = staff_client.get("/admin/analysis/recommendation/?status__exact=pending")
    assert response.status_code == 200
    assert "Expand" in response.content.decode()
    run = AnalysisRun.objects.get(message="theirs")
    # The admin answers a row outside its queryset with a redirect to its index.
    response = staff_client.get(f"/admin/analysis/analysisrun/{run.pk}/change/")
    assert (response.status_code, response["Location"]) == (302, "/admin/")


def test_records_are_read_only(staff_client, organization, plan):
    services.recommendation_generate(organization=organization)
    rec = Recommendation.objects.filter(organization=organization).first()
    assert staff_client.get("/admin/analysis/recommendation/add/").status_code == 403
    response = staff_client.get(f"/admin/analysis/recommendation/{rec.pk}/change/")
    assert response.status_code == 200
    assert 'name="title"' not in response.content.decode()
    assert staff_client.post(f"/admin/analysis/recommendation/{rec.pk}/delete/").status_code == 403


def test_apply_action_goes_through_the_service(organization, plan, make_member):
    member = make_member(organization, Role.OWNER, email="root@example.com")
    member.is_staff = True
    member.is_superuser = True
    member.save()
    client = Client()
    client.force_login(member)
    services.recommendation_generate(organization=organization)
    recs = list(Recommendation.objects.filter(organization=organization))
    response = client.post(
        "/admin/analysis/recommendation/",
        {"action": "apply_selected", "_selected_action": [rec.pk for rec in recs]},
        follow=True,
    )
    assert response.status_code == 200
    statuses = dict(Recommendation.objects.values_list("type", "status"))
    assert statuses["capacity"] == RecommendationStatus.APPLIED
    plan["busy"].refresh_from_db()
    assert plan["busy"].cidr == "10.0.0.0/23"
