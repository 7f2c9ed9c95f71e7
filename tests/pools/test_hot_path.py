"""The API's hot path, ``GET /api/v1/pools/{id}/`` with a token: its statements and round trips.

bench/bench_hot_path.py measures its speed; this pins the work a warm request does: two
SQL statements (the token row with its membership, user and organization; the pool with
its children grouped by prefix length), the rate-limit counters in one cache call, and no
cache read for a token this process verified.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.pools import services
from apps.pools.api.views import _pool_data
from apps.tenancy import throttling
from tests.actors import TEST_ACTOR

pytestmark = pytest.mark.django_db


def detail(pool) -> str:
    return f"/api/v1/pools/{pool.pk}/"


def test_a_warm_pool_detail_request_runs_two_statements_and_one_counter_call(
    organization, make_pool, token_client, monkeypatch
):
    root = make_pool("10.0.0.0/8", name="corp")
    make_pool("10.1.0.0/16", parent=root)
    client = token_client(organization, "viewer", scopes=["read"])
    # The first request verifies the token (Argon2) and records its first use.
    assert client.get(detail(root)).status_code == 200

    counted = []
    original_count = throttling.count_requests
    monkeypatch.setattr(
        throttling,
        "count_requests",
        lambda *args, **kwargs: counted.append(1) or original_count(*args, **kwargs),
    )
    reads = []
    original_get = cache.get
    monkeypatch.setattr(cache, "get", lambda *a, **k: reads.append(a) or original_get(*a, **k))
    with CaptureQueriesContext(connection) as queries:
        response = client.get(detail(root))
    assert response.status_code == 200
    statements = [query["sql"] for query in queries.captured_queries]
    assert len(statements) == 2, statements
    assert "tenancy_apitoken" in statements[0]
    assert "pools_pool" in statements[1]
    assert counted == [1]
    assert reads == []


def test_the_detail_statement_answers_as_the_list_does(organization, make_pool, token_client):
    """Utilization from the one grouped statement equals the list's: deleted children left out."""
    root = make_pool("10.0.0.0/8", name="corp")
    make_pool("10.1.0.0/16", parent=root)
    make_pool("10.2.0.0/16", parent=root)
    make_pool("10.3.0.0/24", parent=root)
    gone = make_pool("10.4.0.0/16", parent=root)
    services.pool_delete(actor=TEST_ACTOR, pool=gone)
    v6 = make_pool("2001:db8::/32", name="v6", tags={"cloud": "gcp"})
    make_pool("2001:db8:1::/48", parent=v6)
    leaf = make_pool("10.9.0.0/24", parent=root)
    client = token_client(organization, "viewer", scopes=["read"])

    for pool in (root, v6, leaf, gone):
        pool.refresh_from_db()
        response = client.get(detail(pool))
        assert response.status_code == 200
        assert response.json() == _pool_data([pool])[0]
    body = client.get(detail(root)).json()
    assert body["children_count"] == 4
    assert body["utilization"]["used"] == str(2 * 65536 + 2 * 256)
    assert client.get(detail(gone)).json()["deleted_at"] is not None


def test_another_organizations_pool_is_not_found(
    organization, other_organization, make_pool, token_client
):
    theirs = make_pool("10.0.0.0/8", organization=other_organization)
    client = token_client(organization, "viewer", scopes=["read"])
    response = client.get(detail(theirs))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
