"""Fuzz every operation of /api/schema/: no 5xx, and every response fits the schema.

New endpoints are covered the day they appear in the schema.
"""

from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.django_db(transaction=False)


@pytest.fixture
def api_schema(db):
    from cloudpam.wsgi import application

    # As Django's test client does: a raw WSGI call would otherwise close the
    # connection that holds the test's transaction.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


schema = schemathesis.pytest.from_fixture("api_schema")


def _machine_credential(case, organization):  # type: ignore[no-untyped-def]
    from django.urls import Resolver404, resolve

    from tests.isolation import MACHINE_CREDENTIALS, World

    try:
        name = resolve(case.formatted_path).view_name
    except Resolver404:
        return None
    if name not in MACHINE_CREDENTIALS:
        return None
    world = World(organization=organization, owner=None, marker="fuzz")  # type: ignore[arg-type]
    return MACHINE_CREDENTIALS[name](world)


@pytest.fixture
def owner_bearer(organization, token_for):  # type: ignore[no-untyped-def]
    """Yield a function giving the owner's full-scope bearer header.

    One token serves every example (making one per example was most of the run,
    and its audit events slowed the listing endpoints); once the fuzzing saved or
    deleted that token (revoked it, narrowed its scopes or limit, removed its
    member), the next example gets a new one.
    """
    from django.db.models.signals import post_delete, post_save

    from apps.tenancy.models import ApiToken, Organization

    made: dict[str, Any] = {}

    def touched(sender, instance, **kwargs):  # type: ignore[no-untyped-def]
        if "token" in made and instance.pk == made["token"].pk:
            made.clear()

    def bearer() -> str:
        if not made:
            # Its own limit is the organization's quota: a token per example was never
            # throttled on its own, whatever per-token limit the fuzzing set.
            quota = Organization.objects.get(pk=organization.pk).effective_quotas
            value = token_for(
                organization, "owner", rate_limit_per_minute=quota["max_api_calls_per_minute"]
            )
            made.update(token=token_for.last, value=value)
        return f"Bearer {made['value']}"

    post_save.connect(touched, sender=ApiToken)
    post_delete.connect(touched, sender=ApiToken)
    yield bearer
    post_save.disconnect(touched, sender=ApiToken)
    post_delete.disconnect(touched, sender=ApiToken)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_never_answers_5xx_and_matches_schema(case, organization, owner_bearer):
    # Fuzz as the organization's owner with a full-scope token: a generated
    # bearer header would only ever test the 401. Routes a machine credential
    # authenticates (an agent's) get that credential of the organization instead.
    authorization = _machine_credential(case, organization) or owner_bearer()
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    case.headers = {**headers, "Authorization": authorization}
    response = case.call()
    case.validate_response(
        response,
        checks=[
            schemathesis.checks.not_a_server_error,
            response_schema_conformance,
            status_code_conformance,
            negative_data_rejection,
        ],
    )
