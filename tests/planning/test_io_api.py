"""The import and export API (SPEC.md section 7.2): round trips, bad files, history, roles."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import hcl2
import pytest
import yaml
from django.urls import reverse
from openpyxl import Workbook
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.cloud.models import CloudAccount
from apps.planning.models import Plan
from apps.planning.services import plan_apply
from apps.pools.models import Pool
from apps.pools.services import pool_create
from apps.tenancy.choices import Role
from apps.tenancy.models import Organization
from tests.actors import TEST_ACTOR

pytestmark = pytest.mark.django_db

IMPORTS = reverse("api:plan-import-list")
EXPORT = reverse("api:pool-export")
ROUND_TRIP_FORMATS = ["csv", "json", "yaml", "xlsx"]


@pytest.fixture
def tree(organization: Organization) -> dict[str, Pool]:
    """A small plan: IPv4 with three levels, tags and statuses, and an IPv6 root."""

    def make(name: str, cidr: str, parent: Pool | None = None, **kwargs: Any) -> Pool:
        return pool_create(
            organization=organization,
            actor=TEST_ACTOR,
            name=name,
            cidr=cidr,
            parent=parent,
            **kwargs,
        )

    corp = make("corp", "10.0.0.0/8", type="supernet", tags={"owner": "net;ops", "cc": "=1+2"})
    eu = make("eu", "10.1.0.0/16", corp, type="region", tags={"region": "eu-west-1"})
    prod = make("prod", "10.1.0.0/20", eu, type="environment", status="planned")
    make("app", "10.1.0.0/24", prod, type="subnet", description="- legacy, keep")
    make("db", "10.1.1.0/24", prod, type="subnet", status="reserved")
    us = make("us", "10.2.0.0/16", corp, type="region", status="deprecated")
    make("prod", "10.2.0.0/20", us, type="environment")
    make("v6", "fd00::/48", type="supernet", description='quote " and ${x}')
    return {"corp": corp, "eu": eu, "prod": prod}


def snapshot(organization: Organization) -> list[tuple[Any, ...]]:
    """Return the organization's live tree as comparable data, parents by CIDR."""
    pools = Pool.objects.for_organization(organization).live()
    cidr_of = dict(pools.values_list("pk", "cidr"))
    return sorted(
        (
            pool.name,
            pool.cidr,
            cidr_of.get(pool.parent_id),
            pool.type,
            pool.status,
            pool.description,
            tuple(sorted(pool.tags.items())),
        )
        for pool in pools
    )


def export(client: APIClient, file_format: str, **params: str) -> bytes:
    response = client.get(EXPORT, {"format": file_format, **params})
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content)


def upload(client: APIClient, content: bytes, filename: str, **fields: Any) -> Any:
    return client.post(
        IMPORTS,
        {"file": _named(content, filename), **fields},
        format="multipart",
    )


def _named(content: bytes, filename: str) -> io.BytesIO:
    handle = io.BytesIO(content)
    handle.name = filename
    return handle


@pytest.fixture
def empty_client(client_for: Callable[..., APIClient], other_organization: Organization):
    return client_for(other_organization, Role.OPERATOR)


# Export


def test_export_csv_has_the_import_columns_in_tree_order(owner_client, tree):
    text = export(owner_client, "csv").decode()
    lines = text.splitlines()
    assert lines[0] == "name,cidr,parent,type,status,description,tags"
    assert lines[1] == "corp,10.0.0.0/8,,supernet,active,,cc==1+2;owner=net\\;ops"
    assert lines[2] == "eu,10.1.0.0/16,10.0.0.0/8,region,active,,region=eu-west-1"
    # A cell a spreadsheet would run as a formula is quoted.
    assert 'app,10.1.0.0/24,10.1.0.0/20,subnet,active,"\'- legacy, keep",' in lines
    assert len(lines) == 9


def test_export_with_name_paths_and_filters(owner_client, tree):
    text = export(owner_client, "csv", parent_style="path", root=str(tree["eu"].pk)).decode()
    lines = text.splitlines()[1:]
    assert [line.split(",")[:3] for line in lines] == [
        ["eu", "10.1.0.0/16", "corp"],
        ["prod", "10.1.0.0/20", "corp/eu"],
        ["app", "10.1.0.0/24", "corp/eu/prod"],
        ["db", "10.1.1.0/24", "corp/eu/prod"],
    ]
    text = export(owner_client, "json", status="planned").decode()
    assert [pool["name"] for pool in json.loads(text)["pools"]] == ["prod"]


