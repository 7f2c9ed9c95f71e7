"""Acceptance: a credential written through the API appears nowhere but encrypted in its row.

Credentials of each provider are written with ``PUT /accounts/{id}/credentials/``, the
accounts are then read through every surface (API reads and actions, the audit API and its
exports, console pages, admin pages), and each secret is searched for in every response,
every log line, every audit event and every row of every table.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client

from apps.audit.models import AuditEvent
from apps.cloud import crypto
from apps.cloud.models import CloudAccount
from apps.tenancy.choices import Role
from tests.cloud.conftest import AWS_SECRET, AZURE_SECRET, GCP_KEY, GCP_PRIVATE_KEY

pytestmark = pytest.mark.django_db

# What must never be seen: each secret whole, and a distinctive piece of each.
SECRETS = [AWS_SECRET, AZURE_SECRET, GCP_PRIVATE_KEY, "MIIEvgIBADANgcp-secret-material"]
SECRETS += [AWS_SECRET[8:24], AZURE_SECRET[-12:], json.dumps(GCP_KEY)]

ACCOUNTS = [
    (
        {
            "name": "aws",
            "provider": "aws",
            "external_id": "111122223333",
            "auth_method": "access_keys",
            "access_key_id": "AKIAIOSFODNN7EXAMPLE",
        },
        {"secret_access_key": AWS_SECRET},
    ),
    (
        {
            "name": "gcp",
            "provider": "gcp",
            "external_id": "acme-network",
            "auth_method": "service_account_key",
        },
        {"service_account_key": GCP_KEY},
    ),
    (
        {
            "name": "azure",
            "provider": "azure",
            "external_id": "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
            "auth_method": "client_secret",
            "tenant_id": "contoso.onmicrosoft.com",
            "client_id": "11111111-2222-3333-4444-555555555555",
        },
        {"client_secret": AZURE_SECRET},
    ),
]


def body_of(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def assert_clean(where: str, text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"a secret leaked into {where}"
    # JSON escapes the newlines of the PEM key; look for its escaped form too.
    assert json.dumps(GCP_PRIVATE_KEY)[1:-1] not in text, f"the GCP key leaked into {where}"


def all_rows_as_text() -> str:
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


def test_a_credential_written_through_the_api_appears_nowhere_in_clear(
    organization, client_for, json_logs, scripted_provider, make_member
):
    api = client_for(organization, Role.ADMIN)
    accounts = []
    responses = []
    for fields, credentials in ACCOUNTS:
        created = api.post("/api/v1/accounts/", fields, format="json")
        assert created.status_code == 201, created.content
        pk = created.json()["id"]
        written = api.put(f"/api/v1/accounts/{pk}/credentials/", credentials, format="json")
        assert written.status_code == 200, written.content
        responses += [created, written]
        accounts.append(pk)

    # The secrets are stored, encrypted: the search below is not vacuous.
    stored = {
        account.name: crypto.decrypt_secrets(account.credentials_encrypted)
        for account in CloudAccount.objects.all()
    }
    assert stored["aws"] == {"secret_access_key": AWS_SECRET}
    assert stored["azure"] == {"client_secret": AZURE_SECRET}
    assert json.loads(stored["gcp"]["service_account_key"])["private_key"] == GCP_PRIVATE_KEY

    # Every API surface, the actions that use the credentials included.
    for pk in accounts:
        responses.append(api.get(f"/api/v1/accounts/{pk}/"))
        responses.append(api.post(f"/api/v1/accounts/{pk}/test/"))
        responses.append(api.post(f"/api/v1/accounts/{pk}/sync/"))
        responses.append(api.patch(f"/api/v1/accounts/{pk}/", {"name": "renamed"}, format="json"))
    responses.append(api.get("/api/v1/accounts/?limit=1000"))
    responses.append(api.get("/api/v1/audit/events/?limit=1000"))
    for event in AuditEvent.objects.filter(organization=organization):
        responses.append(api.get(f"/api/v1/audit/events/{event.pk}/"))
    for file_format in ("csv", "jsonl"):
        responses.append(api.get(f"/api/v1/audit/events/export/?format={file_format}"))

    # Console pages.
    console = Client()
    console.force_login(api.user)
    for pk in accounts:
        for page in ("", "edit/", "credentials/"):
            responses.append(console.get(f"/accounts/{pk}/{page}"))
    responses.append(console.get("/accounts/"))
    responses.append(console.get("/audit/"))

    # Admin pages, as a superuser.
    superuser = make_member(organization, Role.OWNER, email="root@example.com")
    superuser.is_staff = superuser.is_superuser = True
    superuser.save()
    admin = Client()
    admin.force_login(superuser)
    responses.append(admin.get("/admin/cloud/cloudaccount/"))
    for pk in accounts:
        responses.append(admin.get(f"/admin/cloud/cloudaccount/{pk}/change/"))
        responses.append(admin.get(f"/admin/cloud/cloudaccount/{pk}/history/"))

    for response in responses:
        assert response.status_code < 400, (response.request["PATH_INFO"], response.status_code)
        assert_clean(f"{response.request['PATH_INFO']}", body_of(response))
    assert_clean("the log lines", json_logs.getvalue())
    events = list(AuditEvent.objects.values())
    assert any(event["action"] == "credentials_set" for event in events)
    assert_clean("the audit events", repr(events))
    assert_clean("the database", all_rows_as_text())
