"""Console pages of the analysis: dashboard, pool analysis, findings, settings, advice, runs."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.analysis import services
from apps.analysis.choices import RecommendationStatus, RunStatus
from apps.analysis.models import AnalysisRun, Recommendation
from apps.pools import services as pool_services
from apps.pools.models import Pool
from apps.tenancy.choices import Role
from tests.actors import TEST_ACTOR
from tests.analysis.conftest import add_history, age

pytestmark = pytest.mark.django_db


@pytest.fixture
def console(organization, make_member) -> Client:
    client = Client()
    client.force_login(make_member(organization, Role.OWNER, email="console@example.com"))
    return client


@pytest.fixture
def viewer_console(organization, make_member) -> Client:
    client = Client()
    client.force_login(make_member(organization, Role.VIEWER, email="viewer@example.com"))
    return client


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_navigation_links_to_the_analysis_pages(console):
    html = page(console.get("/"))
    assert 'href="/analysis/"' in html
    assert 'href="/recommendations/"' in html


def test_dashboard_shows_pressure_findings_advice_and_runs(console, organization, plan, make_pool):
    make_pool("127.0.0.0/16", name="lo", type="vpc")
    add_history(plan["busy"], [200, 204, 208, 212, 216, 220, 224])
    services.recommendation_generate(organization=organization)
    AnalysisRun.objects.create(organization=organization, all_pools=True, message="Waiting.")
    html = page(console.get("/analysis/"))
    assert "Most utilized pools" in html
    assert f'href="/analysis/pools/{plan["busy"].pk}/"' in html
    assert "8 days" in html
    assert 'href="/analysis/compliance/?severity=error"' in html
    assert "pending recommendations" in html
    assert "Expand &#x27;busy&#x27; (10.0.0.0/24) to 10.0.0.0/23" in html
    assert "Waiting." in html
    assert 'action="/analysis/runs/new/"' in html


def test_dashboard_of_an_empty_plan(console):
    html = page(console.get("/analysis/"))
    assert "No pool has allocated space yet." in html
    assert "No compliance findings." in html
    assert "No analysis has been run in the background yet." in html


def test_starting_a_run_from_the_console(
    console, organization, plan, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = console.post("/analysis/runs/new/")
    run = AnalysisRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/analysis/runs/{run.pk}/"
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    html = page(console.get(f"/analysis/runs/{run.pk}/"))
    assert "Analysed 6 pools." in html
    assert "hx-trigger" not in html
    queued = AnalysisRun.objects.create(organization=organization, all_pools=True)
    partial = page(console.get(f"/analysis/runs/{queued.pk}/", HTTP_HX_REQUEST="true"))
    assert 'hx-trigger="every 2s"' in partial
    assert "<html" not in partial


def test_viewers_cannot_start_runs(viewer_console, plan):
    assert viewer_console.post("/analysis/runs/new/").status_code == 403
    assert "Run full analysis" not in page(viewer_console.get("/analysis/"))


def test_run_of_another_organization_is_404(console, other_organization):
    run = AnalysisRun.objects.create(organization=other_organization, all_pools=True)
    assert console.get(f"/analysis/runs/{run.pk}/").status_code == 404


def test_pool_analysis_page(console, organization, plan):
    add_history(plan["busy"], [200, 204, 208, 212, 216, 220, 224])
    services.recommendation_generate(organization=organization)
    html = page(console.get(f"/analysis/pools/{plan['busy'].pk}/"))
    assert '<svg class="util-chart"' in html
    assert 'class="projection"' in html
    assert 'class="threshold"' in html
    assert html.count('<circle class="dot"') == 7
    assert "Runs out in <strong>8 days</strong>" in html
    assert "10.0.0.224/27" in html
    assert "Fragmentation <strong>0.0</strong>" in html
    assert "OVER_UTILIZED" in html
    assert "Expand &#x27;busy&#x27;" in html
    assert f'href="/pools/{plan["busy"].pk}/"' in html


def test_pool_analysis_page_without_history_and_of_a_deleted_pool(console, plan):
    html = page(console.get(f"/analysis/pools/{plan['idle'].pk}/"))
    assert "No snapshots yet" in html
    assert "Not enough history" in html
    pool_services.pool_delete(actor=TEST_ACTOR, pool=plan["idle"])
    html = page(console.get(f"/analysis/pools/{plan['idle'].pk}/"))
    assert "is deleted; restore it to analyse it." in html
    assert console.get("/analysis/pools/987654/").status_code == 404


def test_findings_page_filters_and_paginates(console, organization, plan, make_pool, monkeypatch):
    monkeypatch.setattr("cloudpam.tables.PAGE_SIZES", (1, 25))
    monkeypatch.setattr("cloudpam.tables.DEFAULT_PAGE_SIZE", 1)
    public = make_pool("8.8.0.0/16", name="public", type="vpc")
    html = page(console.get("/analysis/compliance/"))
    assert "Page 1 of 2 (2 findings)" in html
    assert "lies outside private address space" in html
    html = page(console.get("/analysis/compliance/?rule=OVER_UTILIZED"))
    assert "is 87.5% allocated" in html
    assert "lies outside private address space" not in html
    html = page(console.get(f"/analysis/compliance/?pool={public.pk}"))
    assert f'href="/analysis/pools/{public.pk}/"' in html
    html = page(console.get("/analysis/compliance/?pool=987654"))
    assert "No live pool &#x27;987654&#x27; in this organization." in html


def test_operators_read_but_do_not_change_compliance_settings(organization, make_member):
    client = Client()
    client.force_login(make_member(organization, Role.OPERATOR, email="op@example.com"))
    html = page(client.get("/analysis/compliance/settings/"))
    assert "Only administrators can change these settings." in html
    assert client.post("/analysis/compliance/settings/", {}).status_code == 403


def test_recommendations_page_generate_apply_and_dismiss(console, organization, plan, make_pool):
    age(plan["idle"], 40)
    response = console.post("/recommendations/generate/", {"next": "https://evil.example/"})
    assert response["Location"] == "/recommendations/"
    html = page(console.get("/recommendations/"))
    assert "Expand &#x27;busy&#x27; (10.0.0.0/24) to 10.0.0.0/23" in html
    assert "Reclaim &#x27;idle&#x27; (10.0.8.0/24)" in html

    capacity = Recommendation.objects.get(type="capacity")
    response = console.post(
        f"/recommendations/{capacity.pk}/apply/",
        {"next": "/recommendations/?type=capacity"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/recommendations/?type=capacity"
    assert messages_of(response) == ["Applied: Expand 'busy' (10.0.0.0/24) to 10.0.0.0/23."]
    plan["busy"].refresh_from_db()
    assert plan["busy"].cidr == "10.0.0.0/23"

    response = console.post(f"/recommendations/{capacity.pk}/apply/", follow=True)
    assert messages_of(response) == [
        "This recommendation is applied; only a pending one can be applied or dismissed."
    ]

    reclaim = Recommendation.objects.get(type="reclaim")
    response = console.post(f"/recommendations/{reclaim.pk}/dismiss/", {}, follow=True)
    assert messages_of(response) == ["Say why the recommendation is dismissed."]
    response = console.post(
        f"/recommendations/{reclaim.pk}/dismiss/", {"reason": "Kept for DR"}, follow=True
    )
    assert messages_of(response) == ["Dismissed: Reclaim 'idle' (10.0.8.0/24)."]
    reclaim.refresh_from_db()
    assert (reclaim.status, reclaim.dismiss_reason) == (
        RecommendationStatus.DISMISSED,
        "Kept for DR",
    )
    html = page(console.get("/recommendations/?status=dismissed"))
    assert "Dismissed: Kept for DR" in html
    assert console.post("/recommendations/987654/apply/").status_code == 404


def test_recommendations_page_shows_errors_of_an_impossible_apply(
    console, organization, plan, make_pool
):
    make_pool("10.0.1.0/24", parent=plan["region"], name="neighbour", type="vpc")
    services.recommendation_generate(organization=organization)
    allocation = Recommendation.objects.get(type="allocation")
    make_pool("10.0.9.0/24", parent=plan["region"], name="taken")
    count = Pool.objects.count()
    response = console.post(f"/recommendations/{allocation.pk}/apply/", follow=True)
    assert messages_of(response) == [
        '10.0.9.0/24 is no longer free in 10.0.0.0/16 "region"; '
        "generate recommendations again for another block."
    ]
    assert Pool.objects.count() == count


def test_viewers_see_recommendations_without_actions(viewer_console, organization, plan):
    services.recommendation_generate(organization=organization)
    html = page(viewer_console.get("/recommendations/"))
    assert "Expand" in html
    assert "Apply</button>" not in html
    assert "Generate for the whole plan" not in html
    capacity = Recommendation.objects.get(type="capacity")
    assert viewer_console.post(f"/recommendations/{capacity.pk}/apply/").status_code == 403


def test_recommendations_page_filters(console, organization, plan):
    services.recommendation_generate(organization=organization)
    html = page(console.get("/recommendations/?type=nope"))
    assert "Select a valid choice" in html
    html = page(console.get("/recommendations/?status=applied"))
    assert "No recommendation matches these filters." in html


def test_a_completed_run_reads_as_done(
    console, organization, plan, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        console.post("/analysis/runs/new/")
    run = AnalysisRun.objects.get()
    html = page(console.get(f"/analysis/runs/{run.pk}/", HTTP_HX_REQUEST="true"))
    assert "queued" not in html.lower()
    assert 'class="bar ok"' in html
    assert 'class="bar err"' not in html
    assert "Finished " in html
    waiting = AnalysisRun.objects.create(organization=organization, all_pools=True)
    html = page(console.get(f"/analysis/runs/{waiting.pk}/", HTTP_HX_REQUEST="true"))
    assert "Queued" in html
    assert "Waiting for a worker." in html
