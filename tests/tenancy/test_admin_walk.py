"""The admin walk: every admin page and action, for every role, allowed where roles.py says.

``PAGES`` names, for each registered admin, the permission each page needs, and
``ACTIONS`` the permission of each action: a name from ``roles.py``, ``SUPERUSER``
(no role reaches the model) or ``NOBODY`` (not even a superuser, e.g. editing the
audit trail). Whether a person may is then computed from ``roles.py``, never
written per case. Each person walks the changelist, the add page, the change page
and the delete page of every admin, and posts every action against a row of their
organization; an allowed action must take effect and a refused one must not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.analysis import services as analysis_services
from apps.analysis.choices import RecommendationStatus
from apps.analysis.models import AnalysisRun, Recommendation, UtilizationSnapshot
from apps.audit.models import AuditChain, AuditEvent
from apps.cloud.models import CloudAccount
from apps.cloud.services import account_create
from apps.discovery import services as discovery_services
from apps.discovery.ingest import clean_batch
from apps.discovery.models import Agent, IngestBatch, SyncRun
from apps.planning import ai_services, llm_services
from apps.planning.llm.base import ProviderSpec, Usage
from apps.planning.models import AIMessage
from apps.planning.services import plan_create
from apps.planning.template_services import org_template_create
from apps.pools import services as pool_services
from apps.pools.models import Pool
from apps.tenancy.choices import Role
from apps.tenancy.models import (
    ApiToken,
    Membership,
    Organization,
    TablePreference,
    User,
    UserSession,
)
from apps.tenancy.roles import role_has
from apps.tenancy.services import api_token_create
from apps.tenancy.sso import services as sso_services
from apps.tenancy.sso.models import IdentityProvider
from tests.actors import TEST_ACTOR
from tests.discovery import factories as discovery_factories

pytestmark = pytest.mark.django_db

SUPERUSER = "superuser"
OUTSIDER = "non-member"
NOBODY = "nobody"
PEOPLE = [*(role.value for role in Role), OUTSIDER, SUPERUSER]
OPERATIONS = ("view", "add", "change", "delete")


def _only(permission: str) -> dict[str, str]:
    return dict.fromkeys(OPERATIONS, permission)


def _read_only(permission: str) -> dict[str, str]:
    return {"view": permission, "add": NOBODY, "change": NOBODY, "delete": NOBODY}


PAGES: dict[str, dict[str, str]] = {
    "tenancy.user": _only(SUPERUSER),
    "tenancy.organization": {
        "view": "organization.view",
        "add": SUPERUSER,
        "change": "organization.change",
        "delete": "organization.delete",
    },
    "tenancy.membership": {
        "view": "members.view",
        "add": "members.manage",
        "change": "members.manage",
        "delete": "members.manage",
    },
    "tenancy.apitoken": _read_only("tokens.view"),
    "tenancy.identityprovider": _only("sso.manage"),
    "tenancy.grouprolemapping": _read_only("sso.manage"),
    "pools.pool": {"view": "pools.view", "add": "pools.change", "change": "pools.change"}
    | {"delete": NOBODY},
    "cloud.cloudaccount": {
        "view": "accounts.view",
        "add": "accounts.change",
        "change": "accounts.change",
        "delete": NOBODY,
    },
    "analysis.utilizationsnapshot": _read_only("analysis.view"),
    "analysis.analysisrun": _read_only("analysis.view"),
    "analysis.recommendation": _read_only("analysis.view"),
    "planning.plan": _read_only("plans.view"),
    "planning.organizationtemplate": {
        "view": "plans.view",
        "add": "templates.manage",
        "change": "templates.manage",
        "delete": "templates.manage",
    },
    "planning.llmproviderconfig": {
        "view": "ai.manage",
        "add": "ai.manage",
        "change": "ai.manage",
        "delete": "ai.manage",
    },
    "planning.llmusagerecord": _read_only("ai.manage"),
    "planning.aisession": {"view": "ai.view", "add": NOBODY, "change": NOBODY, "delete": "ai.use"},
    "planning.aimessage": _read_only("ai.view"),
    "audit.auditevent": _read_only("audit.view"),
    "audit.auditchain": _read_only("audit.view"),
    "discovery.agent": _read_only("agents.view"),
    "discovery.agentprovisioningtoken": _read_only("agents.manage"),
    "discovery.ingestbatch": _read_only("agents.view"),
    "discovery.discoveredresource": _read_only("discovery.view"),
    "discovery.syncrun": _read_only("discovery.view"),
    "discovery.driftfinding": _read_only("discovery.view"),
    "auth.group": _only(SUPERUSER),
    "django_celery_beat.periodictask": _only(SUPERUSER),
    "django_celery_beat.clockedschedule": _only(SUPERUSER),
    "django_celery_beat.crontabschedule": _only(SUPERUSER),
    "django_celery_beat.solarschedule": _only(SUPERUSER),
    "django_celery_beat.intervalschedule": _only(SUPERUSER),
    # MFA devices and sessions belong to users, not organizations: superusers only,
    # read-only but for the reset and revoke actions.
    "otp_totp.totpdevice": _read_only(SUPERUSER),
    "otp_static.staticdevice": _read_only(SUPERUSER),
    "tenancy.usersession": _read_only(SUPERUSER),
    "tenancy.tablepreference": {
        "view": SUPERUSER,
        "add": NOBODY,
        "change": NOBODY,
        "delete": SUPERUSER,
    },
}


def may(person: str, permission: str) -> bool:
    """Return whether ``person`` (a role, OUTSIDER or SUPERUSER) may use ``permission``."""
    if permission == NOBODY:
        return False
    if person == SUPERUSER:
        return True
    if person == OUTSIDER or permission == SUPERUSER:
        return False
    return role_has(person, permission)


# ---------------------------------------------------------------- the rows walked


@dataclass
class World:
    organization: Organization
    owner: User
    person: User
    people: dict[str, User]

    def pool(self, cidr: str, *, deleted: bool = False) -> Pool:
        pool = pool_services.pool_create(
            organization=self.organization,
            actor=TEST_ACTOR,
            name=f"walk {cidr}",
            cidr=cidr,
            parent=self.root,
        )
        if deleted:
            pool_services.pool_delete(pool=pool, actor=TEST_ACTOR)
            pool.refresh_from_db()
        return pool

    @property
    def root(self) -> Pool:
        return Pool.objects.get(organization=self.organization, cidr="10.0.0.0/16")


def _interval() -> IntervalSchedule:
    return IntervalSchedule.objects.create(every=10, period=IntervalSchedule.SECONDS)


_serial = iter(range(1, 10**6))


def _task(enabled: bool = True) -> PeriodicTask:
    return PeriodicTask.objects.create(
        name=f"walk task {next(_serial)}", task="walk.task", interval=_interval(), enabled=enabled
    )


def _member(world: World, role: str = Role.VIEWER) -> Membership:
    user = User.objects.create_user(f"walk-{next(_serial)}@example.com", "x")
    return Membership.objects.create(user=user, organization=world.organization, role=role)


def _own_token(world: World) -> ApiToken:
    membership = Membership.objects.filter(user=world.person, organization=world.organization)
    owner = Membership.objects.get(user=world.owner, organization=world.organization)
    token, _value = api_token_create(
        membership=membership.first() or owner, name=f"walk {next(_serial)}", scopes=["read"]
    )
    return token


def _account(world: World, auth_method: str = "access_keys") -> CloudAccount:
    # Access keys without a stored secret: a connectivity test never leaves the database.
    # (An assumed role needs no stored secret: a sync run of it can be queued.)
    return account_create(
        organization=world.organization,
        actor=TEST_ACTOR,
        name=f"walk account {next(_serial)}",
        provider="aws",
        external_id=f"{next(_serial):012d}",
        auth_method=auth_method,
        **(
            {"role_arn": "arn:aws:iam::123456789012:role/walk"}
            if auth_method != "access_keys"
            else {}
        ),
    )


def _plan(world: World) -> Any:
    return plan_create(
        organization=world.organization,
        actor=TEST_ACTOR,
        title=f"walk plan {next(_serial)}",
        source="template",
        operations=[
            {
                "op": "create",
                "ref": "a",
                "name": "a",
                "cidr": f"10.{next(_serial) % 200 + 20}.0.0/24",
            }
        ],
    )


# One row of each admin's model, in the walked organization where it has one.
ROWS: dict[str, Callable[[World], Any]] = {
    "tenancy.user": lambda world: User.objects.create_user(f"row-{next(_serial)}@example.com"),
    "tenancy.organization": lambda world: world.organization,
    "tenancy.membership": lambda world: _member(world),
    "tenancy.apitoken": _own_token,
    "tenancy.identityprovider": lambda world: _identity_provider(world),
    "tenancy.grouprolemapping": lambda world: sso_services.group_mapping_create(
        provider=_identity_provider(world), actor=TEST_ACTOR, group="walkers", role="viewer"
    ),
    "pools.pool": lambda world: world.root,
    "cloud.cloudaccount": _account,
    "analysis.utilizationsnapshot": lambda world: UtilizationSnapshot.objects.filter(
        organization=world.organization
    ).first(),
    "analysis.analysisrun": lambda world: AnalysisRun.objects.create(
        organization=world.organization, all_pools=True
    ),
    "analysis.recommendation": lambda world: Recommendation.objects.filter(
        organization=world.organization
    ).first(),
    "planning.plan": lambda world: _plan(world),
    "planning.llmproviderconfig": lambda world: llm_services.llm_provider_create(
        organization=world.organization,
        actor=TEST_ACTOR,
        name=f"walk model {next(_serial)}",
        provider="openai",
        model="gpt-walk",
    ),
    "planning.llmusagerecord": lambda world: llm_services.llm_usage_record(
        organization=world.organization,
        actor=TEST_ACTOR,
        spec=ProviderSpec(provider="openai", model="gpt-walk"),
        usage=Usage(input_tokens=10, output_tokens=5),
    ),
    "planning.aisession": lambda world: ai_services.ai_session_create(
        organization=world.organization, actor=TEST_ACTOR, title=f"walk chat {next(_serial)}"
    ),
    "planning.aimessage": lambda world: AIMessage.objects.create(
        organization=world.organization,
        session=ai_services.ai_session_create(
            organization=world.organization, actor=TEST_ACTOR, title=f"walk {next(_serial)}"
        ),
        role="user",
        content="allocate a /24",
    ),
    "planning.organizationtemplate": lambda world: org_template_create(
        organization=world.organization,
        actor=TEST_ACTOR,
        name=f"walk template {next(_serial)}",
        template="flat",
        params={"supernet": "10.9.0.0/16", "tiers": [{"name": "s", "prefix_length": 24}]},
    ),
    "audit.auditevent": lambda world: AuditEvent.objects.filter(
        organization=world.organization
    ).first(),
    "audit.auditchain": lambda world: AuditChain.objects.filter(pk=world.organization.pk).first(),
    "discovery.agent": lambda world: _agent(world),
    "discovery.agentprovisioningtoken": lambda world: discovery_factories.provisioning_token(
        world.organization, f"walk {next(_serial)}"
    )[0],
    "discovery.ingestbatch": lambda world: _ingest_batch(world),
    "discovery.discoveredresource": lambda world: discovery_factories.resource(_account(world)),
    "discovery.syncrun": lambda world: discovery_factories.sync_run(_account(world)),
    "discovery.driftfinding": lambda world: _drift_finding(world),
    "auth.group": lambda world: Group.objects.create(name=f"walk {next(_serial)}"),
    "django_celery_beat.periodictask": lambda world: _task(),
    "django_celery_beat.clockedschedule": lambda world: ClockedSchedule.objects.create(
        clocked_time=timezone.now()
    ),
    "django_celery_beat.crontabschedule": lambda world: CrontabSchedule.objects.create(),
    "django_celery_beat.solarschedule": lambda world: SolarSchedule.objects.create(
        event="sunrise", latitude=next(_serial) % 90, longitude=0
    ),
    "django_celery_beat.intervalschedule": lambda world: _interval(),
    "otp_totp.totpdevice": lambda world: TOTPDevice.objects.create(
        user=world.owner, name=f"walk {next(_serial)}", confirmed=True
    ),
    "otp_static.staticdevice": lambda world: StaticDevice.objects.create(
        user=world.owner, name=f"walk {next(_serial)}", confirmed=True
    ),
    "tenancy.tablepreference": lambda world: TablePreference.objects.create(
        user=world.owner, table=f"walk-{next(_serial)}", columns=["name"], page_size=25
    ),
    "tenancy.usersession": lambda world: UserSession.objects.create(
        user=world.owner,
        session_key_hash="0" * 64,
        last_organization=world.organization,
        created_at=timezone.now(),
        last_seen_at=timezone.now(),
    ),
}


def _identity_provider(world: World) -> IdentityProvider:
    # A closed loopback port as issuer: a discovery check fails at once, and is recorded.
    return sso_services.identity_provider_create(
        organization=world.organization,
        actor=TEST_ACTOR,
        name=f"walk idp {next(_serial)}",
        issuer="http://127.0.0.1:9",
        client_id="walk-client",
    )


def _agent(world: World, *, approved: bool = False) -> Agent:
    return discovery_factories.agent(
        world.organization, f"walk {next(_serial)}", approved=approved
    )[0]


def _ingest_batch(world: World) -> IngestBatch:
    agent = _agent(world, approved=True)
    batch = clean_batch(discovery_factories.batch(f"walk-{next(_serial)}", 1))
    return discovery_services.ingest_batch_store(agent=agent, batch=batch)[0]


def _drift_finding(world: World) -> Any:
    from apps.discovery.models import DriftFinding

    resource = discovery_factories.resource(_account(world))
    return DriftFinding.objects.create(
        organization=world.organization,
        account=resource.account,
        kind="unmanaged",
        severity="info",
        key=f"unmanaged:resource:{resource.pk}",
        resource=resource,
        message=f"walk {next(_serial)}",
        suggestion={"action": "ignore", "params": {"resource": resource.pk}},
    )


def _gone(obj: Any) -> bool:
    return not type(obj).objects.filter(pk=obj.pk).exists()


def _fresh(obj: Any) -> Any:
    return type(obj).objects.get(pk=obj.pk)


def _capacity_recommendation(world: World) -> Recommendation:
    return Recommendation.objects.get(
        organization=world.organization, type="capacity", status=RecommendationStatus.PENDING
    )


@dataclass(frozen=True)
class Action:
    """An admin action, the permission it needs, a row it acts on, and how it shows."""

    permission: str
    row: Callable[[World], Any]
    # None: the action is only checked to be offered or not (it deletes the
    # walked organization, or runs a Celery task).
    done: Callable[[Any], bool] | None
    # The form of an action that asks for input on its confirmation page.
    data: dict[str, str] = field(default_factory=dict)
    # Asks first: without "post" it answers its confirmation page and writes nothing.
    confirms: bool = False


def _delete_selected(label: str, permission: str = SUPERUSER) -> Action:
    return Action(permission, ROWS[label], _gone)


ACTIONS: dict[str, dict[str, Action]] = {
    "otp_totp.totpdevice": {
        "reset_mfa": Action(SUPERUSER, ROWS["otp_totp.totpdevice"], _gone),
    },
    "otp_static.staticdevice": {
        "reset_mfa": Action(SUPERUSER, ROWS["otp_static.staticdevice"], _gone),
    },
    "tenancy.usersession": {
        "revoke_sessions": Action(
            SUPERUSER,
            ROWS["tenancy.usersession"],
            lambda user_session: _fresh(user_session).revoked_at is not None,
        )
    },
    "tenancy.user": {"delete_selected": _delete_selected("tenancy.user")},
    "tenancy.tablepreference": {"delete_selected": _delete_selected("tenancy.tablepreference")},
    "tenancy.organization": {
        "delete_selected": Action("organization.delete", ROWS["tenancy.organization"], None)
    },
    "tenancy.membership": {
        "delete_selected": _delete_selected("tenancy.membership", "members.manage")
    },
    "tenancy.apitoken": {
        "revoke_tokens": Action(
            "tokens.create", _own_token, lambda token: _fresh(token).revoked_at is not None
        )
    },
    "pools.pool": {
        "allocate_child": Action(
            "pools.change",
            lambda world: world.pool(f"10.0.{next(_serial) % 200 + 20}.0/24"),
            lambda pool: Pool.objects.filter(parent=pool, name="walk child").exists(),
            data={"prefix_length": "28", "name": "walk child", "type": "subnet"}
            | {"status": "active", "strategy": "first_fit"},
            confirms=True,
        ),
        "run_analysis": Action(
            "analysis.change",
            lambda world: world.root,
            # In Python: SQLite has no JSON "contains" lookup.
            lambda pool: any(
                pool.pk in (pools or [])
                for pools in AnalysisRun.objects.values_list("pools", flat=True)
            ),
            confirms=True,
        ),
        "soft_delete_recursive": Action(
            "pools.change",
            lambda world: world.pool("10.0.1.0/24"),
            lambda pool: _fresh(pool).deleted_at is not None,
        ),
        "restore": Action(
            "pools.change",
            lambda world: world.pool("10.0.2.0/24", deleted=True),
            lambda pool: _fresh(pool).deleted_at is None,
            confirms=True,
        ),
        "purge": Action(
            "pools.purge", lambda world: world.pool("10.0.3.0/24", deleted=True), _gone
        ),
    },
    "tenancy.identityprovider": {
        "delete_selected": _delete_selected("tenancy.identityprovider", "sso.manage"),
        "check_discovery": Action(
            "sso.manage",
            ROWS["tenancy.identityprovider"],
            lambda provider: _fresh(provider).last_checked_at is not None,
        ),
    },
    "tenancy.grouprolemapping": {},
    "cloud.cloudaccount": {
        "sync_now": Action(
            "discovery.change",
            lambda world: _account(world, auth_method="assume_role"),
            lambda account: SyncRun.objects.filter(account=account).exists(),
            confirms=True,
        ),
        "soft_delete": Action(
            "accounts.change", _account, lambda account: _fresh(account).deleted_at is not None
        ),
        "check_connectivity": Action(
            "accounts.change", _account, lambda account: _fresh(account).last_checked_at is not None
        ),
    },
    "analysis.utilizationsnapshot": {},
    "analysis.analysisrun": {},
    "analysis.recommendation": {
        "apply_selected": Action(
            "analysis.change",
            _capacity_recommendation,
            lambda rec: _fresh(rec).status == RecommendationStatus.APPLIED,
        )
    },
    "planning.plan": {
        "apply_plans": Action(
            "plans.apply",
            lambda world: _plan(world),
            lambda plan: _fresh(plan).status == "applied",
            confirms=True,
        )
    },
    "planning.organizationtemplate": {},
    "planning.llmproviderconfig": {
        "delete_selected": _delete_selected("planning.llmproviderconfig", "ai.manage")
    },
    "planning.llmusagerecord": {},
    "planning.aisession": {"delete_selected": _delete_selected("planning.aisession", "ai.use")},
    "planning.aimessage": {},
    "audit.auditevent": {},
    "audit.auditchain": {},
    "discovery.agent": {
        "approve_agents": Action(
            "agents.manage",
            _agent,
            lambda agent: _fresh(agent).status == "approved",
            confirms=True,
        ),
        "reject_agents": Action(
            "agents.manage", _agent, lambda agent: _fresh(agent).status == "rejected"
        ),
        "revoke_agents": Action(
            "agents.manage", _agent, lambda agent: _fresh(agent).status == "revoked"
        ),
    },
    "discovery.agentprovisioningtoken": {
        "revoke_provisioning_tokens": Action(
            "agents.manage",
            ROWS["discovery.agentprovisioningtoken"],
            lambda token: _fresh(token).revoked_at is not None,
        )
    },
    "discovery.ingestbatch": {},
    "discovery.discoveredresource": {},
    "discovery.syncrun": {},
    "discovery.driftfinding": {},
    "auth.group": {"delete_selected": _delete_selected("auth.group")},
    "django_celery_beat.periodictask": {
        "delete_selected": _delete_selected("django_celery_beat.periodictask"),
        "enable_tasks": Action(
            SUPERUSER, lambda world: _task(enabled=False), lambda task: _fresh(task).enabled
        ),
        "disable_tasks": Action(SUPERUSER, lambda world: _task(), lambda t: not _fresh(t).enabled),
        "toggle_tasks": Action(SUPERUSER, lambda world: _task(), lambda t: not _fresh(t).enabled),
        "run_tasks": Action(SUPERUSER, lambda world: _task(), None),
    },
    **{
        f"django_celery_beat.{name}": {
            "delete_selected": _delete_selected(f"django_celery_beat.{name}")
        }
        for name in ("clockedschedule", "crontabschedule", "solarschedule", "intervalschedule")
    },
}


def _url(label: str, suffix: str = "") -> str:
    app_label, model_name = label.split(".")
    return f"/admin/{app_label}/{model_name}/{suffix}"


@pytest.fixture
def world(make_member: Callable[..., User], settle_chains: Callable[[], None]) -> World:
    """An organization with a member of every role, pools, analyses and a recommendation."""
    organization = Organization.objects.create(name="Walk", slug="walk")
    people = {role.value: make_member(organization, role) for role in Role}
    people[OUTSIDER] = User.objects.create_user("outsider@example.com", "x")
    people[SUPERUSER] = User.objects.create_superuser("root@example.com", "x")
    for user in people.values():
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    # A busy VPC (87.5 % used) makes a capacity recommendation.
    region = pool_services.pool_create(
        organization=organization, actor=TEST_ACTOR, name="region", cidr="10.0.0.0/16"
    )
    busy = pool_services.pool_create(
        organization=organization, actor=TEST_ACTOR, name="busy", cidr="10.0.8.0/24", parent=region
    )
    for cidr in ("10.0.8.0/25", "10.0.8.128/26", "10.0.8.192/27"):
        pool_services.pool_create(
            organization=organization, actor=TEST_ACTOR, name=cidr, cidr=cidr, parent=busy
        )
    analysis_services.snapshot_take(organization=organization)
    analysis_services.recommendation_generate(organization=organization)
    # The chain row the walk opens exists once events are chained (after commit on PostgreSQL).
    settle_chains()
    return World(organization, people[Role.OWNER], people[Role.OWNER], people)


def test_the_tables_cover_every_registered_admin_and_action(rf: Any) -> None:
    registered = {model._meta.label_lower for model in admin.site._registry}
    assert set(PAGES) == registered
    assert set(ACTIONS) == registered
    root = User(email="root@example.com", is_staff=True, is_superuser=True, is_active=True)
    for model, model_admin in admin.site._registry.items():
        request = rf.get("/admin/")
        request.user = root
        offered = set(model_admin.get_actions(request))
        label = model._meta.label_lower
        declared = {name for name, action in ACTIONS[label].items() if action.permission != NOBODY}
        assert offered == declared, label


@pytest.mark.parametrize("person", PEOPLE)
def test_admin_walk(world: World, person: str) -> None:
    world.person = world.people[person]
    # Every Django model permission too, as a staff group might hand out: the role
    # alone must decide (the viewer who applied a recommendation held these).
    world.person.user_permissions.set(Permission.objects.all())
    client = Client()
    client.force_login(world.person)
    problems: list[str] = []

    def expect(what: str, allowed: bool, status: int) -> None:
        wanted = 200 if allowed else 403
        if status != wanted:
            problems.append(f"{what}: {status}, expected {wanted}")

    index = client.get("/admin/")
    shown = {
        f"{app['app_label']}.{entry['object_name'].lower()}"
        for app in index.context["app_list"]
        for entry in app["models"]
    }
    listed = {
        label for label, pages in PAGES.items() if any(may(person, p) for p in pages.values())
    }
    if shown != listed:
        problems.append(f"index shows {sorted(shown ^ listed)} wrongly")

    for label, pages in PAGES.items():
        allowed = {operation: may(person, pages[operation]) for operation in OPERATIONS}
        readable = allowed["view"] or allowed["change"]
        changelist = client.get(_url(label))
        expect(f"{label} changelist", readable, changelist.status_code)
        expect(f"{label} add", allowed["add"], client.get(_url(label, "add/")).status_code)

        row = ROWS[label](world)
        assert row is not None, label
        change = client.get(_url(label, f"{row.pk}/change/"))
        expect(f"{label} change page", readable, change.status_code)
        if (
            change.status_code == 200
            and change.context["has_change_permission"] != allowed["change"]
        ):
            problems.append(f"{label} change page offers editing: {not allowed['change']}")
        delete = client.get(_url(label, f"{row.pk}/delete/"))
        expect(f"{label} delete page", allowed["delete"], delete.status_code)

        offered: set[str] = set()
        if changelist.status_code == 200 and changelist.context.get("action_form"):
            choices = changelist.context["action_form"].fields["action"].choices
            offered = {name for name, _label in choices if name}
        expected = {
            name for name, action in ACTIONS[label].items() if may(person, action.permission)
        }
        if offered != expected:
            problems.append(f"{label} offers {sorted(offered)}, expected {sorted(expected)}")

        for name, action in ACTIONS[label].items():
            if action.done is None:
                continue
            target = action.row(world)
            client.post(
                _url(label),
                {"action": name, "_selected_action": [target.pk], "post": "yes", **action.data},
            )
            if action.done(target) != may(person, action.permission):
                problems.append(f"{label} {name} took effect: {action.done(target)}")

    assert not problems, "\n".join(problems)


def _autocomplete_fields() -> list[tuple[str, str, str]]:
    """Return (admin label, field, target label) of every autocomplete field of the admins."""
    found = []
    for model, model_admin in admin.site._registry.items():
        for name in model_admin.autocomplete_fields:
            target = model._meta.get_field(name).related_model._meta.label_lower
            found.append((model._meta.label_lower, name, target))
    # The pool's parent is the form's own field (the model's is not editable).
    found.append(("pools.pool", "parent", "pools.pool"))
    return found


@pytest.mark.parametrize("person", PEOPLE)
def test_autocompletes_list_only_the_rows_the_person_may_see(world: World, person: str) -> None:
    """Every admin picker answers as its target's admin does: the person's organization only."""
    other = Organization.objects.create(name="Walk elsewhere", slug="walk-elsewhere")
    foreign = {
        "tenancy.organization": other,
        "pools.pool": pool_services.pool_create(
            organization=other, actor=TEST_ACTOR, name="walk foreign", cidr="10.0.0.0/16"
        ),
        "auth.group": Group.objects.create(name="walk group"),
    }
    client = Client()
    client.force_login(world.people[person])
    problems = []
    for label, name, target in _autocomplete_fields():
        app_label, model_name = label.split(".")
        response = client.get(
            "/admin/autocomplete/",
            {"app_label": app_label, "model_name": model_name, "field_name": name, "term": ""},
        )
        readable = any(may(person, PAGES[target][operation]) for operation in ("view", "change"))
        if response.status_code != (200 if readable else 403):
            problems.append(f"{label}.{name}: {response.status_code}")
            continue
        if response.status_code != 200:
            continue
        shown = {row["id"] for row in response.json()["results"]}
        if not shown:
            problems.append(f"{label}.{name} lists nothing")
        if str(foreign[target].pk) in shown and person != SUPERUSER:
            problems.append(f"{label}.{name} lists another organization's {target}")
    assert not problems, "\n".join(problems)


def test_every_editable_relation_of_the_project_admins_is_a_picker(rf: Any) -> None:
    from django.contrib.admin.widgets import AutocompleteMixin
    from django.forms import ModelChoiceField

    root = User(email="root@example.com", is_staff=True, is_superuser=True, is_active=True)
    raw = []
    for model, model_admin in admin.site._registry.items():
        if not model.__module__.startswith("apps."):
            continue  # third-party models (Celery schedules, groups) keep their admin
        request = rf.get("/admin/")
        request.user = root
        request.organization = None
        form = model_admin.get_form(request)
        for name, form_field in form.base_fields.items():
            widget = getattr(form_field.widget, "widget", form_field.widget)
            if isinstance(form_field, ModelChoiceField) and not isinstance(
                widget, AutocompleteMixin
            ):
                raw.append(f"{model._meta.label_lower}.{name}")
    assert not raw


@pytest.mark.parametrize(
    ("label", "name"),
    [
        (label, name)
        for label, actions in ACTIONS.items()
        for name, a in actions.items()
        if a.confirms
    ],
)
def test_actions_that_ask_first_write_nothing_until_confirmed(
    world: World, label: str, name: str
) -> None:
    action = ACTIONS[label][name]
    client = Client()
    client.force_login(world.people[SUPERUSER])
    target = action.row(world)
    chosen = {"action": name, "_selected_action": [target.pk]}
    page = client.post(_url(label), chosen)
    assert page.status_code == 200
    assert "admin/confirm_action.html" in [template.name for template in page.templates]
    assert f'href="{_url(label)}" class="button cancel-link"' in page.content.decode()
    # Going back is a link to the changelist: it never posts.
    assert client.get(_url(label)).status_code == 200
    assert not action.done(target)
    assert action.done is not None
    client.post(_url(label), {**chosen, "post": "yes", **action.data})
    assert action.done(target)
