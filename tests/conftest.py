"""Shared fixtures: organizations, users per role, API clients per role."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.tenancy import rls
from apps.tenancy.choices import Role
from apps.tenancy.models import Membership, Organization, User
from tests.browser import browser_page  # noqa: F401 - the Chromium page of the browser tests

ROLES = [role.value for role in Role]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked ``postgres`` unless the database is PostgreSQL."""
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" in engine:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL); runs in .ci/run")
    for item in items:
        if item.get_closest_marker("postgres"):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_tenant_state() -> Iterator[None]:
    """Start every test outside any tenant context, whatever the previous one left."""
    token = rls._state.set(rls.TenantState())
    yield
    rls._state.reset(token)


@pytest.fixture
def settle_chains(db: None) -> Callable[[], None]:
    """Return a function that chains every pending audit event.

    On PostgreSQL events take their place in the chain after their
    transaction commits, and a test's transaction never does: call this
    before reading ``sequence`` or ``hash``, as the after-commit chainer would
    have run by then. On SQLite events are chained inline and it finds nothing.
    """
    from apps.audit.services import audit_chains_settle

    def settle() -> None:
        audit_chains_settle(wait=True)

    return settle


@pytest.fixture
def django_capture_on_commit_callbacks(
    settle_chains: Callable[[], None],
) -> Callable[..., AbstractContextManager[list[Callable[[], None]]]]:
    """pytest-django's fixture, with the audit chains settled on entering.

    What a test wrote before the block stands for earlier, committed
    transactions, whose events were chained (and their log lines written)
    when they committed, not at the block's simulated commit.
    """
    from django.test import TestCase

    @contextmanager
    def capture(**kwargs: Any) -> Iterator[list[Callable[[], None]]]:
        settle_chains()
        with TestCase.captureOnCommitCallbacks(**kwargs) as callbacks:
            yield callbacks

    return capture


@pytest.fixture
def organization(db: None) -> Organization:
    return Organization.objects.create(name="Acme Networks", slug="acme")


@pytest.fixture
def other_organization(db: None) -> Organization:
    return Organization.objects.create(name="Globex", slug="globex")


@pytest.fixture
def make_member(db: None) -> Callable[..., User]:
    """Return a factory of users holding ``role`` in ``organization``."""

    def make(organization: Organization, role: str = Role.OWNER, email: str | None = None) -> User:
        email = email or f"{role}-{organization.slug}@example.com"
        user = User.objects.create_user(email, "correct horse battery staple")
        Membership.objects.create(user=user, organization=organization, role=role)
        return user

    return make


@pytest.fixture
def user(organization: Organization, make_member: Callable[..., User]) -> User:
    """An owner of ``organization``."""
    return make_member(organization, Role.OWNER)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for(make_member: Callable[..., User]) -> Callable[..., APIClient]:
    """Return a factory of session-authenticated API clients for a role."""

    def make(organization: Organization, role: str = Role.OWNER) -> APIClient:
        member = make_member(organization, role)
        client = APIClient()
        client.force_login(member)
        client.user = member
        return client

    return make


@pytest.fixture
def owner_client(organization: Organization, client_for: Callable[..., APIClient]) -> APIClient:
    return client_for(organization, Role.OWNER)


@pytest.fixture
def token_for(db: None) -> Callable[..., str]:
    """Return a factory of API tokens: ``token_for(org, role, scopes=None, user=None)``.

    Creates the member (``<role>-<slug>@example.com``) unless ``user`` is given;
    scopes default to the widest the role allows. The token's ``ApiToken`` row
    is ``token_for.last``.
    """
    from apps.tenancy.roles import ROLE_MAX_SCOPES
    from apps.tenancy.services import api_token_create

    def make(
        organization: Organization,
        role: str = Role.OWNER,
        scopes: list[str] | None = None,
        user: User | None = None,
        **extra: object,
    ) -> str:
        if user is None:
            email = f"{role}-{organization.slug}@example.com"
            user = User.objects.filter(email=email).first() or User.objects.create_user(
                email, "correct horse battery staple"
            )
        membership, _ = Membership.objects.get_or_create(
            user=user, organization=organization, defaults={"role": role}
        )
        token, value = api_token_create(
            membership=membership,
            name=f"{role} test token",
            scopes=scopes if scopes is not None else sorted(ROLE_MAX_SCOPES[Role(membership.role)]),
            actor=user,
            **extra,
        )
        make.last = token
        return value

    return make


@pytest.fixture
def token_client(token_for: Callable[..., str]) -> Callable[..., APIClient]:
    """Return a factory of API clients authenticated by a bearer token (see ``token_for``)."""

    def make(organization: Organization, role: str = Role.OWNER, **kwargs: object) -> APIClient:
        value = token_for(organization, role, **kwargs)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {value}")
        client.token_value = value
        client.token = token_for.last
        client.user = token_for.last.membership.user
        return client

    return make


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Capture log lines as the production JSON formatter writes them."""
    from cloudpam.logging import ContextFilter, JsonFormatter, RedactSecretsFilter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactSecretsFilter())
    names = ["", "django", "cloudpam", "apps", "celery", "django.request", "cloudpam.audit"]
    loggers = [logging.getLogger(name) for name in names]
    for logger in loggers:
        logger.addHandler(handler)
    yield stream
    for logger in loggers:
        logger.removeHandler(handler)


def parse_log_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("needs a real Redis: set REDIS_URL (done by .ci/run)")
    return url


@pytest.fixture
def app_role(db: None) -> str:
    """An ordinary PostgreSQL role with the application's privileges, for this test only."""
    from tests.rls import create_app_role

    return create_app_role()
