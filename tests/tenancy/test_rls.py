"""Row-level security: the second wall, proven as a non-superuser application role.

CI connects as the superuser ``postgres``, which PostgreSQL never subjects to
row-level security; these tests create an ordinary role inside the test's
transaction (rolled back with it) and ``SET LOCAL ROLE`` to it.
"""

from __future__ import annotations

import pytest
from celery import shared_task
from django.core.management import call_command
from django.db import ProgrammingError, connection, transaction

from apps.tenancy import rls
from apps.tenancy.models import ApiToken, Membership
from apps.tenancy.rls import current_state, rls_bypass, tenant_context
from apps.tenancy.tasks import MaintenanceTask, TenantTask, current_organization
from cloudpam import context
from tests.rls import become

pytestmark = pytest.mark.django_db


def setting(name: str) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s, true)", [name])
        return cursor.fetchone()[0]


@pytest.fixture
def two_tenants(organization, other_organization, token_for) -> dict:
    """Tokens (and so memberships) in two organizations."""
    token_for(organization, "owner")
    token_for(other_organization, "owner")
    return {"acme": organization, "globex": other_organization}


def raw_organization_ids(table: str) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT organization_id FROM {table}")  # noqa: S608
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.postgres
def test_every_tenant_table_has_forced_rls_and_the_policy():
    status = rls.table_protection()
    assert {"tenancy_membership", "tenancy_apitoken"} <= set(status)
    for table, flags in status.items():
        assert flags == {"enabled": True, "forced": True, "policy": True}, table
    assert set(status) == set(rls.tenant_tables())
    # Idempotent: nothing left to change.
    assert rls.enable_row_level_security() == []


@pytest.mark.postgres
def test_raw_sql_sees_only_the_bound_organization(two_tenants, app_role):
    acme, globex = two_tenants["acme"].pk, two_tenants["globex"].pk
    become(app_role)
    for table in ("tenancy_membership", "tenancy_apitoken"):
        # No setting at all: fail closed.
        assert raw_organization_ids(table) == set(), table
        with tenant_context(two_tenants["acme"]):
            assert raw_organization_ids(table) == {acme}, table
        with tenant_context(two_tenants["globex"]):
            assert raw_organization_ids(table) == {globex}, table
        with rls_bypass():
            assert raw_organization_ids(table) == {acme, globex}, table
        assert raw_organization_ids(table) == set(), table


@pytest.mark.postgres
def test_a_forgotten_filter_still_sees_one_organization(two_tenants, app_role):
    become(app_role)
    with tenant_context(two_tenants["acme"]):
        # No for_organization(): the view "forgot" the filter.
        assert {t.organization_id for t in ApiToken.objects.all()} == {two_tenants["acme"].pk}
        assert Membership.objects.count() == 1


