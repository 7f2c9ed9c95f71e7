import re

import pytest
from django.test import Client

from apps.analysis.choices import RecommendationStatus
from apps.analysis.models import Recommendation
from apps.tenancy.choices import Role
from tests.actors import TEST_ACTOR

pytestmark = pytest.mark.django_db


def tiles_of(html):
    return {
        label: int(value)
        for value, label in re.findall(
            r'<span class="tile-value">(\d+)</span><span class="tile-label">([^<]+)<', html
        )
    }


def test_dashboard_shows_compliance_errors_and_pending_recommendations(organization, make_member):
    from apps.pools import services as pool_services

    owner = make_member(organization, Role.OWNER)
    # Documentation space is special-purpose: a SPECIAL_PURPOSE finding, an error by default.
    pool_services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="docs", cidr="192.0.2.0/24"
    )
    browser = Client()
    browser.force_login(owner)
    browser.post("/api/v1/recommendations/generate/", {}, content_type="application/json")
    pending = Recommendation.objects.filter(status=RecommendationStatus.PENDING).count()
    tiles = tiles_of(browser.get("/").content.decode())
    assert tiles["compliance errors"] >= 1
    assert tiles["pending recommendations"] == pending


def test_a_user_without_an_organization_sees_no_analysis_tiles(db):
    from apps.tenancy.models import User

    loner = User.objects.create_user("loner@example.com", "correct horse battery staple")
    browser = Client()
    browser.force_login(loner)
    html = browser.get("/").content.decode()
    assert "compliance errors" not in html
    assert "not a member of any organization" in html


def test_the_pool_page_links_to_its_analysis_for_every_reader(organization, make_member):
    from apps.pools import services as pool_services

    pool = pool_services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="corp", cidr="10.0.0.0/8"
    )
    browser = Client()
    browser.force_login(make_member(organization, Role.VIEWER))
    html = browser.get(f"/pools/{pool.pk}/").content.decode()
    assert f'href="/analysis/pools/{pool.pk}/">Analysis</a>' in html
    assert browser.get(f"/analysis/pools/{pool.pk}/").status_code == 200
