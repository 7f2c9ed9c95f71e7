import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/healthz", "/health"])
def test_liveness(client, path, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get(path)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["X-Request-ID"]


@pytest.mark.parametrize("path", ["/readyz", "/ready"])
def test_readiness_checks_the_database(client, path, settings):
    settings.REDIS_URL = ""
    response = client.get(path)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": {"status": "ok"}}}


def test_readiness_names_a_failing_redis(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["failing"] == ["redis"]
    assert body["checks"]["database"] == {"status": "ok"}
    assert body["checks"]["redis"]["status"] == "fail"


def test_readiness_names_a_failing_database(client, settings, monkeypatch):
    from cloudpam import health

    def broken():
        return {"status": "fail", "error": "OperationalError"}

    monkeypatch.setattr(health, "_check_database", broken)
    settings.REDIS_URL = ""
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["database"]


def test_readiness_checks_real_redis(client, settings, redis_url):
    settings.REDIS_URL = redis_url
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["redis"] == {"status": "ok"}


def test_metrics_is_prometheus_text(client):
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "# TYPE django_http_requests_total_by_view_transport_method_total counter" in text
    assert "django_http_requests_latency_seconds_by_view_method" in text


def test_metrics_can_be_restricted(client, settings):
    settings.METRICS_ALLOWED_IPS = ["10.9.0.0/16"]
    assert client.get("/metrics").status_code == 403
    settings.METRICS_ALLOWED_IPS = ["127.0.0.0/8"]
    settings.METRICS_BEARER_TOKEN = "scrape-me"
    assert client.get("/metrics").status_code == 403
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me")
    assert ok.status_code == 200
