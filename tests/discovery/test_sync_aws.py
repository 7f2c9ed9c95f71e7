"""Sync runs of an AWS account against moto's server, through the endpoint override.

The estate the run stores is compared with what EC2 itself describes (read with boto3,
independently of the collector): VPC blocks and subnets.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import boto3
import pytest
import urllib3

from apps.cloud import services as cloud_services
from apps.discovery import sync
from apps.discovery.models import DiscoveredResource, SyncRun
from tests.actors import TEST_ACTOR

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from moto.server import ThreadedMotoServer

pytestmark = pytest.mark.django_db

ACCOUNT = "123456789012"
KEYS = {"aws_access_key_id": "AKIAMOTOEXAMPLE00001", "aws_secret_access_key": "moto-secret-1"}
REGION = "eu-west-1"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def ec2(moto_url, settings):
    settings.CLOUDPAM_AWS_ENDPOINT_URL = moto_url
    urllib3.request("POST", f"{moto_url}/moto-api/reset")
    return boto3.client("ec2", endpoint_url=moto_url, region_name=REGION, **KEYS)


@pytest.fixture
def account(organization, ec2):
    made = cloud_services.account_create(
        organization=organization,
        actor=TEST_ACTOR,
        name="prod",
        provider="aws",
        external_id=ACCOUNT,
        auth_method="access_keys",
        access_key_id=KEYS["aws_access_key_id"],
        regions=[REGION],
    )
    return cloud_services.account_credentials_set(
        account=made,
        actor=TEST_ACTOR,
        credentials={"secret_access_key": KEYS["aws_secret_access_key"]},
    )


@pytest.fixture
def run_sync(django_capture_on_commit_callbacks):
    def run(account) -> SyncRun:
        with django_capture_on_commit_callbacks(execute=True):
            started = sync.sync_run_start(account=account, actor=TEST_ACTOR)
        return SyncRun.objects.get(pk=started.pk)

    return run


def described(ec2) -> set[tuple[str, str, str]]:
    """Return (type, id, cidr) of every VPC block and subnet as EC2 describes them."""
    found = set()
    for vpc in ec2.describe_vpcs()["Vpcs"]:
        for block in vpc.get("CidrBlockAssociationSet", []):
            if block["CidrBlockState"]["State"] == "associated":
                found.add(("vpc", vpc["VpcId"], block["CidrBlock"]))
    for subnet in ec2.describe_subnets()["Subnets"]:
        found.add(("subnet", subnet["SubnetId"], subnet["CidrBlock"]))
    return found


def stored(account, *types: str) -> set[tuple[str, str, str]]:
    rows = DiscoveredResource.objects.filter(
        account=account, resource_type__in=types, state="present"
    )
    return {(row.resource_type, row.resource_id, row.cidr) for row in rows}


def test_first_sync_stores_the_estate_exactly_and_follows_changes(ec2, account, run_sync):
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    ec2.associate_vpc_cidr_block(VpcId=vpc, CidrBlock="10.21.0.0/16")
    doomed = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]

    first = run_sync(account)
    assert first.status == "completed", first.regions
    assert stored(account, "vpc", "subnet") == described(ec2)
    assert first.counts["new"] == DiscoveredResource.objects.filter(account=account).count()

    added = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.2.0/24")["Subnet"]["SubnetId"]
    ec2.delete_subnet(SubnetId=doomed)
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": "prod"}])

    second = run_sync(account)
    assert second.status == "completed"
    assert stored(account, "vpc", "subnet") == described(ec2)
    assert DiscoveredResource.objects.get(resource_id=doomed).state == "missing"
    assert DiscoveredResource.objects.get(resource_id=added).last_seen_run_id == second.pk
    # The VPC's two blocks changed (its name); the new subnet is new; the deleted missing.
    assert (second.counts["new"], second.counts["changed"], second.counts["missing"]) == (1, 2, 1)
    names = set(DiscoveredResource.objects.filter(resource_id=vpc).values_list("name", flat=True))
    assert names == {"prod"}

    third = run_sync(account)
    assert (third.counts["new"], third.counts["changed"], third.counts["missing"]) == (0, 0, 0)
    assert third.counts["unchanged"] == third.counts["seen"]
