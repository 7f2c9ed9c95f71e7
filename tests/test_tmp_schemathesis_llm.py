"""Fuzz every operation of /api/schema/: no 5xx, and every response fits the schema.

New endpoints are covered the day they appear in the schema.
"""

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


schema = schemathesis.pytest.from_fixture("api_schema").include(path_regex="/api/v1/ai/")


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


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_never_answers_5xx_and_matches_schema(case, organization, token_for):
    # Fuzz as the organization's owner with a full-scope token: a generated
    # bearer header would only ever test the 401. Routes a machine credential
    # authenticates (an agent's) get that credential of the organization instead.
    authorization = _machine_credential(case, organization) or (
        f"Bearer {token_for(organization, 'owner')}"
    )
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