@pytest.mark.postgres
def test_writes_into_another_organization_are_refused(two_tenants, app_role):
    membership = Membership.objects.get(organization=two_tenants["globex"])
    become(app_role)
    with (
        tenant_context(two_tenants["acme"]),
        pytest.raises(ProgrammingError, match="row-level security"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO tenancy_apitoken (organization_id, membership_id, name, prefix, "
            "secret_hash, scopes, created_at) VALUES (%s, %s, 'x', 'zzzzzzzzzz', 'h', "
            "'[]', now())",
            [two_tenants["globex"].pk, membership.pk],
        )
    with tenant_context(two_tenants["acme"]):
        updated = ApiToken.objects.filter(organization=two_tenants["globex"]).update(name="stolen")
    assert updated == 0


@pytest.mark.postgres
def test_the_api_works_as_the_application_role(
    organization, other_organization, token_client, app_role
):
    """Token lookup (bypass), scoping (context) and the response, all as an ordinary role."""
    client = token_client(organization, "owner")
    token_client(other_organization, "owner")
    become(app_role)
    response = client.get("/api/v1/tokens/")
    assert response.status_code == 200
    assert [t["member"] for t in response.json()["results"]] == ["owner-acme@example.com"]
    members = client.get("/api/v1/organizations/acme/members/")
    assert members.json()["count"] == 1
    assert client.get("/api/v1/organizations/globex/members/").status_code == 404
    # The request put the connection back the way it found it.
    assert current_state() == rls.TenantState()
    assert setting(rls.ORGANIZATION_SETTING) in (None, "")


@pytest.mark.postgres
def test_the_settings_follow_the_context():
    connection.ensure_connection()
    with tenant_context(42):
        assert setting(rls.ORGANIZATION_SETTING) == "42"
        assert setting(rls.BYPASS_SETTING) == "off"
        with rls_bypass():
            assert setting(rls.ORGANIZATION_SETTING) == "42"
            assert setting(rls.BYPASS_SETTING) == "on"
        with tenant_context(None):
            assert setting(rls.ORGANIZATION_SETTING) == ""
        assert setting(rls.ORGANIZATION_SETTING) == "42"
    assert setting(rls.ORGANIZATION_SETTING) in (None, "")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_reopened_connection_gets_the_setting():
    """A connection opened inside a context (reconnects, CONN_MAX_AGE) is set as it opens."""
    with tenant_context(7):
        connection.close()
        assert setting(rls.ORGANIZATION_SETTING) == "7"
    connection.close()
    assert setting(rls.ORGANIZATION_SETTING) in (None, "")


@pytest.mark.postgres
def test_migrations_run_with_the_bypass_and_leave_it_off():
    rls.on_pre_migrate(sender=None)
    assert setting(rls.BYPASS_SETTING) == "on"
    rls.on_post_migrate(sender=None)
    assert setting(rls.BYPASS_SETTING) == "off"


@pytest.mark.postgres
def test_enable_rls_command_checks_the_tables(capsys):
    call_command("enable_rls", "--check")
    assert "tenant tables have row-level security forced" in capsys.readouterr().out


def test_enable_rls_command_says_what_it_did(capsys):
    call_command("enable_rls")
    out = capsys.readouterr().out
    if connection.vendor == "postgresql":
        assert "Row-level security forced on" in out
        assert "(0 changed)" in out
    else:
        assert out == "Row-level security needs PostgreSQL; nothing to do on this database.\n"


# ---------------------------------------------------------------- tasks


@shared_task(base=TenantTask, name="tests.tenancy.report_context")
def report_context(*, organization_id: int) -> dict:
    organization = current_organization()
    database = setting(rls.ORGANIZATION_SETTING) if connection.vendor == "postgresql" else None
    return {
        "organization": organization.slug,
        "state": current_state().organization_id,
        "database": database,
        "actor": context.get_actor(),
    }


@shared_task(base=MaintenanceTask, name="tests.tenancy.report_bypass")
def report_bypass() -> bool:
    return current_state().bypass


def test_tenant_tasks_run_in_their_organization(organization):
    result = report_context.delay(organization_id=organization.pk).get()
    assert result["organization"] == "acme"
    assert result["state"] == organization.pk
    assert result["actor"] == {
        "user": None,
        "token": None,
        "system": "tests.tenancy.report_context",
    }
    if connection.vendor == "postgresql":
        assert result["database"] == str(organization.pk)
    assert current_state() == rls.TenantState()


def test_a_tenant_task_needs_its_organization():
    with pytest.raises(TypeError, match="is a tenant task: pass organization_id"):
        report_context()


def test_maintenance_tasks_bypass_explicitly():
    assert report_bypass.delay().get() is True
    assert current_state().bypass is False


def test_a_tenant_task_acts_for_the_user_who_started_it(organization, user):
    with context.bound(organization=organization, actor={"user": user}):
        result = report_context.delay(organization_id=organization.pk).get()
    assert result["actor"]["user"] == user
    assert result["actor"]["system"] == "tests.tenancy.report_context"
    assert current_actor_of(result["actor"]).user_id == user.pk


def current_actor_of(bound: dict):
    from cloudpam.context import actor_from

    return actor_from(user=bound["user"], token=bound["token"], system=bound["system"])
