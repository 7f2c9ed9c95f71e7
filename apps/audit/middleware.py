"""Bind where a request comes from, for the events it causes."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from apps.audit.context import RequestMeta, request_meta_var
from cloudpam.net import client_ip


class AuditContextMiddleware:
    """Bind the client address and user agent of the request for its audit events.

    It replaces django-auditlog's middleware: the actor and request id come
    from ``cloudpam.context``, and the address honours ``TRUSTED_PROXIES``
    instead of believing any ``X-Forwarded-For``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = RequestMeta(
            ip=client_ip(request), user_agent=request.headers.get("User-Agent", "")[:512]
        )
        token = request_meta_var.set(meta)
        try:
            return self.get_response(request)
        finally:
            request_meta_var.reset(token)
