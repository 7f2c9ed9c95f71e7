"""Bind the active organization of each request, and report API rate limits."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from apps.tenancy.context import bind_membership, session_membership
from apps.tenancy.rls import rls_bypass, tenant_context
from apps.tenancy.throttling import STATE_ATTRIBUTE, rate_limit_headers
from cloudpam import context


class ActiveOrganizationMiddleware:
    """Set ``request.organization``/``request.membership`` and run the request in it.

    The request runs inside ``tenant_context`` of its active organization (row-
    level security on PostgreSQL) and with the organization and actor bound for
    the logs. Bearer-token requests are rebound by the token authentication
    class, since DRF authenticates inside the view. A superuser in the Django
    admin works across organizations: that is the one request-level bypass.
    A streaming response keeps the context while its body is produced.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._admin_prefix: str | None = None

    def _is_admin(self, request: HttpRequest) -> bool:
        if self._admin_prefix is None:
            self._admin_prefix = reverse("admin:index")
        return request.path.startswith(self._admin_prefix)

    @contextmanager
    def _scope(self, request: HttpRequest) -> Iterator[None]:
        user = getattr(request, "user", None)
        authenticated = user is not None and user.is_authenticated
        with ExitStack() as stack:
            stack.enter_context(tenant_context(request.organization))
            if authenticated and user.is_superuser and self._is_admin(request):
                stack.enter_context(rls_bypass())
                request.admin_superuser = True
            stack.enter_context(
                context.bound(
                    # The request's own id, also for a body streamed after the
                    # request-id middleware has returned.
                    request_id=getattr(request, "request_id", None) or context.get_request_id(),
                    organization=request.organization,
                    actor={"user": user} if authenticated else None,
                )
            )
            yield

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        membership = None
        if user is not None and user.is_authenticated:
            membership = session_membership(request, user)
        bind_membership(request, membership)
        with self._scope(request):
            response = self.get_response(request)
        if getattr(response, "streaming", False):
            response.streaming_content = self._stream_in_scope(request, response.streaming_content)
        return response

    def _stream_in_scope(self, request: HttpRequest, content: Iterable[Any]) -> Iterator[Any]:
        with self._scope(request):
            yield from content


class RateLimitHeadersMiddleware:
    """Add ``X-RateLimit-*`` of the tightest limit a throttled API request counted against."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        limits = getattr(request, STATE_ATTRIBUTE, None)
        if limits:
            tightest = min(limits, key=lambda item: (item["remaining"], -item["limit"]))
            for name, value in rate_limit_headers(**tightest).items():
                if name not in response:
                    response[name] = value
        return response
