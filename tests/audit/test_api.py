"""The events API: who may read, what it filters, and that nothing can be written."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from unittest import mock

import pytest
from django.http import StreamingHttpResponse

from apps.audit.choices import AuditAction
from apps.audit.context import Actor, RequestMeta
from apps.audit.services import audit_event_record
from apps.tenancy.choices import Role
from cloudpam import context

pytestmark = pytest.mark.django_db

LIST = "/api/v1/audit/events/"
EXPORT = "/api/v1/audit/events/export/"


def record(organization, *, at, action=AuditAction.UPDATE, actor=None, instance=None, **kwargs):
    """Record an event at a given time."""
    with mock.patch("apps.audit.services.timezone.now", return_value=at):
        return audit_event_record(
            action=action,
            organization_id=organization.pk,
            instance=instance,
            actor=actor or Actor(system="system"),
            **kwargs,
        )


def at(day, hour=12):
    return datetime(2031, 3, day, hour, tzinfo=UTC)


@pytest.fixture
def alice(organization, make_member):
    return make_member(organization, Role.OPERATOR, email="alice@example.com")


@pytest.fixture
def events(organization, other_organization, alice):
    """Five events of acme on 1-5 March 2031, one of globex."""
    user = alice
    alice = Actor(user_id=user.pk, email=user.email)
    token = Actor(user_id=user.pk, email=user.email, token_id=7, token_name="ci-deploy")
    with context.bound(request_id="req-A"):
        first = record(
            organization,
            at=at(1),
            action=AuditAction.CREATE,
            actor=alice,
            instance=organization,
            changes={"name": [None, "Acme Networks"]},
            request_meta=RequestMeta(ip="192.0.2.10", user_agent="curl/8"),
        )
    with context.bound(request_id="req-B"):
        record(
            organization,
            at=at(2),
            actor=token,
            instance=organization,
            changes={"name": ["Acme Networks", "=HYPERLINK(evil)"]},
        )
    record(organization, at=at(3), action=AuditAction.LOGIN, actor=alice, instance=user)
    record(organization, at=at(4), action=AuditAction.RETENTION, details={"removed": 0})
    record(organization, at=at(5), action=AuditAction.LOGIN_FAILED, actor=Actor(email="x@y.z"))
    record(other_organization, at=at(3), action=AuditAction.DELETE)
    return first


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (Role.OWNER, 200),
        (Role.ADMIN, 200),
        (Role.AUDITOR, 200),
        (Role.OPERATOR, 403),
        (Role.VIEWER, 403),
    ],
)
def test_only_auditors_admins_and_owners_read_events(
    organization, client_for, events, role, status
):
    client = client_for(organization, role)
    for url in (LIST, f"{LIST}{events.pk}/", f"{EXPORT}?format=jsonl"):
        response = client.get(url)
        assert response.status_code == status, url
        if status == 403:
            body = response.json()
            assert body["error"]["code"] == "permission_denied"
            assert (
                f"Your role '{role}' does not have the permission 'audit."
                in body["error"]["message"]
            )


def test_anonymous_callers_get_401(api_client):
    response = api_client.get(LIST)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_events_are_scoped_to_the_organization(auditor_client, events, other_organization):
    body = auditor_client.get(LIST).json()
    assert {event["organization"] for event in body["results"]} == {"acme"}
    from apps.audit.models import AuditEvent

    foreign = AuditEvent.objects.get(organization=other_organization, action="delete")
    response = auditor_client.get(f"{LIST}{foreign.pk}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "detail"), [("post", False), ("put", True), ("patch", True), ("delete", True)]
)
def test_events_cannot_be_written(auditor_client, organization, client_for, events, method, detail):
    url = f"{LIST}{events.pk}/" if detail else LIST
    response = getattr(auditor_client, method)(url, {"action": "create"}, format="json")
    assert response.status_code == 405
    body = response.json()
    assert body["error"] == {
        "code": "method_not_allowed",
        "message": "Audit events are append-only: they cannot be created, changed or deleted.",
        "fields": {},
    }
    assert body["request_id"] == response["X-Request-ID"]
    # Whoever asks: no role may write the trail.
    viewer = client_for(organization, Role.VIEWER)
    assert getattr(viewer, method)(url, {}, format="json").status_code == 405


@pytest.mark.parametrize("method", ["TRACE", "QUERY", "PROPFIND"])
def test_unknown_methods_are_405_not_500(auditor_client, events, method):
    for url in (LIST, f"{LIST}{events.pk}/", EXPORT):
        response = auditor_client.generic(method, url)
        assert response.status_code == 405, (method, url)
        assert response.json()["error"]["code"] == "method_not_allowed"


def test_an_event_document(auditor_client, events, organization):
    response = auditor_client.get(f"{LIST}{events.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "id": events.pk,
        "timestamp": "2031-03-01T12:00:00Z",
        "organization": "acme",
        "sequence": events.sequence,
        "actor": {
            "type": "user",
            "id": events.actor_id,
            "email": "alice@example.com",
            "token_id": None,
            "token_name": None,
            "system": None,
            "display": "alice@example.com",
        },
        "action": "create",
        "object_type": "organization",
        "object_id": str(organization.pk),
        "object_repr": "Acme Networks",
        "changes": {"name": [None, "Acme Networks"]},
        "details": {},
        "request_id": "req-A",
        "ip": "192.0.2.10",
        "user_agent": "curl/8",
        "hash": events.hash,
        "prev_hash": events.prev_hash,
    }


def _actions(client, query):
    # The fixtures' own rows (organizations, members, sign-ins) happen now, before 2031.
    if "since=" not in query:
        query += "&since=2031-01-01T00:00:00Z"
    response = client.get(f"{LIST}?{query}")
    assert response.status_code == 200, response.json()
    return [event["action"] for event in response.json()["results"]]


@pytest.mark.parametrize(
    ("query", "actions"),
    [
        ("since=2031-03-02T00:00:00Z&until=2031-03-04T00:00:00Z", ["login", "update"]),
        ("since=2031-03-04T12:00:00Z", ["login_failed", "retention"]),
        ("actor=ALICE@example.com", ["login", "update", "create"]),
        ("actor=ci-deploy", ["update"]),
        ("actor=system", ["retention"]),
        ("actor=x@y.z", ["login_failed"]),
        ("action=login", ["login"]),
        ("object_type=organization", ["update", "create"]),
        ("object_type=organization&object_id={organization.pk}", ["update", "create"]),
        ("object_id=999", []),
        ("request_id=req-B", ["update"]),
        ("q=HYPERLINK", ["update"]),
        ("q=acme networks", ["update", "create"]),
        ("q=req-A", ["create"]),
        ("ordering=timestamp&action=update", ["update"]),
        ("ordering=sequence", ["create", "update", "login", "retention", "login_failed"]),
    ],
)
def test_filters(auditor_client, organization, events, query, actions):
    assert _actions(auditor_client, query.format(organization=organization)) == actions


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("since=yesterday", "since", "Enter a valid date/time."),
        (
            "since=0001-01-01T00:00:00%2B05:00",
            "since",
            "Enter a date/time between the years 1 and 9999.",
        ),
        ("until=", "until", "This filter needs a value; leave it out to not filter."),
        (
            "action=explode",
            "action",
            "Select a valid choice. explode is not one of the available choices.",
        ),
        ("limit=abc", "limit", "limit must be a whole number of at least 1."),
        (
            "offset=-1",
            "offset",
            "offset must be a whole number of at least 0 and at most 1000000000.",
        ),
    ],
)
def test_bad_filters_are_400(auditor_client, events, query, field, message):
    response = auditor_client.get(f"{LIST}?{query}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["fields"] == {field: [message]}


def test_the_list_costs_the_same_queries_for_any_page(
    auditor_client, organization, django_assert_max_num_queries
):
    for day in range(1, 29):
        record(organization, at=at(day))
    with django_assert_max_num_queries(6):
        assert auditor_client.get(f"{LIST}?limit=5").status_code == 200
    with django_assert_max_num_queries(6):
        response = auditor_client.get(f"{LIST}?limit=100&since=2031-01-01T00:00:00Z")
        assert len(response.json()["results"]) == 28


# --- exports -------------------------------------------------------------------


def _body(response):
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode()


def test_csv_export_streams_the_search_oldest_first(auditor_client, events):
    response = auditor_client.get(
        f"{EXPORT}?format=csv&since=2031-03-01T00:00:00Z&until=2031-03-03T00:00:00Z"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-acme-')
    rows = list(csv.DictReader(io.StringIO(_body(response))))
    assert [row["action"] for row in rows] == ["create", "update"]
    assert rows[1]["actor_type"] == "token"
    assert rows[1]["actor"] == "token ci-deploy (alice@example.com)"
    assert rows[1]["request_id"] == "req-B"
    assert json.loads(rows[0]["changes"]) == {"name": [None, "Acme Networks"]}
    assert rows[0]["ip"] == "192.0.2.10"


def test_csv_export_defuses_spreadsheet_formulas(auditor_client, organization, alice):
    record(organization, at=at(9), actor=Actor(user_id=alice.pk, email="=cmd|' /C calc'!A0"))
    rows = list(csv.DictReader(io.StringIO(_body(auditor_client.get(f"{EXPORT}?format=csv")))))
    assert rows[-1]["actor_email"] == "'=cmd|' /C calc'!A0"


def test_jsonl_export_writes_the_api_documents(auditor_client, events):
    response = auditor_client.get(f"{EXPORT}?format=jsonl&action=create&since=2031-01-01T00:00Z")
    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    lines = _body(response).splitlines()
    assert [json.loads(line) for line in lines] == [
        auditor_client.get(f"{LIST}{events.pk}/").json()
    ]


def test_export_without_format_is_csv(auditor_client, events):
    response = auditor_client.get(EXPORT)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert (
        _body(response).splitlines()[0].startswith("id,timestamp,organization,sequence,actor_type")
    )


def test_pdf_export_is_a_summary_of_the_period(auditor_client, events):
    response = auditor_client.get(
        f"{EXPORT}?format=pdf&since=2031-03-01T00:00:00Z&until=2031-04-01T00:00:00Z"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    assert response["Content-Disposition"].endswith('.pdf"')


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("format=xlsx", "format"),
        ("format=pdf&since=2031-03-05T00:00:00Z&until=2031-03-01T00:00:00Z", "since"),
        ("since=never", "since"),
    ],
)
def test_bad_exports_are_400_in_json(auditor_client, events, query, field):
    response = auditor_client.get(f"{EXPORT}?{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"]["code"] == "validation_error"
    assert list(body["error"]["fields"]) == [field]


def test_offsets_postgresql_cannot_store_are_converted_to_utc(auditor_client, events):
    assert _actions(auditor_client, "until=2031-03-02T23:59:00%2B19:53") == ["create"]


@pytest.mark.parametrize(("ordering", "reverse"), [("timestamp", False), ("-timestamp", True)])
def test_tied_orderings_end_on_the_id(auditor_client, organization, ordering, reverse):
    """Tied rows keep one order, so a limit/offset walk sees each exactly once."""
    ids = [record(organization, at=at(9)).pk for _ in range(6)]
    seen = []
    for offset in range(0, 6, 2):
        response = auditor_client.get(
            f"{LIST}?ordering={ordering}&since=2031-03-09T00:00:00Z&limit=2&offset={offset}"
        )
        assert response.status_code == 200
        seen += [event["id"] for event in response.json()["results"]]
    assert seen == sorted(ids, reverse=reverse)
