# ruff: noqa: F811 (the fixtures of test_console are imported to be shared, then requested)
"""The drift page: findings grouped by kind, apply and ignore through the drift services."""

from __future__ import annotations

import re

import pytest

from apps.discovery.models import DriftFinding
from apps.pools.models import Pool
from apps.tenancy.choices import Role
from tests.discovery import factories
from tests.discovery.test_console import console, estate, make_account, make_pool, ok  # noqa: F401

pytestmark = pytest.mark.django_db


def finding(estate, resource, kind="unmanaged", **fields):  # type: ignore[no-untyped-def]
    data = {
        "organization": resource.organization,
        "account": resource.account,
        "kind": kind,
        "severity": fields.pop("severity", "warning"),
        "key": f"{kind}:resource:{resource.pk}",
        "resource": resource,
        "pool": resource.pool,
        "message": f"{resource.cidr} is in the cloud but not planned.",
        "suggestion": {
            "action": "import_as_pool",
            "params": {
                "resource": resource.pk,
                "parent": estate["vpc"].pk,
                "cidr": resource.cidr,
                "name": resource.name,
                "type": "subnet",
            },
        },
    }
    data.update(fields)
    return DriftFinding.objects.create(**data)


def test_findings_are_grouped_by_kind_with_counts(console, estate):  # type: ignore[no-untyped-def]
    finding(estate, estate["subnet"])
    finding(
        estate,
        estate["overlapping"],
        kind="overlap",
        severity="error",
        suggestion={"action": "ignore", "params": {"resource": estate["overlapping"].pk}},
    )
    finding(estate, estate["outside"], kind="outside", status="ignored", ignored_reason="lab")
    html = ok(console(Role.VIEWER).get("/discovery/drift/"))
    kinds = re.findall(r'<section class="card drift-group" data-kind="(\w+)">', html)
    assert kinds == ["unmanaged", "overlap"]
    assert "Import as a pool under the narrowest parent" in html
    assert "Apply</button>" not in html  # a viewer sees, never acts
    ignored = ok(console(Role.AUDITOR).get("/discovery/drift/", {"status": "ignored"}))
    assert 'data-kind="outside"' in ignored
    assert "(lab)" in ignored
    one_kind = ok(console(Role.OPERATOR).get("/discovery/drift/", {"kind": "overlap"}))
    assert re.findall(r'data-kind="(\w+)"', one_kind) == ["overlap"]
    assert "Apply</button>" in one_kind
    overview = ok(console(Role.ADMIN).get("/discovery/"))
    assert 'data-drift="unmanaged">1<' in overview
    assert 'data-drift="outside"' not in overview


def test_an_operator_applies_a_suggestion_through_the_pool_services(console, estate):  # type: ignore[no-untyped-def]
    found = finding(estate, estate["subnet"])
    client = console(Role.OPERATOR)
    response = client.post(
        f"/discovery/drift/{found.pk}/apply/", {"next": "/discovery/drift/?kind=unmanaged"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/discovery/drift/?kind=unmanaged"
    html = ok(client.get(response["Location"]))
    assert "Applied: 10.1.2.0/24 is in the cloud but not planned." in html
    pool = Pool.objects.get(cidr="10.1.2.0/24", deleted_at__isnull=True)
    assert (pool.parent_id, pool.source, pool.cloud_resource_id) == (
        estate["vpc"].pk,
        "discovered",
        estate["subnet"].pk,
    )
    assert DriftFinding.objects.get(pk=found.pk).status == "applied"
    # Applied once: a second click is the service's 409, shown as a message, nothing written.
    again = client.post(f"/discovery/drift/{found.pk}/apply/", follow=True).content.decode()
    assert "This finding is applied; only an open finding can be applied or ignored." in again
    assert Pool.objects.filter(cidr="10.1.2.0/24").count() == 1


def test_a_stale_suggestion_is_a_message_and_writes_nothing(console, estate):  # type: ignore[no-untyped-def]
    found = finding(estate, estate["subnet"])
    estate["subnet"].state = "gone"
    estate["subnet"].save()
    html = console().post(f"/discovery/drift/{found.pk}/apply/", follow=True).content.decode()
    assert "The suggestion no longer applies: the resource is gone from the cloud." in html
    assert not Pool.objects.filter(cidr="10.1.2.0/24").exists()
    assert DriftFinding.objects.get(pk=found.pk).status == "open"


def test_ignore_needs_a_reason(console, estate):  # type: ignore[no-untyped-def]
    found = finding(estate, estate["subnet"])
    client = console(Role.OPERATOR)
    html = client.post(f"/discovery/drift/{found.pk}/ignore/", {"reason": " "}, follow=True)
    assert "Say why the finding is ignored." in html.content.decode()
    assert DriftFinding.objects.get(pk=found.pk).status == "open"
    client.post(f"/discovery/drift/{found.pk}/ignore/", {"reason": "test network"})
    stored = DriftFinding.objects.get(pk=found.pk)
    assert (stored.status, stored.ignored_reason) == ("ignored", "test network")


@pytest.mark.parametrize("role", [Role.VIEWER, Role.AUDITOR])
def test_readers_may_not_decide(console, estate, role):  # type: ignore[no-untyped-def]
    found = finding(estate, estate["subnet"])
    client = console(role)
    assert client.post(f"/discovery/drift/{found.pk}/apply/").status_code == 403
    assert client.post(f"/discovery/drift/{found.pk}/ignore/", {"reason": "x"}).status_code == 403
    assert DriftFinding.objects.get(pk=found.pk).status == "open"


def test_another_organizations_finding_is_a_404(console, estate, other_organization):  # type: ignore[no-untyped-def]
    account = make_account(other_organization, name="Theirs")
    resource = factories.resource(account, "10.0.0.0/16", "vpc-theirs")
    theirs = DriftFinding.objects.create(
        organization=other_organization,
        account=account,
        kind="outside",
        severity="warning",
        key="outside:x",
        resource=resource,
        message="theirs",
        suggestion={"action": "ignore", "params": {"resource": resource.pk}},
    )
    client = console(Role.OWNER)
    assert client.post(f"/discovery/drift/{theirs.pk}/apply/").status_code == 404
    assert client.post(f"/discovery/drift/{theirs.pk}/ignore/", {"reason": "x"}).status_code == 404
    assert client.post(f"/discovery/drift/{theirs.pk}/nope/").status_code == 404
    assert "theirs" not in ok(client.get("/discovery/drift/"))


@pytest.mark.parametrize(
    "query",
    [{"kind": "nope"}, {"severity": "x"}, {"pool": "abc"}, {"account": "-1"}, {"page": "z"}],
)
def test_bad_drift_filters_are_form_errors(console, estate, query):  # type: ignore[no-untyped-def]
    response = console().get("/discovery/drift/", query)
    assert response.status_code == 200
