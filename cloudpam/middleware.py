"""Request id and access-log middleware."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from cloudpam import context

access_logger = logging.getLogger("cloudpam.request")

REQUEST_ID_HEADER = "X-Request-ID"


class RequestIdMiddleware:
    """Bind a request id for the whole request and return it as ``X-Request-ID``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = context.clean_request_id(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        # django-auditlog reads the correlation id from the request header.
        request.META["HTTP_X_REQUEST_ID"] = request_id
        request._started_at = time.monotonic()
        with context.bound(request_id=request_id):
            response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


class AccessLogMiddleware:
    """Log one JSON line per request with status and duration."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        started = getattr(request, "_started_at", None)
        duration_ms = round((time.monotonic() - started) * 1000, 2) if started else None
        user = getattr(request, "user", None)
        organization = getattr(request, "organization", None)
        access_logger.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": duration_ms,
                "org": getattr(organization, "slug", None),
                "user": getattr(user, "email", None) if user and user.is_authenticated else None,
            },
        )
        return response
