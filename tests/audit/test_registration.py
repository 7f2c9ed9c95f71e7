"""Every model is audited or excluded with a reason; secrets never enter an event."""

import pytest
from auditlog.registry import auditlog
from django.apps import apps
from django.contrib.auth.models import Group

from apps.audit.models import AuditEvent
from apps.audit.registration import (
    IGNORED_FIELDS,
    REDACTED,
    SENSITIVE_FIELD,
    UNAUDITED_MODELS,
    model_key,
    redact,
)
from apps.tenancy.models import Membership, Organization, User

pytestmark = pytest.mark.django_db


def test_every_model_of_the_registry_is_audited_or_excluded_with_a_reason():
    for model in apps.get_models():
        key = model_key(model)
        if key in UNAUDITED_MODELS:
            assert not auditlog.contains(model), key
            assert len(UNAUDITED_MODELS[key]) > 20, f"{key} needs a real reason"
        else:
            assert auditlog.contains(model), f"{key} is neither audited nor excluded"


def test_every_project_model_is_audited():
    project = [m for m in apps.get_models() if m.__module__.startswith("apps.")]
    audited = [m for m in project if auditlog.contains(m)]
    # Every exclusion of a project model is deliberate, with its reason in UNAUDITED_MODELS.
    assert {model_key(m) for m in project} - {model_key(m) for m in audited} == {
        "audit.auditevent",
        "audit.auditchain",
        "analysis.utilizationsnapshot",
        "tenancy.usersession",
        # Written in bulk by sync runs; each run's sync event carries the counts.
        "discovery.discoveredresource",
        # The digest of the estate a reconciliation verified, replaced by each one.
        "discovery.reconciliationstate",
        # The ledger of model calls: one row per call, read through the usage API.
        "planning.llmusagerecord",
        # The chat transcript, append-only; sessions and the plans they propose are audited.
        "planning.aimessage",
        # A user's own column and page-size choice of a console table.
        "tenancy.tablepreference",
        # Live children per pool, kept by database triggers; the pools are audited.
        "pools.poolchildlengths",
    }
    assert {model_key(m) for m in audited} >= {
        "tenancy.user",
        "tenancy.organization",
        "tenancy.membership",
    }


def test_exclusions_name_only_models_that_exist():
    existing = {model_key(m) for m in apps.get_models()}
    assert set(UNAUDITED_MODELS) <= existing | {"auditlog.logentry"}
    for key, fields in IGNORED_FIELDS.items():
        model = next((m for m in apps.get_models() if model_key(m) == key), None)
        if model is None:
            continue  # a model of a later issue (e.g. the API token) is ignored until it exists
        names = {f.name for f in model._meta.get_fields()}
        assert set(fields) & names, key


def test_sensitive_fields_of_audited_models_are_redacted():
    sensitive = {
        (model_key(m), f.name)
        for m in apps.get_models()
        if auditlog.contains(m)
        for f in m._meta.concrete_fields
        if SENSITIVE_FIELD.search(f.name)
    }
    assert ("tenancy.user", "password") in sensitive
    changes = redact({"password": ["old-hash", "new-hash"], "name": ["a", "b"]})
    assert changes == {"password": [REDACTED, REDACTED], "name": ["a", "b"]}
    assert redact({"secret_hash": [None, "x"]}) == {"secret_hash": [None, REDACTED]}


def test_a_password_change_is_recorded_without_the_hash(user, trail):
    user.set_password("another long passphrase")
    user.save()
    (event,) = trail(action="update", object_type="user")
    assert event.changes == {"password": [REDACTED, REDACTED]}
    stored = str(AuditEvent.objects.values_list("changes", flat=True)[::1])
    assert user.password not in stored
    assert "md5$" not in stored


def test_last_login_alone_is_not_an_event(user, trail):
    from django.utils import timezone

    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    assert trail(action="update", object_type="user") == []


def test_created_rows_record_their_own_fields_only(organization, trail):
    (event,) = trail(action="create", object_type="organization")
    assert set(event.changes) == {
        "id",
        "name",
        "slug",
        "settings",
        "quotas",
        "created_at",
        "updated_at",
    }
    assert event.changes["name"] == [None, "Acme Networks"]
    assert event.changes["created_at"][1].endswith("Z")
    assert event.organization_id == organization.pk


def test_deleted_rows_record_what_they_were(organization, trail):
    pk = organization.pk
    organization.delete()
    (event,) = trail(action="delete", object_type="organization")
    assert event.organization_id == pk
    assert event.object_pk == str(pk)
    assert event.changes["slug"] == ["acme", None]


def test_many_to_many_changes_record_before_and_after(user, trail):
    ops, net = Group.objects.create(name="ops"), Group.objects.create(name="net")
    user.groups.add(ops)
    user.groups.add(net)
    ops.user_set.remove(user)  # from the other side
    user.groups.clear()
    changes = [e.changes["groups"] for e in trail(action="update", object_type="user")]
    assert changes == [
        [[], ["ops"]],
        [["ops"], ["net", "ops"]],
        [["net", "ops"], ["net"]],
        [["net"], []],
    ]


def test_adding_what_is_already_there_records_nothing(user, trail):
    ops = Group.objects.create(name="ops")
    user.groups.add(ops)
    user.groups.add(ops)
    assert len(trail(action="update", object_type="user")) == 1


def test_a_user_event_goes_to_each_of_its_organizations(
    organization, other_organization, make_member, trail
):
    person = make_member(organization, "viewer", email="dual@example.com")
    Membership.objects.create(user=person, organization=other_organization, role="operator")
    person.full_name = "Dual Member"
    person.save()
    events = trail(action="update", object_type="user", object_pk=str(person.pk))
    assert [e.organization_id for e in events] == [organization.pk, other_organization.pk]
    assert all(e.changes == {"full_name": ["", "Dual Member"]} for e in events)


def test_a_user_without_organization_goes_to_the_global_chain(trail):
    User.objects.create_user("loner@example.com", "a long enough password")
    (event,) = trail(action="create", object_type="user")
    assert event.organization_id is None


def test_membership_changes_use_the_membership_vocabulary(organization, make_member, trail):
    person = make_member(organization, "viewer", email="member@example.com")
    membership = Membership.objects.get(user=person)
    membership.role = "operator"
    membership.save()
    membership.delete()
    actions = [e.action for e in trail(object_type="membership")]
    assert actions == ["member_added", "role_changed", "member_removed"]
    assert trail(action="role_changed")[0].changes == {"role": ["viewer", "operator"]}


def test_organization_of_a_deleted_organization_keeps_its_events(organization, trail):
    pk = organization.pk
    Organization.objects.filter(pk=pk).delete()
    assert AuditEvent.objects.filter(organization_id=pk).count() == 2
