"""The account actions against AWS as moto's server speaks it, through the endpoint override.

The production path end to end: the API, the services, ``config_of`` and the real
``apps.cloud.providers.aws`` and ``apps.discovery.collectors.aws`` modules, reaching
moto over HTTP through ``CLOUDPAM_AWS_ENDPOINT_URL``. Skipped (with the reason) until
the AWS provider module is installed.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import boto3
import pytest
import urllib3

from apps.cloud.models import CloudAccount
from apps.tenancy.choices import Role

pytest.importorskip("apps.cloud.providers.aws", reason="needs the AWS provider module")
pytest.importorskip("apps.discovery.collectors.aws", reason="needs the AWS collector module")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from moto.server import ThreadedMotoServer

pytestmark = pytest.mark.django_db

MANAGEMENT = "123456789012"  # moto's default account
KEYS = {"aws_access_key_id": "AKIAMOTOEXAMPLE00001", "aws_secret_access_key": "moto-secret-1"}


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_url, settings):
    settings.CLOUDPAM_AWS_ENDPOINT_URL = moto_url
    # A clean moto for every test.
    urllib3.request("POST", f"{moto_url}/moto-api/reset")

    def client(service: str, region: str = "us-east-1", **credentials: str):
        return boto3.client(
            service, endpoint_url=moto_url, region_name=region, **(credentials or KEYS)
        )

    return client


@pytest.fixture
def admin(organization, client_for):
    return client_for(organization, Role.ADMIN)


@pytest.fixture
def management(admin):
    created = admin.post(
        "/api/v1/accounts/",
        {
            "name": "Management",
            "provider": "aws",
            "external_id": MANAGEMENT,
            "auth_method": "access_keys",
            "regions": ["eu-west-1", "us-east-1"],
        },
        format="json",
    ).json()
    response = admin.put(
        f"/api/v1/accounts/{created['id']}/credentials/",
        {
            "access_key_id": KEYS["aws_access_key_id"],
            "secret_access_key": KEYS["aws_secret_access_key"],
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    return created["id"]


def test_the_connectivity_test_calls_sts(aws, admin, management):
    body = admin.post(f"/api/v1/accounts/{management}/test/").json()
    assert body["ok"] is True, body
    assert MANAGEMENT in body["identity"]
    assert body["account"]["status"] == "healthy"


def test_members_are_discovered_and_each_reached_by_assuming_its_role(aws, admin, management):
    organizations = aws("organizations")
    organizations.create_organization(FeatureSet="ALL")
    for name in ("dev", "staging"):
        organizations.create_account(AccountName=name, Email=f"{name}@example.com")
    body = admin.post(f"/api/v1/accounts/{management}/discover-members/").json()
    assert body["created"] == 2, body
    members = {member["name"]: member for member in body["members"]}
    assert set(members) == {"dev", "staging"}
    for member in members.values():
        assert member["parent"] == management
        result = admin.post(f"/api/v1/accounts/{member['id']}/test/").json()
        assert result["ok"] is True, result
        assert member["external_id"] in result["identity"]
    again = admin.post(f"/api/v1/accounts/{management}/discover-members/").json()
    assert (again["created"], again["unchanged"]) == (0, 2)
    assert CloudAccount.objects.filter(parent_id=management).count() == 2


def test_sync_counts_what_the_collector_finds_per_region(
    aws, admin, management, django_capture_on_commit_callbacks
):
    ec2 = aws("ec2", "eu-west-1")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    ec2.associate_vpc_cidr_block(VpcId=vpc, CidrBlock="10.21.0.0/16")
    ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24")
    with django_capture_on_commit_callbacks(execute=True):
        assert admin.post(f"/api/v1/accounts/{management}/sync/").status_code == 202
    account = admin.get(f"/api/v1/accounts/{management}/").json()
    collection = account["last_collection"]
    assert collection["complete"] is True, collection
    counts = {(c["resource_type"], c["region"]): c["count"] for c in collection["counts"]}
    # moto also has a default VPC with default subnets per region: only this VPC's own
    # records are asserted, plus the two regions' outcomes.
    assert counts[("vpc", "eu-west-1")] >= 2
    assert counts[("subnet", "eu-west-1")] >= 1
    assert [region["region"] for region in collection["regions"]] == ["eu-west-1", "us-east-1"]
    assert account["status"] == "healthy"