def test_export_refuses_bad_parameters(owner_client, tree):
    response = owner_client.get(EXPORT, {"format": "pdf"})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "format": ["'pdf' is not one of csv, json, yaml, xlsx, terraform, zip."]
    }
    response = owner_client.get(EXPORT, {"status": "sleeping"})
    assert response.status_code == 400
    assert "status" in response.json()["error"]["fields"]
    response = owner_client.get(EXPORT, {"parent_style": "id"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_export_is_audited(owner_client, organization, tree):
    export(owner_client, "yaml", status="active")
    event = AuditEvent.objects.filter(organization=organization, action="export").get()
    assert event.additional_data["format"] == "yaml"
    assert event.additional_data["filters"] == {"status": "active"}
    assert event.actor_id == owner_client.user.pk


def test_terraform_export_parses_with_one_pool_per_pool_and_parent_references(owner_client, tree):
    document = hcl2.loads(export(owner_client, "terraform").decode())
    pools: dict[str, Any] = {}
    cidrs: dict[str, Any] = {}
    for block in document["resource"]:
        for kind, resources in block.items():
            for name, body in resources.items():
                kind = kind.strip('"')
                if kind == "aws_vpc_ipam":
                    continue
                target = pools if kind == "aws_vpc_ipam_pool" else cidrs
                target[name.strip('"')] = body
    assert len(pools) == len(cidrs) == 8
    by_cidr = {body["cidr"].strip('"'): name for name, body in cidrs.items()}
    eu = by_cidr["10.1.0.0/16"]
    corp = by_cidr["10.0.0.0/8"]
    assert pools[eu]["source_ipam_pool_id"] == f"${{aws_vpc_ipam_pool.{corp}.id}}"
    assert "source_ipam_pool_id" not in pools[corp]
    assert pools[eu]["locale"].strip('"') == "eu-west-1"
    assert pools[by_cidr["fd00::/48"]]["address_family"].strip('"') == "ipv6"
    assert len(document["locals"][0]["pool_cidrs"]) == 8


def test_zip_bundles_every_format_and_the_accounts_without_secrets(
    owner_client, organization, tree
):
    from apps.cloud.services import account_create, account_credentials_set

    account = account_create(
        organization=organization,
        actor=TEST_ACTOR,
        name="prod",
        provider="aws",
        external_id="123456789012",
        auth_method="access_keys",
        access_key_id="AKIAEXAMPLEEXAMPLE12",
        regions=["eu-west-1", "us-east-1"],
    )
    account_credentials_set(
        account=account,
        actor=TEST_ACTOR,
        credentials={"secret_access_key": "s3cr3t/s3cr3t/s3cr3t/s3cr3t/s3cr3t12"},
    )
    archive = zipfile.ZipFile(io.BytesIO(export(owner_client, "zip")))
    assert sorted(archive.namelist()) == sorted(
        [
            "pools.csv",
            "pools.json",
            "pools.yaml",
            "pools.xlsx",
            "pools.tf",
            "accounts.csv",
            "accounts.json",
            "accounts.yaml",
        ]
    )
    everything = b"".join(archive.read(name) for name in archive.namelist() if name != "pools.xlsx")
    assert b"s3cr3t" not in everything
    accounts = json.loads(archive.read("accounts.json"))["accounts"]
    assert accounts == [
        {
            "provider": "aws",
            "name": "prod",
            "external_id": "123456789012",
            "auth_method": "access_keys",
            "regions": ["eu-west-1", "us-east-1"],
            "role_arn": "",
            "role_external_id": "",
            "member_role_name": "OrganizationAccountAccessRole",
            "access_key_id": "AKIAEXAMPLEEXAMPLE12",
            "tenant_id": "",
            "client_id": "",
            "sync_enabled": True,
            "sync_interval_minutes": 60,
            "auto_import": False,
        }
    ]


# Round trips


@pytest.mark.parametrize("file_format", ROUND_TRIP_FORMATS)
def test_export_then_import_into_an_empty_organization_reproduces_the_tree(
    owner_client, empty_client, organization, other_organization, tree, file_format
):
    content = export(owner_client, file_format)
    response = upload(empty_client, content, f"plan.{file_format}")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "valid", body["detail"]["errors"]
    assert body["detail"]["format"] == file_format
    assert body["detail"]["rows"] == 8
    assert Pool.objects.for_organization(other_organization).count() == 0
    plan = Plan.objects.get(pk=body["id"])
    plan_apply(plan=plan, actor=TEST_ACTOR)
    assert snapshot(other_organization) == snapshot(organization)
    assert set(
        Pool.objects.for_organization(other_organization).values_list("source", flat=True)
    ) == {"imported"}


def test_round_trip_with_name_paths(
    owner_client, empty_client, organization, other_organization, tree
):
    content = export(owner_client, "csv", parent_style="path")
    body = upload(empty_client, content, "plan.csv").json()
    assert body["status"] == "valid", body["detail"]["errors"]
    plan_apply(plan=Plan.objects.get(pk=body["id"]), actor=TEST_ACTOR)
    assert snapshot(other_organization) == snapshot(organization)


# Import


CSV_WITH_A_BAD_ROW = (
    b"name,cidr,parent,type,status,tags\n"
    b"prod-subnet,10.9.1.0/24,,subnet,,env=prod\n"
    b"corp,10.9.0.0/16,,supernet,,\n"
    b"oops,10.9.2.1/24,,subnet,,\n"
)


def test_import_with_a_bad_row_is_an_invalid_plan_that_writes_nothing(
    empty_client, other_organization
):
    response = upload(empty_client, CSV_WITH_A_BAD_ROW, "bad.csv", nest="true")
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "invalid"
    assert body["detail"]["errors"] == [
        {
            "row": 4,
            "column": "cidr",
            "message": "10.9.2.1/24 has host bits set; did you mean 10.9.2.0/24?",
            "code": "validation_error",
        }
    ]
    assert Pool.objects.for_organization(other_organization).count() == 0
    plan = Plan.objects.get(pk=body["id"])
    with pytest.raises(Exception, match="not valid"):
        plan_apply(plan=plan, actor=TEST_ACTOR)
    assert Pool.objects.for_organization(other_organization).count() == 0


def test_fixed_file_imports_nested_by_containment(empty_client, other_organization):
    fixed = CSV_WITH_A_BAD_ROW.replace(b"10.9.2.1/24", b"10.9.2.0/24")
    body = upload(empty_client, fixed, "good.csv", nest="true").json()
    assert body["status"] == "valid"
    assert body["operation_count"] == 3
    plan_apply(plan=Plan.objects.get(pk=body["id"]), actor=TEST_ACTOR)
    pools = {pool.name: pool for pool in Pool.objects.for_organization(other_organization)}
    assert pools["prod-subnet"].parent_id == pools["corp"].pk
    assert pools["oops"].parent_id == pools["corp"].pk
    assert pools["prod-subnet"].tags == {"env": "prod"}


def test_rows_clashing_with_stored_pools_get_the_dry_runs_errors(empty_client, other_organization):
    root = pool_create(
        organization=other_organization, actor=TEST_ACTOR, name="root", cidr="10.0.0.0/8"
    )
    pool_create(
        organization=other_organization,
        actor=TEST_ACTOR,
        name="taken",
        cidr="10.1.0.0/16",
        parent=root,
    )
    content = (
        b"name,cidr,parent\n"
        b"clash,10.1.128.0/17,10.0.0.0/8\n"
        b"dup,10.1.0.0/16,10.0.0.0/8\n"
        b"outside,192.168.0.0/24,10.0.0.0/8\n"
        b"fine,10.2.0.0/16,root\n"
        b"lost,10.3.0.0/16,nowhere/else\n"
    )
    body = upload(empty_client, content, "x.csv").json()
    assert body["status"] == "invalid"
    errors = {error["row"]: error for error in body["detail"]["errors"]}
    assert errors[2]["code"] == "overlap"
    assert (
        errors[2]["message"] == "10.1.128.0/17 overlaps the pool 'taken' 10.1.0.0/16 in its parent."
    )
    assert errors[3]["code"] == "duplicate"
    assert errors[4]["code"] == "outside_parent"
    assert errors[4]["message"] == "192.168.0.0/24 is not inside its parent 10.0.0.0/8."
    assert 5 not in errors
    assert errors[6] == {
        "row": 6,
        "column": "parent",
        "message": "No row of the file and no pool of the organization is named "
        "'nowhere/else' (a path of names from a root).",
        "code": "not_found",
    }
    assert Pool.objects.for_organization(other_organization).count() == 2


def test_import_accepts_a_json_body_and_lists_the_history(empty_client, other_organization):
    document = {"pools": [{"name": "a", "cidr": "10.0.0.0/16", "tags": {"k": "v"}}]}
    response = empty_client.post(
        IMPORTS + "?filename=a.json", json.dumps(document), content_type="application/json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["detail"]["format"] == "json"
    listing = empty_client.get(IMPORTS).json()
    assert listing["count"] == 1
    assert listing["results"][0]["id"] == response.json()["id"]
    detail = empty_client.get(reverse("api:plan-import-detail", args=[response.json()["id"]]))
    assert detail.json()["status"] == "valid"


def test_accounts_are_created_only_from_a_clean_file(empty_client, other_organization):
    content = (
        b"provider,name,external_id,auth_method,regions,role_arn\n"
        b"aws,prod,123456789012,assume_role,eu-west-1;us-east-1,"
        b"arn:aws:iam::123456789012:role/CloudPAM\n"
        b"gcp,data,my-project-42,default_chain,,\n"
    )
    body = upload(empty_client, content, "accounts.csv").json()
    assert body["status"] == "valid"
    assert len(body["detail"]["accounts_created"]) == 2
    prod = CloudAccount.objects.for_organization(other_organization).get(name="prod")
    assert prod.regions == ["eu-west-1", "us-east-1"]
    bad = b"provider,name,external_id\naws,x,12\n"
    body = upload(empty_client, bad, "accounts.csv").json()
    assert body["status"] == "invalid"
    assert body["detail"]["errors"][0]["column"] == "external_id"
    assert CloudAccount.objects.for_organization(other_organization).count() == 2


def test_a_secret_column_is_refused(empty_client, other_organization):
    content = b"provider,name,external_id,secret_access_key\naws,x,123456789012,abc\n"
    response = upload(empty_client, content, "accounts.csv")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "Row 1, column 'secret_access_key': The column 'secret_access_key' would carry a "
        "secret; credentials are never imported. Remove it and set credentials on each "
        "account afterwards."
    )
    assert CloudAccount.objects.for_organization(other_organization).count() == 0


# Bad files: 400 with the reason, nothing written


def _xlsx_with_formula() -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["name", "cidr"])
    sheet.append(["corp", "10.0.0.0/8"])
    sheet["B3"] = '=CONCAT("10.1.0.0","/16")'
    sheet["A3"] = "evil"
    handle = io.BytesIO()
    workbook.save(handle)
    return handle.getvalue()


BILLION_LAUGHS = b"""pools:
  - &a {name: lol, cidr: 10.0.0.0/8}
  - &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  - &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  - &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  - [*d, *d, *d, *d, *d, *d, *d, *d, *d]
"""

BAD_FILES = {
    "wrong-encoding": (
        "latin.csv",
        "name,cidr\nZürich,10.0.0.0/8\n".encode("latin-1"),
        "Row 2: The file is not UTF-8 text: the byte 0xfc at byte offset 11 cannot be "
        "decoded. Save the file as UTF-8 (CSV UTF-8 in Excel).",
    ),
    "broken-xlsx": (
        "broken.xlsx",
        b"PK\x03\x04" + b"\x00" * 100,
        "The file is not a valid .xlsx workbook (broken zip: File is not a zip file).",
    ),
    "formula-csv": (
        "formula.csv",
        b'name,cidr,description\ncorp,10.0.0.0/8,"=HYPERLINK(""http://x"")"\n',
        "Row 2, column 'description': The cell holds a spreadsheet formula; formulas are "
        "not imported. Write the value itself (or prefix it with ' to keep it as text).",
    ),
    "formula-xlsx": (
        "formula.xlsx",
        _xlsx_with_formula(),
        "Row 3, column 'B': The cell holds a spreadsheet formula; formulas are not imported.",
    ),
    "wide-row": (
        "wide.csv",
        b"name,cidr\n" + b"x," * 200_000 + b"x\n",
        "Row 2: The row has 200,001 cells; at most 64 are accepted.",
    ),
    "yaml-bomb": (
        "bomb.yaml",
        BILLION_LAUGHS,
        "Row 3: The YAML uses an alias (*a); aliases and anchors are not accepted (they can "
        "expand a small file into a huge one).",
    ),
    "deep-json": (
        "deep.json",
        b"[" * 5000 + b"]" * 5000,
        "The JSON is nested deeper than 64 levels.",
    ),
    "not-json": ("x.json", b'{"pools": [', None),
    "empty": ("empty.csv", b"", "The file is empty."),
    "unknown-column": (
        "x.csv",
        b"name,cidr,colour\nx,10.0.0.0/8,red\n",
        "Row 1, column 'colour': Unknown column 'colour'; the pools columns are name, cidr, "
        "parent, type, status, description, tags, account.",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_are_a_400_with_the_reason(empty_client, other_organization, case):
    filename, content, message = BAD_FILES[case]
    response = upload(empty_client, content, filename)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    if message is not None:
        assert error["message"] == message
    assert "file" in error["fields"]
    assert Plan.objects.for_organization(other_organization).count() == 0
    assert Pool.objects.for_organization(other_organization).count() == 0


def test_a_30_mb_upload_is_refused_before_it_is_read(empty_client, other_organization):
    content = b"name,cidr\n" + b"x" * (30 * 1024 * 1024)
    response = upload(empty_client, content, "huge.csv")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "The file is larger than 20 MB."
    response = empty_client.post(IMPORTS, content, content_type="text/csv")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "The file is larger than 20 MB."
    assert Plan.objects.for_organization(other_organization).count() == 0


def test_a_multipart_request_without_a_file_is_a_400(empty_client):
    response = empty_client.post(IMPORTS, {"nest": "true"}, format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "file": ["Send the file in the multipart field 'file'."]
    }


@pytest.mark.parametrize("role", [role.value for role in Role])
def test_roles(client_for, organization, tree, role):
    client = client_for(organization, role)
    assert client.get(EXPORT, {"format": "csv"}).status_code == 200
    assert client.get(IMPORTS).status_code == 200
    response = upload(client, b"name,cidr\nx,172.16.0.0/12\n", "x.csv")
    writer = role in ("owner", "admin", "operator")
    assert response.status_code == (201 if writer else 403)
    if not writer:
        assert response.json()["error"]["code"] == "permission_denied"


def test_imports_of_another_organization_are_not_found(client_for, organization, empty_client):
    body = upload(empty_client, b"name,cidr\nx,172.16.0.0/12\n", "x.csv").json()
    client = client_for(organization, Role.OWNER)
    response = client.get(reverse("api:plan-import-detail", args=[body["id"]]))
    assert response.status_code == 404
    assert client.get(IMPORTS).json()["count"] == 0


def test_yaml_export_is_safe_yaml(owner_client, tree):
    document = yaml.safe_load(export(owner_client, "yaml"))
    assert document["pools"][0]["tags"] == {"owner": "net;ops", "cc": "=1+2"}


def test_an_import_is_audited_on_its_plan(empty_client, other_organization):
    body = upload(empty_client, b"name,cidr\nx,172.16.0.0/12\n", "x.csv").json()
    events = AuditEvent.objects.filter(
        organization=other_organization, object_type="plan", object_id=body["id"]
    )
    assert list(events.order_by("id").values_list("action", flat=True)) == ["create", "import"]
    assert events.get(action="import").actor_id == empty_client.user.pk


def test_an_applied_import_rolls_back(empty_client, other_organization):
    from apps.planning.services import plan_rollback

    content = b"name,cidr,parent\ncorp,10.0.0.0/8,\neu,10.1.0.0/16,corp\n"
    plan = Plan.objects.get(pk=upload(empty_client, content, "x.csv").json()["id"])
    plan_apply(plan=plan, actor=TEST_ACTOR)
    assert Pool.objects.for_organization(other_organization).live().count() == 2
    plan = plan_rollback(plan=Plan.objects.get(pk=plan.pk), actor=TEST_ACTOR)
    assert plan.status == "rolled_back"
    assert Pool.objects.for_organization(other_organization).live().count() == 0
    history = empty_client.get(IMPORTS).json()["results"]
    assert [(item["id"], item["status"]) for item in history] == [(plan.pk, "rolled_back")]
