"""The import console pages, signed in as every role."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from apps.planning.models import Plan
from apps.pools.models import Pool
from apps.tenancy.choices import Role
from apps.tenancy.models import Organization, User

pytestmark = pytest.mark.django_db

ROLES = [role.value for role in Role]
WRITERS = {"owner", "admin", "operator"}
LIST = reverse("planning:import-list")


def console(make_member: Callable[..., User], organization: Organization, role: str) -> Client:
    client = Client()
    client.force_login(make_member(organization, role))
    return client


def upload(client: Client, content: bytes, name: str = "plan.csv") -> object:
    return client.post(LIST, {"file": SimpleUploadedFile(name, content), "nest": "on"})


@pytest.mark.parametrize("role", ROLES)
def test_every_role_sees_the_history_and_only_writers_import(make_member, organization, role):
    client = console(make_member, organization, role)
    response = client.get(LIST)
    assert response.status_code == 200
    assert (b"Check the file" in response.content) is (role in WRITERS)
    response = upload(client, b"name,cidr\ncorp,10.0.0.0/8\n")
    if role in WRITERS:
        plan = Plan.objects.get(organization=organization)
        assert response.status_code == 302
        assert response["Location"] == reverse("planning:import-detail", args=[plan.pk])
    else:
        assert response.status_code == 403
        assert Plan.objects.count() == 0


@pytest.mark.parametrize("role", ROLES)
def test_apply_from_the_import_page(make_member, organization, role):
    owner = console(make_member, organization, Role.OWNER if role != "owner" else "admin")
    upload(owner, b"name,cidr\ncorp,10.0.0.0/8\nsub,10.1.0.0/16\n")
    plan = Plan.objects.get(organization=organization)
    detail = reverse("planning:import-detail", args=[plan.pk])
    client = console(make_member, organization, role)
    page = client.get(detail)
    assert page.status_code == 200
    assert (b"apply-import" in page.content) is (role in WRITERS)
    response = client.post(detail)
    if role in WRITERS:
        assert response.status_code == 302
        assert Pool.objects.filter(organization=organization).count() == 2
        assert Pool.objects.get(name="sub").parent.name == "corp"
    else:
        assert response.status_code == 403
        assert Pool.objects.count() == 0


def test_a_bad_row_is_shown_and_a_bad_file_is_a_form_error(make_member, organization):
    client = console(make_member, organization, Role.OPERATOR)
    upload(client, b"name,cidr\ncorp,10.0.0.1/8\n")
    plan = Plan.objects.get(organization=organization)
    page = client.get(reverse("planning:import-detail", args=[plan.pk])).content.decode()
    assert "10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?" in page
    assert "apply-import" not in page
    response = upload(client, b"name,cidr\ncorp,=1+1\n")
    assert response.status_code == 400
    assert "The cell holds a spreadsheet formula" in response.content.decode()
    assert Plan.objects.count() == 1


def test_another_organizations_import_is_not_found(make_member, organization, other_organization):
    upload(
        console(make_member, other_organization, Role.OWNER), b"name,cidr\nx,10.0.0.0/8\n", "x.csv"
    )
    plan = Plan.objects.get(organization=other_organization)
    client = console(make_member, organization, Role.OWNER)
    detail = reverse("planning:import-detail", args=[plan.pk])
    assert client.get(detail).status_code == 404
    assert client.post(detail).status_code == 404
    assert b"x.csv" not in client.get(LIST).content
