"""GCP and Azure accounts end to end: the API, the services and the real provider and
collector modules, reaching the loopback fakes through the endpoint overrides."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from apps.tenancy.choices import Role
from tests.cloud.conftest import AZURE_SECRET, GCP_KEY
from tests.fakes.azure import FakeArm
from tests.fakes.gcp import FakeCompute

pytestmark = pytest.mark.django_db

PROJECT = "acme-net"
SUB = "5f1c7f53-0000-4000-8000-00000000a2e1"


@pytest.fixture
def admin(organization, client_for):
    return client_for(organization, Role.ADMIN)


@pytest.fixture
def compute(settings) -> Iterator[FakeCompute]:
    fake = FakeCompute(PROJECT, ("europe-west1", "us-central1"))
    prod = fake.add_network("prod")
    fake.add_subnetwork("europe-west1", "web", prod, "10.10.0.0/24")
    fake.add_subnetwork("us-central1", "api", prod, "10.20.0.0/24")
    with fake:
        settings.CLOUDPAM_GCP_ENDPOINT_URL = fake.url
        yield fake


@pytest.fixture
def arm(settings) -> Iterator[FakeArm]:
    fake = FakeArm(SUB)
    fake.add_vnet("rg", "hub", "westeurope", ["10.0.0.0/16", "10.1.0.0/16"])
    with fake:
        settings.CLOUDPAM_AZURE_ENDPOINT_URL = fake.url
        yield fake


def create(client, body, credentials):
    created = client.post("/api/v1/accounts/", {"name": "n", **body}, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    written = client.put(f"/api/v1/accounts/{pk}/credentials/", credentials, format="json")
    assert written.status_code == 200, written.content
    return pk


@pytest.fixture
def synced(django_capture_on_commit_callbacks):
    def sync(client, pk):
        """Sync the account (its run executed on commit); return the account read back."""
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/api/v1/accounts/{pk}/sync/")
        assert response.status_code == 202, response.content
        run = client.get(f"/api/v1/discovery/runs/{response.json()['id']}/").json()
        assert run["status"] in ("completed", "partial"), run
        return client.get(f"/api/v1/accounts/{pk}/").json()

    return sync


def test_a_gcp_project_is_tested_and_collected(admin, compute, synced):
    pk = create(
        admin,
        {
            "provider": "gcp",
            "external_id": PROJECT,
            "auth_method": "service_account_key",
            "regions": ["europe-west1", "us-central1"],
        },
        {"service_account_key": GCP_KEY},
    )
    result = admin.post(f"/api/v1/accounts/{pk}/test/").json()
    assert result["ok"] is True, result
    assert result["identity"] == f"projects/{PROJECT}"
    collection = synced(admin, pk)["last_collection"]
    counts = {(c["resource_type"], c["region"]): c["count"] for c in collection["counts"]}
    assert counts[("subnetwork", "europe-west1")] == 1
    assert counts[("subnetwork", "us-central1")] == 1
    assert collection["complete"] is True


def test_an_azure_subscription_is_tested_and_collected(admin, arm, synced):
    pk = create(
        admin,
        {
            "provider": "azure",
            "external_id": SUB,
            "auth_method": "client_secret",
            "tenant_id": "contoso.onmicrosoft.com",
            "client_id": "11111111-2222-3333-4444-555555555555",
            "regions": ["westeurope"],
        },
        {"client_secret": AZURE_SECRET},
    )
    result = admin.post(f"/api/v1/accounts/{pk}/test/").json()
    assert result["ok"] is True, result
    account = synced(admin, pk)
    counts = {
        (c["resource_type"], c["region"]): c["count"] for c in account["last_collection"]["counts"]
    }
    assert counts[("vnet", "westeurope")] == 2
    assert account["status"] == "healthy"
