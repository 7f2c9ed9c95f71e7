"""Liveness, readiness and the guarded metrics endpoint."""

from __future__ import annotations

import hmac
import ipaddress
import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_prometheus.exports import ExportToDjangoView

logger = logging.getLogger("cloudpam.health")


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Answer 200 while the process can serve; no I/O."""
    return JsonResponse({"status": "ok"})


def _check_database() -> dict[str, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        logger.warning("readiness: database check failed: %s", exc.__class__.__name__)
        return {"status": "fail", "error": exc.__class__.__name__}
    return {"status": "ok"}


def _check_redis() -> dict[str, str]:
    import redis

    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2
        )
        client.ping()
    except Exception as exc:
        logger.warning("readiness: redis check failed: %s", exc.__class__.__name__)
        return {"status": "fail", "error": exc.__class__.__name__}
    return {"status": "ok"}


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Answer 200 when the database (and Redis, when configured) answer, else 503."""
    checks = {"database": _check_database()}
    if settings.REDIS_URL:
        checks["redis"] = _check_redis()
    failing = [name for name, check in checks.items() if check["status"] != "ok"]
    body = {"status": "fail" if failing else "ok", "checks": checks}
    if failing:
        body["failing"] = failing
    return JsonResponse(body, status=503 if failing else 200)


def _client_ip_allowed(request: HttpRequest) -> bool:
    allowed = settings.METRICS_ALLOWED_IPS
    if not allowed:
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in allowed)


def _bearer_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_BEARER_TOKEN
    if not token:
        return True
    presented = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return hmac.compare_digest(presented.encode(), token.encode())


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Serve Prometheus text, restricted by METRICS_ALLOWED_IPS and METRICS_BEARER_TOKEN."""
    if not _client_ip_allowed(request) or not _bearer_allowed(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    return ExportToDjangoView(request)
